"""``medzoo.load(run_dir_or_checkpoint).predict(images)``: a finished run as a ``Predictor``."""

from __future__ import annotations

from pathlib import Path

from medzoo.heads import checkpoint_of, load_module
from medzoo.predictor import Predictor
from medzoo.reporting.model_card import CARD_FILE, read_model_card
from medzoo.rundir import RunDirectory


def load(path: str | Path) -> Predictor:
    """A ``Predictor`` from a run directory (its best checkpoint) or a ``.ckpt`` file.

    The preprocessing comes from the run's ``model_card.md``; a checkpoint outside a run
    directory falls back on the sizes in its hyperparameters. Checkpoints are read with
    ``weights_only=True``: a file that would run code when unpickled is refused.
    """
    path = Path(path).expanduser()
    if path.is_file():
        checkpoint, run_path = path, path.parent.parent
        if (run_path / "config.yaml").is_file():  # a checkpoint inside a run: that run finished
            RunDirectory(run_path).require_finished()
    else:
        run = RunDirectory.open(path).require_finished()
        checkpoint, run_path = checkpoint_of(run), run.path
    card = read_model_card(run_path)
    module = load_module(checkpoint)
    if card is not None and card.get("task") != module.hparams.task:
        raise ValueError(
            f"{run_path / CARD_FILE} describes task {card.get('task')!r} but {checkpoint} holds "
            f"{module.hparams.task!r}; load the checkpoint from its own run directory"
        )
    return Predictor(module, card["preprocessing"] if card else None)
