"""What a head is: the one interface behind which everything specific to a kind of output
lives, and the Lightning training every image head shares.

A head turns a task card and a config into validated data (``prepare``), trains and evaluates
inside a run folder that the run envelope (``medzoo.runs``) has already created (``fit``), and
says how its runs are described (``preprocessing``, ``failure_mode``) and used afterwards
(``module_class`` to load a checkpoint, ``explainable``, ``streams``). Nothing outside
``medzoo.heads`` decides by a head's name; it asks the head.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import pandas as pd
from lightning.pytorch.callbacks import EMAWeightAveraging, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.model_helpers import is_overridden
from omegaconf import DictConfig, OmegaConf

from medzoo.environment import machine_description
from medzoo.errors import UsageError
from medzoo.rundir import RunDirectory
from medzoo.tasks.card import TaskCard
from medzoo.trackers import build_trackers, report_to_trackers

log = logging.getLogger("medzoo.train")

RUN_ENV = "MEDZOO_RUN_DIR"  # the run directory, for the processes Lightning's DDP starts


class Head:
    """A kind of output (class probabilities, graded items, masks, boxes, …) and everything
    medzoo does differently for it. Subclasses set ``name`` and fill in what they need."""

    name: ClassVar[str] = ""
    resumable: ClassVar[bool] = True  # trained epoch by epoch: resume=<run> can continue it
    explainable: ClassVar[bool] = False  # Grad-CAM explains its predictions
    # what a video's frames give (medzoo.video.predict): "scores" to integrate over windows,
    # "boxes" to keep with k-of-n persistence; None: not applied to video
    streams: ClassVar[str | None] = None
    clips: ClassVar[str | None] = None  # the same for clips animated from test stills
    failure_mode: ClassVar[str | None] = None  # one line for every model card of this head
    test_shift: ClassVar[bool] = False  # evaluate run=… test_shift=… can alter its test images

    # -- data ----------------------------------------------------------------------------

    def datamodule(self, cfg: DictConfig, card: TaskCard) -> Any:
        raise NotImplementedError(f"head {self.name!r} has no data module")

    def prepare(self, cfg: DictConfig, card: TaskCard) -> Any:
        """Validated, split data, ready to train on; raises on bad input before a run folder
        exists. It has ``manifest`` (every image with its split) and ``save_manifest(path)``."""
        datamodule = self.datamodule(cfg, card)
        datamodule.setup()
        return datamodule

    # -- model ---------------------------------------------------------------------------

    module_class: ClassVar[type | None] = None  # the LightningModule its checkpoints hold
    # For a head whose runs hold no one Lightning checkpoint: what they hold and how to use them.
    without_checkpoint: ClassVar[str] = "its runs hold no Lightning checkpoint"

    def module(self, cfg: DictConfig, card: TaskCard) -> L.LightningModule:
        raise UsageError(
            f"task {card.name!r} ({self.name} head) is not one LightningModule; train it with "
            f"python -m medzoo.train task={card.name}"
        )

    # -- training and evaluation -----------------------------------------------------------

    def fit(
        self,
        cfg: DictConfig,
        card: TaskCard,
        run: RunDirectory,
        prepared: Any,
        command: str,
        resume_from: Path | None = None,
    ) -> dict:
        """Train in ``run`` and write its evaluation; returns the metrics document. The base
        trains ``module`` with Lightning, keeping the best validation checkpoint."""
        return fit_lightning(self, cfg, card, run, prepared, command, resume_from)

    def trained(self, run: RunDirectory, checkpoint: Path | None = None) -> Any:
        """What ``evaluate`` takes as its model: the Lightning module in ``checkpoint`` (else
        the run's best checkpoint)."""
        from medzoo.heads import checkpoint_of, load_module  # the registry imports this module

        return load_module(checkpoint or checkpoint_of(run))

    def evaluate(
        self,
        run: RunDirectory,
        card: TaskCard,
        cfg: DictConfig,
        module: L.LightningModule,
        datamodule: Any,
        context: Mapping[str, str],
    ) -> dict:
        """Predict val and test with ``module`` and write every evaluation file into ``run``."""
        raise NotImplementedError(f"head {self.name!r} cannot evaluate a checkpoint")

    # -- description ---------------------------------------------------------------------

    def figures_table(self, document: Mapping) -> str:
        """Every figure of this head's ``metrics.json``, as markdown tables (report.md, the
        model card, the printed summary)."""
        raise NotImplementedError(f"head {self.name!r} has no figures table")

    def preprocessing(self, card: TaskCard, cfg: DictConfig) -> dict[str, object]:
        """What an input goes through before the model, as the model card records it."""
        return {
            "kind": "letterbox",
            "image_size": int(cfg.data.image_size),
            "channels": int(cfg.data.channels),
            "scale": "uint8 / 255",
            "normalisation": "inside the model (the backbone's mean and std)",
        }


@dataclass(frozen=True)
class PreparedManifest:
    """Validated, split data of a head that trains in one step from the manifest itself."""

    manifest: pd.DataFrame

    def save_manifest(self, path: Path) -> None:
        self.manifest.to_csv(path, index=False)


class EpochSeed(L.Callback):
    """Reseeds Python, NumPy and torch at the start of every training epoch from (seed, epoch):
    an epoch's shuffling, augmentation and dropout then do not depend on how the run reached
    it, which is what makes a resumed run equal an uninterrupted one."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        L.seed_everything(self.seed * 100_003 + trainer.current_epoch, workers=True, verbose=False)


class InterruptRecorder(L.Callback):
    """Lightning answers Ctrl-C inside ``fit`` with a bare ``sys.exit(1)``, after telling the
    callbacks; this one remembers it, so the run can be recorded as interrupted."""

    interrupted = False

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, err: BaseException):
        self.interrupted = isinstance(err, KeyboardInterrupt)


def weight_averaging(cfg: DictConfig) -> list[L.Callback]:
    """``model.ema_decay`` set: an exponential moving average of the weights (and batch-norm
    buffers), updated every step. Validation, so the best checkpoint's choice, runs on the
    average; the checkpoint's ``state_dict`` holds it, so evaluation, prediction and export do
    too. Unset: none."""
    decay = OmegaConf.select(cfg, "model.ema_decay", default=None)
    if decay is None:
        return []
    if not 0.0 < float(decay) < 1.0:
        raise UsageError(f"model.ema_decay={decay}: give a decay in (0, 1), e.g. 0.99, or null")
    return [EMAWeightAveraging(decay=float(decay))]


def _fresh_log_version(run: RunDirectory, resumed: bool) -> str:
    """Logs of a resumed run go beside, never over, those of the attempt before it."""
    if not resumed:
        return ""
    attempt = 1
    while (run.logs / f"resumed-{attempt}").exists():
        attempt += 1
    return f"resumed-{attempt}"


def fit_lightning(
    head: Head,
    cfg: DictConfig,
    card: TaskCard,
    run: RunDirectory,
    datamodule: Any,
    command: str,
    resume_from: Path | None = None,
) -> dict:
    """Train ``head.module`` with Lightning (best checkpoint by its ``monitor``), then evaluate
    the best checkpoint; under DDP only rank 0 evaluates (and returns an empty document)."""
    from medzoo.heads import load_module  # the registry imports this module

    started = time.perf_counter()
    L.seed_everything(cfg.seed, workers=True)  # the same initial weights whatever ran before
    module = head.module(cfg, card)
    checkpoint = ModelCheckpoint(
        dirpath=run.checkpoints,
        filename="best",
        monitor=module.monitor,
        mode="max",
        save_last=True,
    )
    log_version = _fresh_log_version(run, resumed=resume_from is not None)
    interrupts = InterruptRecorder()
    trackers = build_trackers(cfg, run)
    trainer = L.Trainer(
        **OmegaConf.to_container(cfg.trainer, resolve=True),
        default_root_dir=run.path,
        logger=[CSVLogger(run.path, name="logs", version=log_version), *trackers],
        callbacks=[checkpoint, EpochSeed(cfg.seed), interrupts, *weight_averaging(cfg)],
    )
    os.environ[RUN_ENV] = str(run.path.resolve())
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
        gathered = None
        if trainer.world_size > 1 and is_overridden("test_step", module, L.LightningModule):
            gathered = trainer.test(module, datamodule=datamodule, ckpt_path="best", verbose=False)
    except SystemExit:
        if not interrupts.interrupted:
            raise
        # Lightning also left Ctrl-C ignored for the rest of the process; undo that.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        raise KeyboardInterrupt from None
    except FloatingPointError as err:
        kept = sorted(p.name for p in run.checkpoints.glob("*.ckpt"))
        raise UsageError(
            f"{err}. The run stopped; {run.path} keeps the checkpoints written before it "
            f"({', '.join(kept) or 'none: it failed in the first epoch'})"
        ) from err
    finally:
        os.environ.pop(RUN_ENV, None)
    if trainer.global_rank != 0:
        return {}
    if gathered:
        run.write_json(
            "distributed.json",
            {
                "strategy": str(cfg.trainer.get("strategy")),
                "world_size": trainer.world_size,
                "test_auc_gathered_over_ranks": float(gathered[0]["test_auc"]),
                "test_images_gathered_over_ranks": int(gathered[0]["test_images"]),
                "checkpoint": "best",
            },
        )
    best = load_module(checkpoint.best_model_path or run.best_checkpoint())
    context = {
        "command": command or "python -m medzoo.train",
        "machine": machine_description(),
        "training wall time": f"{time.perf_counter() - started:.0f} s"
        + (f" (resumed from {resume_from.name})" if resume_from else ""),
        "checkpoint": f"{run.best_checkpoint().relative_to(run.path)} (best {module.monitor})",
    }
    document = head.evaluate(run, card, cfg, best, datamodule, context)
    report_to_trackers(trackers, cfg, document, run)
    return document


def backbone_settings(cfg: DictConfig) -> dict:
    """The model and input settings every backbone head takes from the config."""
    model = OmegaConf.to_container(cfg.model, resolve=True)
    return {
        "backbone": model["backbone"],
        "in_chans": cfg.data.channels,
        "image_size": cfg.data.image_size,
        "pretrained": model.get("pretrained", False),
        "weights": model.get("weights"),
        "drop_rate": model.get("drop_rate", 0.0),
        "lr": model.get("lr", 1e-3),
        "weight_decay": model.get("weight_decay", 1e-4),
        "label_smoothing": model.get("label_smoothing", 0.0),
        "tta": tuple(model.get("tta") or ()),
    }
