"""``python -m medzoo.evaluate run=<run dir | checkpoint> [test_shift=...]``: re-evaluate a
finished run.

Rebuilds the data from the run's saved config, checks that the split is the one the run
trained on, predicts with the checkpoint and writes ``<run>/evaluations/<timestamp>/``. The
training run's own files are never touched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from medzoo.commands import UsageError, user_errors
from medzoo.environment import machine_description
from medzoo.heads import head_of, load_module, locate
from medzoo.paths import config_dir
from medzoo.reporting.report import summary
from medzoo.rundir import RunDirectory
from medzoo.tasks.card import card_of

log = logging.getLogger("medzoo.evaluate")


def run_evaluation(
    target: str, test_shift: Sequence[Mapping] | None = None
) -> tuple[RunDirectory, dict]:
    """Re-evaluate a run; returns the new evaluation folder and its metrics document.

    ``test_shift``: albumentations steps applied once to every test image (e.g. a fixed
    re-staining) to measure the run under a simulated change of site; validation, and so
    the threshold, stay as trained.
    """
    run, checkpoint = locate(target)
    cfg = run.read_config()
    card = card_of(cfg)
    head = head_of(card)
    if test_shift:
        if not head.test_shift:
            raise UsageError(f"test_shift is not implemented for {head.name} runs")
        with open_dict(cfg):
            cfg.data.test_shift = list(test_shift)
    datamodule = head.prepare(cfg, card)
    run.check_split(datamodule.manifest)
    module = load_module(checkpoint)
    out = RunDirectory.create(run.path, "evaluations")
    context = {
        "command": f"python -m medzoo.evaluate run={target}",
        "machine": machine_description(),
        "checkpoint": str(checkpoint),
    }
    if test_shift:
        context["test shift"] = "; ".join(str(dict(step)) for step in test_shift)
    with out.attempt():
        document = head.evaluate(out, card, cfg, module, datamodule, context)
    print(
        "\n"
        + summary(card, document, head.figures_table(document))
        + f"\n\nevaluation written to {out.path}"
    )
    original = run.path / "metrics.json"
    if original.is_file() and not test_shift:
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
                "[test_shift=[{_target_: albumentations.X, ...}]]"
            )
        shift = OmegaConf.to_container(cfg.test_shift, resolve=True) if cfg.test_shift else None
        run_evaluation(str(cfg.run), shift)


if __name__ == "__main__":
    main()
