"""``python -m medzoo.evaluate run=<run dir | checkpoint> [test_shift=...] [test_site=...]``:
re-evaluate a finished run, on its own test images or on another site's.

Rebuilds the data from the run's saved config, checks that the split is the one the run
trained on, predicts with the checkpoint and writes ``<run>/evaluations/<timestamp>/``. The
training run's own files are never touched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from medzoo.commands import UsageError, user_errors
from medzoo.environment import machine_description
from medzoo.heads import head_of
from medzoo.paths import config_dir
from medzoo.reporting.report import summary
from medzoo.rundir import RunDirectory
from medzoo.tasks.card import card_of

log = logging.getLogger("medzoo.evaluate")


def run_evaluation(
    target: str, test_shift: Sequence[Mapping] | None = None, test_site: str | None = None
) -> tuple[RunDirectory, dict]:
    """Re-evaluate a run; returns the new evaluation folder and its metrics document.

    ``test_shift``: albumentations steps applied once to every test image (e.g. a fixed
    re-staining) to measure the run under a simulated change of site. ``test_site``: another
    site's images as the test set (the data recipe's ``test_site`` parameter, e.g.
    ``cvc_clinicdb`` for a model trained on Kvasir-SEG). Either way training and validation
    images, and so the thresholds, stay exactly as trained.
    """
    path = Path(target).expanduser()
    checkpoint = path if path.is_file() and path.suffix == ".ckpt" else None
    run = RunDirectory.open(path.parent.parent if checkpoint else path).require_finished()
    cfg = run.read_config()
    card = card_of(cfg)
    head = head_of(card)
    if test_shift:
        if not head.test_shift:
            raise UsageError(f"test_shift is not implemented for {head.name} runs")
        with open_dict(cfg):
            cfg.data.test_shift = list(test_shift)
    if test_site:
        params = cfg.data.get("params") or {}
        if "test_site" not in params:
            raise UsageError(
                f"{run.path} trained on data recipe {cfg.data.recipe!r}, which has no other "
                "test site (no data.params.test_site); drop test_site="
            )
        with open_dict(cfg):
            cfg.data.params.test_site = str(test_site)
    datamodule = head.prepare(cfg, card)
    # Another site replaces only the test images: train and val must be the run's own.
    run.check_split(datamodule.manifest, ("train", "val") if test_site else None)
    model = head.trained(run, checkpoint)
    out = RunDirectory.create(run.path, "evaluations")
    command = f"python -m medzoo.evaluate run={target}"
    context = {
        "command": command + (f" test_site={test_site}" if test_site else ""),
        "machine": machine_description(),
        "checkpoint": str(checkpoint or run.checkpoints),
    }
    if test_shift:
        context["test shift"] = "; ".join(str(dict(step)) for step in test_shift)
    if test_site:
        context["test site"] = f"{test_site} (thresholds as chosen on the run's validation set)"
    with out.attempt():
        document = head.evaluate(out, card, cfg, model, datamodule, context)
    print(
        "\n"
        + summary(card, document, head.figures_table(document))
        + f"\n\nevaluation written to {out.path}"
    )
    original = run.path / "metrics.json"
    if original.is_file() and not test_shift and not test_site:
        same = json.loads(original.read_text()) == document
        print(
            "metrics identical to the training run's metrics.json"
            if same
            else f"metrics DIFFER from {original}; compare the two files"
        )
    return out, document


@hydra.main(config_path=str(config_dir()), config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with user_errors():
        if not cfg.get("run"):
            raise UsageError(
                "usage: python -m medzoo.evaluate run=<run directory or .ckpt file> "
                "[test_shift=[{_target_: albumentations.X, ...}]] [test_site=<site>]"
            )
        shift = OmegaConf.to_container(cfg.test_shift, resolve=True) if cfg.test_shift else None
        run_evaluation(str(cfg.run), shift, cfg.get("test_site"))


if __name__ == "__main__":
    main()
