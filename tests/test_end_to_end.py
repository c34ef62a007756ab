"""The phantom task through the real Hydra config, shrunk: learning, run directory, evaluate,
load/predict, and the CLI entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import medzoo
from medzoo.commands import UsageError
from medzoo.config import compose
from medzoo.data.manifest import ManifestError
from medzoo.evaluate import run_evaluation
from medzoo.predict import run_prediction
from medzoo.train import run_training

SHRINK = [
    "data.params.n_per_class=120",
    "data.params.size=48",
    "data.image_size=48",
    "data.batch_size=16",
    "trainer.max_epochs=5",
    "trainer.enable_progress_bar=false",
    "metrics.n_bootstrap=200",
]


@pytest.fixture(scope="module")
def phantom_run(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("runs")
    return run_training(compose([*SHRINK, f"output_dir={out}"])), out


def test_phantom_learns(phantom_run) -> None:
    run, _ = phantom_run
    metrics = run.read_json("metrics.json")
    assert metrics["auc_macro_ovr"]["value"] > 0.9
    assert metrics["groups"]["malignant_vs_rest"]["auc"]["value"] > 0.9
    assert metrics["accuracy"]["value"] > 0.6  # chance is 1/3


def test_run_directory_holds_every_artefact(phantom_run) -> None:
    run, _ = phantom_run
    for name in (
        "config.yaml",
        "manifest.csv",
        "metrics.json",
        "predictions.csv",
        "report.md",
        "model_card.md",
        "roc.png",
        "reliability.png",
        "confusion.png",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
        "logs/metrics.csv",
    ):
        assert (run.path / name).is_file(), name
    manifest = pd.read_csv(run.path / "manifest.csv")
    assert manifest.groupby("group")["split"].nunique().max() == 1
    predictions = pd.read_csv(run.path / "predictions.csv")
    assert set(predictions["split"]) == {"val", "test"}
    np.testing.assert_allclose(predictions.filter(like="prob_").sum(axis=1), 1.0, atol=1e-5)
    report = (run.path / "report.md").read_text()
    assert "malignant_vs_rest" in report and "chosen on val" in report


def test_evaluate_reproduces_training_metrics(phantom_run) -> None:
    run, _ = phantom_run
    files_before = {p: p.read_bytes() for p in run.path.iterdir() if p.is_file()}
    evaluation, document = run_evaluation(str(run.path))
    assert document == run.read_json("metrics.json")
    assert evaluation.path.parent == run.path / "evaluations"
    assert (evaluation.path / "report.md").is_file()
    # The training run's own files are untouched.
    assert {p: p.read_bytes() for p in run.path.iterdir() if p.is_file()} == files_before


def test_evaluate_accepts_a_checkpoint_path(phantom_run) -> None:
    run, _ = phantom_run
    _, document = run_evaluation(str(run.path / "checkpoints" / "last.ckpt"))
    assert document["task"] == "phantom_us"
    assert document["n"] == run.read_json("metrics.json")["n"]


def test_load_and_predict_match_the_run(phantom_run) -> None:
    run, _ = phantom_run
    model = medzoo.load(run.path)
    assert model.class_names == list(medzoo.get_card("phantom_us").class_names)
    rows = pd.read_csv(run.path / "predictions.csv").head(8)
    probs = model.predict(rows["image"].tolist())
    np.testing.assert_allclose(probs, rows.filter(like="prob_").to_numpy(), atol=1e-5)
    from_checkpoint = medzoo.load(run.path / "checkpoints" / "best.ckpt")
    np.testing.assert_allclose(from_checkpoint.predict(rows["image"].tolist()), probs, atol=1e-6)
    arrays = [np.asarray(Image.open(path)) for path in rows["image"]]
    np.testing.assert_allclose(model.predict(arrays), probs, atol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        model.predict([arrays[0].astype(np.float32)])
    with pytest.raises(FileNotFoundError, match="not a medzoo run directory"):
        medzoo.load(run.path / "logs")


def test_test_shift_changes_only_the_test_images(phantom_run) -> None:
    run, _ = phantom_run
    darken = [
        {
            "_target_": "albumentations.RandomBrightnessContrast",
            "brightness_limit": [-0.6, -0.6],
            "contrast_limit": [0.0, 0.0],
            "p": 1.0,
        }
    ]
    evaluation, document = run_evaluation(str(run.path), test_shift=darken)
    trained = run.read_json("metrics.json")
    group = "malignant_vs_rest"
    assert document["groups"][group]["threshold"] == trained["groups"][group]["threshold"]
    assert document["auc_macro_ovr"] != trained["auc_macro_ovr"]
    predictions = pd.read_csv(evaluation.path / "predictions.csv")
    original = pd.read_csv(run.path / "predictions.csv")
    val = predictions["split"] == "val"
    np.testing.assert_allclose(  # validation (and so every threshold) is as trained
        predictions[val].filter(like="prob_"), original[val].filter(like="prob_"), atol=1e-6
    )
    assert "test shift" in (evaluation.path / "report.md").read_text()
    again = run_evaluation(str(run.path), test_shift=darken)[1]
    assert again == document  # the shift is fixed, not random


def test_predict_writes_scores_per_image_and_folder(phantom_run, tmp_path: Path) -> None:
    run, _ = phantom_run
    rows = pd.read_csv(run.path / "predictions.csv").head(6)
    for k, image in enumerate(rows["image"]):
        folder = tmp_path / ("site_a" if k < 3 else "site_b")
        folder.mkdir(exist_ok=True)
        (folder / Path(image).name).write_bytes(Path(image).read_bytes())
    before = sorted(p.name for p in tmp_path.rglob("*"))
    out = run_prediction(str(run.path), str(tmp_path))
    assert out.path.parent == run.path / "predictions"
    frame = pd.read_csv(out.path / "predictions.csv")
    assert len(frame) == 6 and frame["image"].str.startswith(("site_a/", "site_b/")).all()
    expected = rows.set_index(rows["image"].map(lambda p: Path(p).name)).filter(like="prob_")
    got = frame.set_index(frame["image"].map(lambda p: Path(p).name))
    np.testing.assert_allclose(got.loc[expected.index, expected.columns], expected, atol=1e-5)
    np.testing.assert_allclose(got["score_malignant_vs_rest"], got["prob_malignant"], atol=1e-9)
    summary = (out.path / "summary.md").read_text()
    assert "| site_a | 3 |" in summary and "| site_b | 3 |" in summary
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # the input is only read
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no images"):
        run_prediction(str(run.path), str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run_prediction(str(run.path), str(tmp_path / "missing"))


def test_a_second_run_never_overwrites_the_first(phantom_run) -> None:
    run, out = phantom_run
    metrics_before = (run.path / "metrics.json").read_bytes()
    second = run_training(compose([*SHRINK, "trainer.max_epochs=1", f"output_dir={out}"]))
    assert second.path != run.path
    assert (run.path / "metrics.json").read_bytes() == metrics_before


def test_binary_head_end_to_end(tmp_path: Path) -> None:
    cfg = compose(
        [
            *SHRINK,
            "task.head=binary",
            "task.class_names=[benign,malignant]",
            "task.class_groups={}",
            "+data.params.classes=[benign,malignant]",
            f"output_dir={tmp_path}",
        ]
    )
    metrics = run_training(cfg).read_json("metrics.json")
    assert metrics["head"] == "binary" and metrics["threshold"]["chosen_on"] == "val"
    assert metrics["auc"]["value"] > 0.9
    assert len(metrics["confusion_matrix"]) == 2


def test_multilabel_head_end_to_end(tmp_path: Path) -> None:
    cfg = compose([*SHRINK, "task.head=multilabel", "~task.class_groups", f"output_dir={tmp_path}"])
    run = run_training(cfg)
    metrics = run.read_json("metrics.json")
    assert metrics["head"] == "multilabel" and set(metrics["per_label"]) == {
        "benign",
        "malignant",
        "normal",
    }
    assert metrics["auc_macro"] > 0.9
    assert len(metrics["per_label"]["malignant"]["confusion_matrix"]) == 2
    assert "malignant" in (run.path / "report.md").read_text()


def test_a_bad_manifest_stops_before_a_run_directory_exists(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("image,label\nmissing.png,benign\n")
    cfg = compose(
        ["data=csv", f"data.params.manifest={tmp_path / 'm.csv'}", f"output_dir={tmp_path / 'out'}"]
    )
    with pytest.raises(ManifestError, match=r"missing\.png"):
        run_training(cfg)
    assert not (tmp_path / "out").exists()


def _cli(module: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_cli_train_and_evaluate(tmp_path: Path) -> None:
    result = _cli(
        "medzoo.train",
        *SHRINK,
        "trainer.max_epochs=1",
        "data.params.n_per_class=40",
        f"output_dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "malignant_vs_rest" in result.stdout
    run_dir = next((tmp_path / "phantom_us").iterdir())
    evaluated = _cli("medzoo.evaluate", f"run={run_dir}")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "metrics identical to the training run's metrics.json" in evaluated.stdout
    assert json.loads((run_dir / "metrics.json").read_text())["task"] == "phantom_us"


def test_cli_evaluate_rejects_a_non_run(tmp_path: Path) -> None:
    result = _cli("medzoo.evaluate", f"run={tmp_path}")
    assert result.returncode != 0
    assert "medzoo: " in result.stderr and "not a medzoo run directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_names_the_missing_dataset_and_the_fix(tmp_path: Path) -> None:
    result = _cli(
        "medzoo.train", "task=breast_us", f"data.root={tmp_path}", f"output_dir={tmp_path / 'out'}"
    )
    assert result.returncode != 0
    assert f"{tmp_path}/busi/labels.csv does not exist" in result.stderr
    assert "MEDZOO_DATA=" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
