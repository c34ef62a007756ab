"""What a finished run offers beyond its figures: the model card (and medzoo.load rebuilding
preprocessing from it), calibration, ONNX / TorchScript export and Grad-CAM explanations."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import medzoo
from medzoo.commands import UsageError
from medzoo.config import compose
from medzoo.data.datamodule import to_tensor
from medzoo.explain import explain
from medzoo.export import export_run, run_exported
from medzoo.reporting.model_card import read_model_card
from medzoo.train import run_training

TINY = [
    "data.params.n_per_class=40",
    "data.params.size=40",
    "data.image_size=40",
    "data.batch_size=16",
    "trainer.max_epochs=3",
    "trainer.enable_progress_bar=false",
    "metrics.n_bootstrap=100",
    "metrics.calibration.temperature=true",
]


@pytest.fixture(scope="module")
def run_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    return run_training(compose([*TINY, f"output_dir={out}"])).path


@pytest.fixture(scope="module")
def test_images(run_path: Path) -> list[str]:
    frame = pd.read_csv(run_path / "predictions.csv")
    return frame[frame["split"] == "test"]["image"].head(6).tolist()


def test_every_run_writes_a_model_card(run_path: Path) -> None:
    text = (run_path / "model_card.md").read_text()
    for heading in (
        "## Intended use",
        "## Data and licence",
        "## Preprocessing",
        "## Test figures (95% CI)",
        "## Calibration",
        "## Known failure modes",
    ):
        assert heading in text
    assert "must not be used on patients" in text and "licence:" in text
    card = read_model_card(run_path)
    assert card["task"] == "phantom_us" and card["intended_use"] == "research"
    assert card["preprocessing"] == {
        "kind": "letterbox",
        "image_size": 40,
        "channels": 1,
        "scale": "uint8 / 255",
        "normalisation": "inside the model (the backbone's mean and std)",
    }
    assert card["class_names"] == ["benign", "malignant", "normal"]


def test_load_takes_preprocessing_from_the_card(run_path: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_path, copy)
    card = copy / "model_card.md"
    card.write_text(card.read_text().replace("image_size: 40", "image_size: 32", 1))
    assert medzoo.load(copy).image_size == 32
    assert medzoo.load(copy / "checkpoints" / "best.ckpt").image_size == 32
    card.write_text(card.read_text().replace("task: phantom_us", "task: breast_us", 1))
    with pytest.raises(ValueError, match="describes task 'breast_us'"):
        medzoo.load(copy)
    card.write_text("no front matter\n")
    with pytest.raises(ValueError, match="no YAML front matter"):
        medzoo.load(copy)


def test_metrics_hold_calibration_and_a_reliability_plot(run_path: Path) -> None:
    metrics = json.loads((run_path / "metrics.json").read_text())
    calibration = metrics["calibration"]
    assert 0 <= calibration["ece"]["value"] <= 1
    assert sum(b["n"] for b in calibration["bins"]) == metrics["n"]
    assert calibration["temperature"]["value"] > 0
    assert calibration["temperature"]["fitted_on"] == "val"
    assert (run_path / "reliability.png").stat().st_size > 1000


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exported_model_equals_pytorch(run_path: Path, test_images: list[str], fmt: str) -> None:
    path, result = export_run(run_path, fmt)
    assert result["passed"] and result["max_abs_difference_vs_pytorch"] <= 1e-4
    model = medzoo.load(run_path)
    exported = run_exported(path, fmt, to_tensor(model.prepare(test_images)))
    np.testing.assert_allclose(exported, model.predict(test_images), atol=1e-4)
    with pytest.raises(FileExistsError, match="written once"):
        export_run(run_path, fmt)


def test_export_refuses_unknown_formats(run_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown format 'tflite'"):
        export_run(run_path, "tflite")


def test_explain_writes_one_overlay_per_image(run_path: Path, test_images: list[str]) -> None:
    folder = Path(test_images[0]).parent
    out = explain(run_path, test_images[0], class_name="malignant")
    table = pd.read_csv(out / "explanations.csv")
    assert table["explained_class"].tolist() == ["malignant"]
    overlay = np.asarray(Image.open(out / table["overlay"][0]))
    assert overlay.shape == (40, 40, 3)
    out_all = explain(run_path, folder)
    table = pd.read_csv(out_all / "explanations.csv")
    assert len(table) == len(list(folder.glob("*.png")))
    probabilities = table.filter(like="prob_").to_numpy()
    np.testing.assert_allclose(
        probabilities, medzoo.load(run_path).predict(table["image"].tolist()), atol=1e-5
    )
    assert (
        table["explained_class"]
        == [["benign", "malignant", "normal"][k] for k in probabilities.argmax(1)]
    ).all()
    with pytest.raises(UsageError, match="unknown class 'cyst'"):
        explain(run_path, test_images[0], class_name="cyst")


def test_grad_cam_highlights_the_lesion(run_path: Path, test_images: list[str]) -> None:
    """The heat map is not uniform noise: its mass is spread unevenly over the image."""
    from medzoo.explain import heat_maps

    model = medzoo.load(run_path)
    maps = heat_maps(model, model.prepare(test_images), None)
    assert maps.shape == (len(test_images), 40, 40)
    assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1 + 1e-6
    assert all(m.std() > 0.01 for m in maps)
    assert torch.is_grad_enabled()
