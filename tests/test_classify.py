"""``task=classify``: a user's own labelled images without borrowing a report task — classes
and head from the manifest, no source-report figures, a model card about the user's data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from medzoo.config import compose
from medzoo.data.manifest import ManifestError
from medzoo.train import run_training

QUICK = [
    "model=resnet10t",
    "data.image_size=32",
    "data.batch_size=8",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "metrics.n_bootstrap=20",
]


def _manifest(folder: Path, labels: list[str], per_label: int = 10) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for k, label in enumerate(labels):
        for i in range(per_label):
            pixels = rng.integers(0, 60, (40, 40, 3)) + 60 * k
            name = f"{k}_{i}.png"
            Image.fromarray(pixels.astype(np.uint8)).save(folder / name)
            rows.append({"image": name, "label": label})
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


def _train(manifest: Path, out: Path, *extra: str):
    return run_training(
        compose(
            [
                "task=classify",
                f"data.params.manifest={manifest}",
                *QUICK,
                f"output_dir={out}",
                *extra,
            ]
        )
    )


@pytest.mark.parametrize(
    ("labels", "head", "classes"),
    [
        (["scar", "healthy"], "binary", ["healthy", "scar"]),
        (["a", "b", "c"], "multiclass", ["a", "b", "c"]),
        (["a", "b", "a;b"], "multilabel", ["a", "b"]),
    ],
)
def test_the_head_and_classes_follow_the_labels(
    tmp_path: Path, labels: list[str], head: str, classes: list[str]
) -> None:
    run = _train(_manifest(tmp_path / "data", labels), tmp_path / "runs")
    metrics = run.read_json("metrics.json")
    assert metrics["head"] == head and metrics["class_names"] == classes
    saved = run.read_config()
    assert saved.task.head == head and list(saved.task.class_names) == classes
    card = (run.path / "model_card.md").read_text()
    assert f"your images: manifest {tmp_path / 'data' / 'manifest.csv'}" in card
    report = (run.path / "report.md").read_text()
    assert "The report's figures beside medzoo's" not in report
    assert "BUSI" not in card + report


def test_the_positive_class_can_be_named(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path / "data", ["abnormal", "normal"])
    run = _train(manifest, tmp_path / "runs", "task.positive=abnormal")
    assert run.read_json("metrics.json")["class_names"] == ["normal", "abnormal"]


def test_one_label_is_refused_before_a_run_folder_exists(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path / "data", ["only"])
    with pytest.raises(ManifestError, match=r"name 1 class\(es\) \['only'\]"):
        _train(manifest, tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
