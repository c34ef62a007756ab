"""A run survives SIGKILL (resume=<run dir> ends exactly where an uninterrupted run ends), a NaN
loss stops the run with its good checkpoints kept, and a crafted checkpoint is refused."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

import medzoo
from medzoo.commands import UsageError
from medzoo.config import compose
from medzoo.heads import load_module
from medzoo.heads.classification.module import ClassificationModule
from medzoo.rundir import RunDirectory, RunStateError
from medzoo.train import run_training

SMALL = [
    "data.params.n_per_class=200",
    "data.params.size=48",
    "data.image_size=48",
    "data.batch_size=8",
    "trainer.max_epochs=4",
    "trainer.enable_progress_bar=false",
    "metrics.n_bootstrap=100",
]


def _wait_for_checkpoint(path: Path, process: subprocess.Popen, timeout: float = 300) -> None:
    """Until ``path`` exists and has stopped growing (a half-written file is not a checkpoint)."""
    deadline, size = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        if path.is_file() and path.stat().st_size == size:
            return
        size = path.stat().st_size if path.is_file() else -1
        time.sleep(0.1)
    raise AssertionError(f"{path} did not appear")


def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    killed_out = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "medzoo.train", *SMALL, f"output_dir={killed_out}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        run_dir = None
        deadline = time.monotonic() + 300
        while run_dir is None and time.monotonic() < deadline:
            found = list(killed_out.glob("phantom_us/*"))
            run_dir = found[0] if found else None
            time.sleep(0.1)
        assert run_dir is not None
        _wait_for_checkpoint(run_dir / "checkpoints" / "last.ckpt", process)
        time.sleep(0.3)  # into the next epoch
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    assert not (run_dir / "metrics.json").exists()
    killed = RunDirectory(run_dir).status()
    assert killed["state"] == "running"  # nothing could record the SIGKILL
    pattern = rf"still running or was killed .*process {process.pid}"
    with pytest.raises(RunStateError, match=pattern):
        medzoo.load(run_dir)

    mixed = subprocess.run(
        [sys.executable, "-m", "medzoo.train", f"resume={run_dir}", "seed=3"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert mixed.returncode != 0 and "pass it alone" in mixed.stderr
    resumed = subprocess.run(
        [sys.executable, "-m", "medzoo.train", f"resume={run_dir}"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (run_dir / "logs" / "resumed-1").is_dir()
    assert RunDirectory(run_dir).status()["state"] == "finished"

    straight = run_training(compose([*SMALL, f"output_dir={tmp_path / 'straight'}"]))
    ours = pd.read_csv(run_dir / "predictions.csv")
    theirs = pd.read_csv(straight.path / "predictions.csv")
    probabilities = [c for c in ours.columns if c.startswith("prob_")]
    assert (ours[probabilities] - theirs[probabilities]).abs().to_numpy().max() < 1e-5
    test_rows = ours["split"] == "test"
    loaded = medzoo.load(run_dir).predict(ours.loc[test_rows, "image"].tolist())
    assert abs(loaded - ours.loc[test_rows, probabilities].to_numpy()).max() < 1e-5
    a, b = (r / "metrics.json" for r in (run_dir, straight.path))
    assert pd.read_json(a, typ="series")["accuracy"] == pd.read_json(b, typ="series")["accuracy"]

    again = subprocess.run(
        [sys.executable, "-m", "medzoo.train", f"resume={run_dir}"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert again.returncode != 0 and "nothing to resume" in again.stderr


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    honest_loss = ClassificationModule._loss

    def poisoned(self, logits, targets):
        loss = honest_loss(self, logits, targets)
        return loss * float("nan") if self.current_epoch == 1 else loss

    monkeypatch.setattr(ClassificationModule, "_loss", poisoned)
    cfg = compose([*SMALL, "data.params.n_per_class=40", f"output_dir={tmp_path}"])
    with pytest.raises(UsageError, match=r"training loss became nan at step \d+.*last\.ckpt"):
        run_training(cfg)
    run_dir = next((tmp_path / "phantom_us").iterdir())
    assert not (run_dir / "metrics.json").exists()
    kept = load_module(run_dir / "checkpoints" / "last.ckpt")
    assert all(torch.isfinite(p).all() for p in kept.parameters())


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_crafted_pickle_is_refused(tmp_path: Path) -> None:
    crafted = tmp_path / "evil.ckpt"
    with crafted.open("wb") as handle:
        pickle.dump({"state_dict": {}, "hyper_parameters": _Payload()}, handle)
    torch.save({"state_dict": {}, "hyper_parameters": _Payload()}, tmp_path / "evil2.ckpt")
    for path in (crafted, tmp_path / "evil2.ckpt"):
        with pytest.raises(UsageError, match=r"refused to load.*weights_only=True"):
            load_module(path)
        with pytest.raises(UsageError, match="refused to load"):
            medzoo.load(path)
