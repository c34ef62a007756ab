"""``python -m medzoo.train task=<name> [overrides]``: train, evaluate and write a run directory.

``python -m medzoo.train resume=<run dir>`` continues a run that was killed before it finished,
from its ``checkpoints/last.ckpt`` (written at the end of every epoch), with the run's own
saved config. Every epoch reseeds all random generators from (seed, epoch), so the resumed run
ends with the same weights and figures as one that was never interrupted.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import sys
import time
from pathlib import Path

import hydra
import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.model_helpers import is_overridden
from omegaconf import DictConfig, OmegaConf

from medzoo.cli import UsageError, user_errors
from medzoo.data.datamodule import ManifestDataModule
from medzoo.data.segmentation import SegmentationDataModule
from medzoo.detection.training import run_detection_training
from medzoo.paths import config_dir
from medzoo.pipeline import (
    build_datamodule,
    build_module,
    card_of,
    evaluate_into,
    load_module,
    machine_description,
    summary,
)
from medzoo.rundir import RunDirectory
from medzoo.text_pipeline import is_text_task, run_text_training

log = logging.getLogger("medzoo.train")


class InterruptRecorder(L.Callback):
    """Lightning answers Ctrl-C inside ``fit`` with a bare ``sys.exit(1)``, after telling the
    callbacks; this one remembers it, so the run can be recorded as interrupted."""

    interrupted = False

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, err: BaseException):
        self.interrupted = isinstance(err, KeyboardInterrupt)


class EpochSeed(L.Callback):
    """Reseeds Python, NumPy and torch at the start of every training epoch from (seed, epoch):
    an epoch's shuffling, augmentation and dropout then do not depend on how the run reached
    it, which is what makes a resumed run equal an uninterrupted one."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        L.seed_everything(self.seed * 100_003 + trainer.current_epoch, workers=True, verbose=False)


def run_training(cfg: DictConfig, command: str = "") -> RunDirectory:
    """Train the configured task (or, with ``cfg.resume``, finish a killed run) and return its
    run directory."""
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    if cfg.get("resume"):
        return resume_training(cfg.resume, command)
    card = card_of(cfg)
    if is_text_task(cfg):
        return run_text_training(cfg, card, command)
    if card.head == "detection":
        return run_detection_training(cfg, card, command)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = build_datamodule(cfg, card)
    datamodule.setup()  # validates the manifest before anything is written
    if _ddp_worker():
        return _fit_and_evaluate(cfg, RunDirectory.open(os.environ[RUN_ENV]), datamodule, command)
    run = RunDirectory.create(cfg.output_dir, card.name)
    log.info("run directory: %s", run.path)
    with run.attempt():
        run.write_config(cfg)
        datamodule.save_manifest(run.file("manifest.csv"))
        _fit_and_evaluate(cfg, run, datamodule, command, resume_from=None)
    return run


RUN_ENV = "MEDZOO_RUN_DIR"  # the run directory, for the processes Lightning's DDP starts


def _ddp_worker() -> bool:
    """A process that Lightning's DDP launcher started (rank > 0): it reruns this command,
    trains its share and leaves the run directory to rank 0, which created it."""
    return int(os.environ.get("LOCAL_RANK", "0")) > 0 and RUN_ENV in os.environ


def resume_training(path: str | Path, command: str = "") -> RunDirectory:
    """Finish the run in ``path`` from its last checkpoint, with its saved config and split."""
    run = RunDirectory.open(path)
    if run.status()["state"] == "finished" or (run.path / "metrics.json").is_file():
        raise UsageError(f"{run.path} finished (status.json, metrics.json); nothing to resume")
    last = run.checkpoints / "last.ckpt"
    if not last.is_file():
        raise UsageError(
            f"{run.path} has no checkpoints/last.ckpt: it stopped before its first epoch ended. "
            "Start it again with python -m medzoo.train (its config is in config.yaml)"
        )
    cfg = run.read_config()
    card = card_of(cfg)
    if is_text_task(cfg) or card.head == "detection":
        raise UsageError(f"task {card.name!r} trains in one step and cannot be resumed; rerun it")
    datamodule = build_datamodule(cfg, card)
    datamodule.setup()
    run.check_split(datamodule.manifest)
    log.info("resuming %s from %s", run.path, last)
    with run.attempt():
        _fit_and_evaluate(cfg, run, datamodule, command, resume_from=last)
    return run


def _fresh_log_version(run: RunDirectory, resumed: bool) -> str:
    """Logs of a resumed run go beside, never over, those of the attempt before it."""
    if not resumed:
        return ""
    attempt = 1
    while (run.logs / f"resumed-{attempt}").exists():
        attempt += 1
    return f"resumed-{attempt}"


def _fit_and_evaluate(
    cfg: DictConfig,
    run: RunDirectory,
    datamodule: ManifestDataModule | SegmentationDataModule,
    command: str,
    resume_from: Path | None = None,
) -> RunDirectory:
    started = time.perf_counter()
    card = card_of(cfg)
    L.seed_everything(cfg.seed, workers=True)  # the same initial weights whatever ran before
    module = build_module(cfg, card)
    checkpoint = ModelCheckpoint(
        dirpath=run.checkpoints,
        filename="best",
        monitor=module.monitor,
        mode="max",
        save_last=True,
    )
    log_version = _fresh_log_version(run, resumed=resume_from is not None)
    interrupts = InterruptRecorder()
    trainer = L.Trainer(
        **OmegaConf.to_container(cfg.trainer, resolve=True),
        default_root_dir=run.path,
        logger=CSVLogger(run.path, name="logs", version=log_version),
        callbacks=[checkpoint, EpochSeed(cfg.seed), interrupts],
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
        return run
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
    document = evaluate_into(run, card, cfg, best, datamodule, context)
    print("\n" + summary(card, document) + f"\n\nrun directory: {run.path}")
    return run


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
