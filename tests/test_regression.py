"""Behaviour pinned: the phantom run of every head type, at fixed seeds, gives the recorded
``metrics.json`` and predictions file exactly.

A change to training or evaluation code that moves any figure fails here. When the change is
meant to move figures, record them again and commit the new files with it:

    MEDZOO_RECORD_GOLDEN=1 python -m pytest -q tests/test_regression.py

Floating-point results depend on the CPU's kernels and on the numerical libraries' versions,
so the records hold the machine and the versions they were made with; on another CPU model or
another version of torch, numpy, scipy, scikit-learn, OpenCV or ultralytics the comparison is
skipped (with the reason), not failed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest
import torch

from medzoo.config import compose
from medzoo.environment import cpu_model
from medzoo.train import run_training

GOLDEN = Path(__file__).parent / "golden"
LIBRARIES = ("numpy", "scipy", "scikit-learn", "opencv-python-headless", "ultralytics")
RECORD = os.environ.get("MEDZOO_RECORD_GOLDEN") == "1"

QUIET = ["trainer.enable_progress_bar=false", "metrics.n_bootstrap=50"]
PHANTOM = ["data.params.n_per_class=40", "data.params.size=32", "data.image_size=32"]
RUNS: dict[str, list[str]] = {
    "multiclass": [*PHANTOM, "trainer.max_epochs=2"],
    "binary": [
        *PHANTOM,
        "trainer.max_epochs=2",
        "task.head=binary",
        "task.class_names=[benign,malignant]",
        "task.class_groups={}",
        "+data.params.classes=[benign,malignant]",
    ],
    "multilabel": [*PHANTOM, "trainer.max_epochs=2", "task.head=multilabel", "~task.class_groups"],
    "items": [
        "task=wound_designr",
        "data.params.n_images=60",
        "data.params.n_val=20",
        "data.params.n_test=20",
        "data.params.size=32",
        "data.image_size=32",
        "trainer.max_epochs=2",
    ],
    "segmentation": [
        "task=fundus_vessels",
        "data=vessel_phantom",
        "data.params.n_images=12",
        "data.params.size=64",
        "data.image_size=64",
        "data.crop_size=32",
        "data.crops_per_image=4",
        "trainer.max_epochs=2",
    ],
    "detection": [
        "task=us_detect",
        "data=detection_phantom",
        "model=resnet10t",
        "head.detector.model=yolov8n.yaml",
        "head.detector.frozen_layers=0",
        "head.detector.image_size=64",
        "head.detector.epochs=2",
        "trainer.max_epochs=1",
    ],
    "text": ["task=report_text"],
}
PREDICTIONS = {"detection": "detections.csv"}

NORMAL = "the heart size is normal. the lungs are clear. no effusion. case {i}."
ABNORMAL = "there is cardiomegaly with a left basilar opacity and a small effusion. case {i}."


def _reports(root: Path) -> Path:
    """A small IU-X-ray-shaped report file with overlapping words in both classes."""
    folder = root / "iu_xray_reports"
    folder.mkdir(parents=True)
    header = ["uid", "MeSH", "Problems", "image", "indication", "comparison", "findings"]
    with (folder / "indiana_reports.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*header, "impression"])
        for i in range(60):
            abnormal = i % 2 == 1
            problems = "Cardiomegaly" if abnormal else "normal"
            text = (ABNORMAL if abnormal else NORMAL).format(i=i)
            writer.writerow([str(i), problems, problems, "chest", "", "", text, ""])
    return root


def _portable(value: object) -> object:
    """Absolute paths (cache and temporary folders) differ between runs: keep the file name."""
    return Path(value).name if isinstance(value, str) and value.startswith("/") else value


def normalised(run: Path, head: str) -> dict:
    metrics = json.loads((run / "metrics.json").read_text())
    table = pd.read_csv(
        run / PREDICTIONS.get(head, "predictions.csv"), dtype=str, keep_default_na=False
    )
    table = table.map(_portable)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    return {"metrics": metrics, "predictions": buffer.getvalue().splitlines()}


def machine() -> dict:
    model = cpu_model() or platform.machine()
    # The last digits move with these libraries' releases too: a fresh install on the same CPU
    # moved the text head's probabilities and the detector's thresholds.
    return {"cpu": model, "torch": torch.__version__, **{n: _version(n) for n in LIBRARIES}}


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


@pytest.mark.parametrize("head", list(RUNS))
def test_phantom_runs_equal_their_records(head: str, tmp_path: Path) -> None:
    record_file = GOLDEN / f"{head}.json"
    if not RECORD:
        assert record_file.is_file(), f"no record {record_file}; see this module's docstring"
        recorded = json.loads(record_file.read_text())
        if recorded["machine"] != machine():
            pytest.skip(f"records made on {recorded['machine']}, this is {machine()}")
    overrides = [*RUNS[head], *QUIET, f"output_dir={tmp_path / 'runs'}", "seed=0"]
    if head == "text":
        overrides.append(f"data.root={_reports(tmp_path / 'data')}")
    run = run_training(compose(overrides)).path
    result = normalised(run, head)
    if RECORD:
        GOLDEN.mkdir(exist_ok=True)
        document = {"overrides": RUNS[head], "machine": machine(), **result}
        record_file.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
        return
    assert result["metrics"] == recorded["metrics"]
    assert result["predictions"] == recorded["predictions"]
