"""The head registry: the one place that maps a card's ``head`` to what medzoo does for it.

Each head is a folder here holding its data module, LightningModule, evaluation and what its
model cards say (``base.Head`` is the interface); adding a head is one new folder and one line
in ``HEADS``. Everything else asks ``head_of(card)`` instead of testing the head's name.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig

from medzoo.errors import UsageError
from medzoo.heads.base import Head
from medzoo.heads.classification import BinaryHead, MulticlassHead, MultilabelHead
from medzoo.heads.detection import DetectionHead
from medzoo.heads.items import ItemsHead
from medzoo.heads.ordinal import OrdinalHead
from medzoo.heads.segmentation import SegmentationHead
from medzoo.heads.text import TextHead
from medzoo.rundir import RunDirectory
from medzoo.tasks.card import TaskCard

HEADS: dict[str, Head] = {
    head.name: head
    for head in (
        BinaryHead(),
        MulticlassHead(),
        MultilabelHead(),
        OrdinalHead(),
        ItemsHead(),
        SegmentationHead(),
        DetectionHead(),
        TextHead(),
    )
}


def head_of(card: TaskCard | str) -> Head:
    """The head of a card (or a head's name); an unknown name is a clear error."""
    name = card if isinstance(card, str) else card.head
    if name not in HEADS:
        raise UsageError(f"unknown head {name!r}; registered heads: {', '.join(HEADS)}")
    return HEADS[name]


def build_datamodule(cfg: DictConfig, card: TaskCard):
    """The data module of ``card``'s head (not yet set up)."""
    return head_of(card).datamodule(cfg, card)


def build_module(cfg: DictConfig, card: TaskCard) -> L.LightningModule:
    """A fresh LightningModule for ``card``'s head, as ``cfg`` configures it."""
    return head_of(card).module(cfg, card)


def load_module(checkpoint: str | Path) -> L.LightningModule:
    """A trained module from its checkpoint, loaded with ``weights_only=True``; the head
    recorded in its hyperparameters says which module class it is.

    Pretrained-weight sources are not consulted: the checkpoint already holds every weight.
    """
    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UsageError(
            f"refused to load {checkpoint}: it holds objects beyond tensors and plain values, "
            "which could run code when unpickled. medzoo loads only checkpoints it wrote "
            f"(weights_only=True). ({err})"
        ) from err
    hparams = {**saved["hyper_parameters"], "pretrained": False, "weights": None}
    module_class = head_of(hparams.get("head", "")).module_class
    if module_class is None:
        raise UsageError(f"{checkpoint}: a {hparams['head']} run has no checkpoint to load")
    module = module_class(**hparams)
    module.load_state_dict(saved["state_dict"])
    return module


def checkpoint_of(run: RunDirectory) -> Path:
    """The best Lightning checkpoint of ``run``; a run of a head that writes none (text,
    detection) is refused with what it holds instead."""
    head = HEADS.get(str(run.read_config().task.get("head")))
    if head is not None and head.module_class is None:
        raise FileNotFoundError(f"{run.path} is a {head.name} run: {head.without_checkpoint}")
    return run.best_checkpoint()


def locate(target: str | Path) -> tuple[RunDirectory, Path]:
    """The finished run and the checkpoint that ``target`` (a run folder or a ``.ckpt`` in
    one) names; a run that did not finish is refused (``RunDirectory.require_finished``)."""
    path = Path(target).expanduser()
    if path.is_file() and path.suffix == ".ckpt":
        return RunDirectory.open(path.parent.parent).require_finished(), path
    run = RunDirectory.open(path).require_finished()
    return run, checkpoint_of(run)


__all__ = [
    "HEADS",
    "Head",
    "build_datamodule",
    "build_module",
    "checkpoint_of",
    "head_of",
    "load_module",
    "locate",
]
