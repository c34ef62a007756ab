"""Beyond one process: Lightning DDP on CPU (gloo) with metrics gathered over ranks, and Hydra
multiruns through the joblib launcher (the SLURM launcher config is checked to compose)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from sklearn.metrics import roc_auc_score

from medzoo.paths import config_dir

TINY = [
    "data.params.n_per_class=30",
    "data.params.size=32",
    "data.image_size=32",
    "data.batch_size=8",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "metrics.n_bootstrap=50",
]


def _train(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("LOCAL_RANK", None)
    return subprocess.run(
        [sys.executable, "-m", "medzoo.train", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=900,
    )


def test_ddp_on_two_cpu_processes_gathers_test_auc_over_ranks(tmp_path: Path) -> None:
    result = _train(
        *TINY,
        "task.head=binary",
        "task.class_names=[benign,malignant]",
        "task.class_groups={}",
        "+data.params.classes=[benign,malignant]",
        "data.params.n_per_class=41",  # an odd test split: the two shares differ in size
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "threads=1",
        f"output_dir={tmp_path / 'out'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    runs = list((tmp_path / "out" / "phantom_us").iterdir())
    assert len(runs) == 1, "rank 1 must not create a run directory of its own"
    run = runs[0]
    gathered = json.loads((run / "distributed.json").read_text())
    assert gathered["world_size"] == 2
    frame = pd.read_csv(run / "predictions.csv")
    test = frame[frame["split"] == "test"]
    assert gathered["test_images_gathered_over_ranks"] == len(test)
    single = roc_auc_score(test["label"] == "malignant", test["prob_malignant"])
    assert gathered["test_auc_gathered_over_ranks"] == pytest.approx(single, abs=1e-6)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["auc"]["value"] == pytest.approx(single, abs=1e-9)


def test_a_joblib_multirun_trains_one_run_per_backbone(tmp_path: Path) -> None:
    result = _train(
        "-m",
        "sweep=backbones",
        "launcher=local",
        *TINY,
        "trainer.max_epochs=1",
        f"output_dir={tmp_path / 'out'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    runs = sorted((tmp_path / "out" / "phantom_us").iterdir())
    backbones = sorted(
        (run / "config.yaml").read_text().split("backbone: ")[1].split()[0] for run in runs
    )
    assert backbones == ["resnet10t", "resnet18", "tf_efficientnet_lite0"]
    assert all((run / "metrics.json").is_file() for run in runs)
    assert (tmp_path / "out" / "multirun").is_dir()
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()


def test_the_slurm_launcher_config_composes() -> None:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=["launcher=slurm", "sweep=backbones"],
            return_hydra_config=True,
        )
    assert "submitit" in cfg.hydra.launcher._target_.lower()
    assert cfg.hydra.launcher.gpus_per_node == 1
    assert cfg.hydra.sweeper.params.model == "resnet10t,resnet18,efficientnet_lite0"
    assert cfg.trainer.accelerator == "auto"
