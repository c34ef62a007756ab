"""``python -m medzoo.train task=<name> [overrides]``: train, evaluate and write a run directory.

``python -m medzoo.train resume=<run dir>`` continues a run that was killed before it finished,
from its ``checkpoints/last.ckpt`` (written at the end of every epoch), with the run's own
saved config. Every epoch reseeds all random generators from (seed, epoch), so the resumed run
ends with the same weights and figures as one that was never interrupted. The steps every run
goes through are in ``medzoo.runs``; what differs by head, in ``medzoo.heads``.
"""

from __future__ import annotations

import shlex
import sys

import hydra
from omegaconf import DictConfig

from medzoo.commands import UsageError, user_errors
from medzoo.paths import config_dir
from medzoo.rundir import RunDirectory
from medzoo.runs import train


def run_training(cfg: DictConfig, command: str = "") -> RunDirectory:
    """Train the configured task (or, with ``cfg.resume``, finish a killed run) and return its
    run directory."""
    return train(cfg, command)


@hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    arguments = sys.argv[1:]
    command = "python -m medzoo.train " + " ".join(shlex.quote(a) for a in arguments)
    with user_errors():
        if cfg.get("resume") and len([a for a in arguments if not a.startswith("hydra")]) > 1:
            raise UsageError(
                "resume=<run dir> continues a run with its own saved config; pass it alone"
            )
        run_training(cfg, command.strip())


if __name__ == "__main__":
    main()
