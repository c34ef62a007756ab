"""Experiment trackers (``logger=...``): MLflow against a real SQLite store and TensorBoard's
event file, each read back; a missing tracker package stops a run before it starts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from medzoo.config import compose
from medzoo.errors import UsageError
from medzoo.trackers import check_trackers, figures
from medzoo.train import run_training

needs_trackers = pytest.mark.skipif(
    importlib.util.find_spec("mlflow") is None or importlib.util.find_spec("tensorboard") is None,
    reason='the trackers extra is not installed (pip install "medzoo[trackers]")',
)


@needs_trackers
def test_mlflow_and_tensorboard_receive_settings_curves_final_figures_and_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, phantom_overrides: list[str]
) -> None:
    import mlflow
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.chdir(tmp_path)  # MLflow keeps a SQLite store's artefacts in ./mlruns
    cfg = compose(
        [*phantom_overrides, "logger=[csv,tensorboard,mlflow]", f"output_dir={tmp_path / 'runs'}"]
    )
    run = run_training(cfg)
    document = json.loads((run.path / "metrics.json").read_text())
    auc = document["groups"]["malignant_vs_rest"]["auc"]

    mlflow.set_tracking_uri(store)
    (found,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert found.info.run_name == run.path.name
    assert found.data.params["task.name"] == "phantom_us"
    assert found.data.params["trainer.max_epochs"] == str(cfg.trainer.max_epochs)
    metrics = found.data.metrics
    assert metrics["test/groups/malignant_vs_rest/auc"] == pytest.approx(auc["value"])
    assert metrics["test/groups/malignant_vs_rest/auc/ci_low"] == pytest.approx(auc["ci95"][0])
    assert "val_auc" in metrics  # the training curve
    artefacts = {a.path for a in mlflow.MlflowClient().list_artifacts(found.info.run_id)}
    assert {"metrics.json", "model_card.md", "checkpoints"} <= artefacts

    event_files = sorted((run.path / "tensorboard").rglob("events.out.tfevents.*"))
    assert event_files
    events = EventAccumulator(str(event_files[0].parent))  # reads every event file there
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert "val_auc" in scalars and "test/groups/malignant_vs_rest/auc" in scalars
    (last,) = events.Scalars("test/groups/malignant_vs_rest/auc")
    assert last.value == pytest.approx(auc["value"], abs=1e-6)


def test_a_missing_tracker_package_is_named_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, phantom_overrides: list[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    cfg = compose([*phantom_overrides, "logger=wandb", f"output_dir={tmp_path}"])
    with pytest.raises(UsageError, match=r'pip install "medzoo\[wandb\]"'):
        check_trackers(cfg)
    with pytest.raises(UsageError, match="wandb"):
        run_training(cfg)
    assert not any(tmp_path.rglob("status.json"))  # no run folder was started


def test_final_figures_are_every_value_with_its_interval() -> None:
    document = {
        "auc": {"value": 0.9, "ci95": [0.8, 0.95]},
        "per_class": {"a": {"recall": {"value": 0.5, "ci95": [float("nan"), 0.7]}}},
        "val": {"auc": {"value": 0.1, "ci95": [0.0, 0.2]}},  # not a test figure
        "n": 10,
    }
    assert figures(document) == {
        "test/auc": 0.9,
        "test/auc/ci_low": 0.8,
        "test/auc/ci_high": 0.95,
        "test/per_class/a/recall": 0.5,
        "test/per_class/a/recall/ci_high": 0.7,
    }
