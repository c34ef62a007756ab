"""``python -m medzoo.evaluate run=<run dir | checkpoint>``: re-evaluate a finished run.

Rebuilds the data from the run's saved config, checks that the split is the one the run
trained on, predicts with the checkpoint and writes ``<run>/evaluations/<timestamp>/``. The
training run's own files are never touched.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig

from medzoo.cli import user_errors
from medzoo.data.manifest import ManifestError
from medzoo.paths import config_dir
from medzoo.pipeline import (
    build_datamodule,
    card_of,
    evaluate_into,
    load_module,
    machine_description,
    summary,
)
from medzoo.rundir import RunDirectory

log = logging.getLogger("medzoo.evaluate")


def _locate(target: str) -> tuple[RunDirectory, Path]:
    path = Path(target).expanduser()
    if path.is_file() and path.suffix == ".ckpt":
        return RunDirectory.open(path.parent.parent), path
    run = RunDirectory.open(path)
    return run, run.best_checkpoint()


def _same_split(run: RunDirectory, current: pd.DataFrame) -> None:
    saved = pd.read_csv(run.path / "manifest.csv", dtype=str, keep_default_na=False)
    if (
        saved[["image", "split"]].to_numpy().tolist()
        != current[["image", "split"]].to_numpy().tolist()
    ):
        raise ManifestError(
            f"the data no longer match the split saved in {run.path / 'manifest.csv'} (images "
            "were added, removed or moved): re-evaluation would not be comparable. Restore the "
            "data, or train a new run."
        )


def run_evaluation(target: str) -> tuple[RunDirectory, dict]:
    """Re-evaluate a run; returns the new evaluation folder and its metrics document."""
    run, checkpoint = _locate(target)
    cfg = run.read_config()
    card = card_of(cfg)
    datamodule = build_datamodule(cfg, card)
    datamodule.setup()
    _same_split(run, datamodule.manifest)
    module = load_module(checkpoint)
    out = RunDirectory.create(run.path, "evaluations")
    context = {
        "command": f"python -m medzoo.evaluate run={target}",
        "machine": machine_description(),
        "checkpoint": str(checkpoint),
    }
    document = evaluate_into(out, card, cfg, module, datamodule, context)
    print("\n" + summary(card, document) + f"\n\nevaluation written to {out.path}")
    original = run.path / "metrics.json"
    if original.is_file():
        same = json.loads(original.read_text()) == document
        print(
            "metrics identical to the training run's metrics.json"
            if same
            else f"metrics DIFFER from {original}; compare the two files"
        )
    return out, document


@hydra.main(config_path=str(config_dir()), config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    if not cfg.get("run"):
        raise SystemExit("usage: python -m medzoo.evaluate run=<run directory or .ckpt file>")
    with user_errors():
        run_evaluation(str(cfg.run))


if __name__ == "__main__":
    main()
