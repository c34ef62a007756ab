"""What a finished run offers beyond its figures: the model card (and medzoo.load rebuilding
preprocessing from it), calibration, ONNX / TorchScript export and Grad-CAM explanations."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
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
    from medzoo.metrics.calibration import expected_calibration_error, scaled

    metrics = json.loads((run_path / "metrics.json").read_text())
    calibration = metrics["calibration"]
    frame = pd.read_csv(run_path / "predictions.csv")
    names = metrics["class_names"]
    probs = {
        s: frame.loc[frame["split"] == s, [f"prob_{n}" for n in names]].to_numpy()
        for s in ("val", "test")
    }
    truth = {
        s: frame.loc[frame["split"] == s, "label"].map(names.index).to_numpy()
        for s in ("val", "test")
    }
    # The test ECE is that of the run's own test predictions...
    test_correct = probs["test"].argmax(1) == truth["test"]
    assert calibration["ece"]["value"] == pytest.approx(
        expected_calibration_error(probs["test"].max(1), test_correct, 15)
    )
    assert sum(b["n"] for b in calibration["bins"]) == metrics["n"]

    # ...and the temperature is the one that fits validation best: no nearby T does better.
    def val_nll(t: float) -> float:
        p = scaled("multiclass", probs["val"], t)
        return float(-np.log(p[np.arange(len(p)), truth["val"]] + 1e-12).mean())

    fitted = calibration["temperature"]["value"]
    assert val_nll(fitted) <= min(val_nll(fitted * 0.8), val_nll(fitted * 1.25), val_nll(1.0))
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


def test_onnx_backend_predicts_what_pytorch_predicts(
    run_path: Path, test_images: list[str], tmp_path: Path
) -> None:
    from medzoo.predict import run_prediction

    copy = tmp_path / "run"
    shutil.copytree(run_path, copy, ignore=shutil.ignore_patterns("export", "predictions"))
    folder = str(Path(test_images[0]).parent)
    with pytest.raises(UsageError, match="has no ONNX export: write one with"):
        run_prediction(str(copy), folder, backend="onnx")
    with pytest.raises(UsageError, match="unknown backend 'tflite'"):
        run_prediction(str(copy), folder, backend="tflite")
    export_run(copy, "onnx")
    tables = {
        backend: pd.read_csv(run_prediction(str(copy), folder, backend).path / "predictions.csv")
        for backend in ("torch", "onnx")
    }
    assert tables["onnx"]["image"].tolist() == tables["torch"]["image"].tolist()
    scores = [c for c in tables["torch"].columns if c != "image"]
    np.testing.assert_allclose(tables["onnx"][scores], tables["torch"][scores], atol=1e-4)


def test_export_refuses_unknown_formats(run_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown format 'tflite'"):
        export_run(run_path, "tflite")


def test_explain_writes_one_overlay_per_image(run_path: Path, test_images: list[str]) -> None:
    folder = Path(test_images[0]).parent
    out = explain(run_path, test_images[0], class_name="malignant")
    table = pd.read_csv(out / "explanations.csv")
    assert table["explained_class"].tolist() == ["malignant"]
    figure = np.asarray(Image.open(out / table["overlay"][0]))
    original = np.asarray(Image.open(test_images[0]).convert("RGB"))
    # the image itself on the left, enlarged to a readable height, under a title bar
    from medzoo.explain import MIN_HEIGHT

    scale = MIN_HEIGHT / original.shape[0]
    width = round(original.shape[1] * scale)
    assert figure.shape[0] - 30 == MIN_HEIGHT and figure.shape[1] == 2 * width + 8
    left = figure[30:, :width].astype(int)
    enlarged = cv2.resize(original, (width, MIN_HEIGHT), interpolation=cv2.INTER_LINEAR)
    assert np.abs(left - enlarged).max() <= 1
    assert (figure[30:, width + 8 :] != figure[30:, :width]).any()  # the heat map is drawn over it
    out_all = explain(run_path, folder)
    table = pd.read_csv(out_all / "explanations.csv")
    assert len(table) == len(list(folder.glob("*.png")))
    probabilities = table.filter(like="prob_").to_numpy()
    np.testing.assert_allclose(
        probabilities, medzoo.load(run_path).predict(table["image"].tolist()), atol=1e-5
    )
    assert (
        table["explained_class"]
        == [medzoo.load(run_path).class_names[k] for k in probabilities.argmax(1)]
    ).all()
    with pytest.raises(UsageError, match="unknown class 'cyst'"):
        explain(run_path, test_images[0], class_name="cyst")


def test_export_and_explain_commands_read_their_arguments(
    run_path: Path, test_images: list[str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from medzoo import explain as explain_command
    from medzoo import export as export_command

    # An export is written once: a copy of the run without the other tests' exports.
    run_path = Path(
        shutil.copytree(run_path, tmp_path / "run", ignore=shutil.ignore_patterns("export"))
    )
    export_command.main([f"run={run_path}", "format=torchscript"])
    written = capsys.readouterr().out
    assert "written: " in written and "max |difference|" in written
    exported = Path(written.split("written: ")[1].splitlines()[0])
    assert exported.is_file() and exported.suffix == ".pt"
    explain_command.main([f"run={run_path}", f"input={test_images[0]}", "class=benign"])
    folder = Path(capsys.readouterr().out.split(": ", 1)[1].strip())
    assert pd.read_csv(folder / "explanations.csv")["explained_class"].tolist() == ["benign"]
    for command, argv, message in [
        (export_command, [], "missing run="),
        (export_command, [f"run={run_path}", "fmt=onnx"], "cannot read argument 'fmt=onnx'"),
        (export_command, [f"run={run_path}", "format=tflite"], "unknown format 'tflite'"),
        (explain_command, [f"run={run_path}"], "missing input="),
        (explain_command, [f"run={run_path}", "input"], "cannot read argument 'input'"),
    ]:
        with pytest.raises(SystemExit, match=message) as stop:
            command.main(argv)
        assert str(stop.value).startswith("medzoo: ")


def test_grad_cam_highlights_the_lesion(run_path: Path) -> None:
    """Freshly drawn phantoms with a known lesion: more of the heat map's mass lies on the
    lesion and the column below it (its posterior shadow or enhancement, which tells the
    phantom's classes apart) than that region's share of the image. At 40 px the backbone's
    last stage is 2 × 2, so this is a coarse check of where the map points, not of its edges."""
    from medzoo.data.phantom_drawing import breast_ultrasound_scene
    from medzoo.explain import heat_maps

    model = medzoo.load(run_path)
    rng = np.random.default_rng(7)
    scenes = [breast_ultrasound_scene(rng, 40, label) for label in ["malignant", "benign"] * 12]
    maps = heat_maps(model, model.prepare([image for image, _ in scenes]), None)
    assert maps.shape == (len(scenes), 40, 40)
    assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1 + 1e-6
    inside, share = [], []
    for heat, (_, lesion) in zip(maps, scenes, strict=True):
        rows, cols = np.flatnonzero(lesion.any(axis=1)), np.flatnonzero(lesion.any(axis=0))
        region = np.zeros_like(lesion)
        region[rows[0] :, cols[0] : cols[-1] + 1] = True
        inside.append(heat[region].sum() / max(heat.sum(), 1e-9))
        share.append(region.mean())
    assert np.mean(inside) > 1.1 * np.mean(share)
    assert torch.is_grad_enabled()
