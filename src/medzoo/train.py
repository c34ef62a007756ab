"""``python -m medzoo.train task=<name> [overrides]``: train, evaluate and write a run directory."""

from __future__ import annotations

import logging
import shlex
import sys
import time

import hydra
import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from omegaconf import DictConfig, OmegaConf

from medzoo.cli import user_errors
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


def run_training(cfg: DictConfig, command: str = "") -> RunDirectory:
    """Train the configured task and return its run directory."""
    started = time.perf_counter()
    card = card_of(cfg)
    if is_text_task(cfg):
        return run_text_training(cfg, card, command)
    if card.head == "detection":
        return run_detection_training(cfg, card, command)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = build_datamodule(cfg, card)
    datamodule.setup()  # validates the manifest before anything is written
    run = RunDirectory.create(cfg.output_dir, card.name)
    log.info("run directory: %s", run.path)
    run.write_config(cfg)
    datamodule.save_manifest(run.file("manifest.csv"))
    module = build_module(cfg, card)
    checkpoint = ModelCheckpoint(
        dirpath=run.checkpoints,
        filename="best",
        monitor=module.monitor,
        mode="max",
        save_last=True,
    )
    trainer = L.Trainer(
        **OmegaConf.to_container(cfg.trainer, resolve=True),
        default_root_dir=run.path,
        logger=CSVLogger(run.path, name="logs", version=""),
        callbacks=[checkpoint],
    )
    trainer.fit(module, datamodule=datamodule)
    best = load_module(checkpoint.best_model_path or run.best_checkpoint())
    context = {
        "command": command or "python -m medzoo.train",
        "machine": machine_description(),
        "training wall time": f"{time.perf_counter() - started:.0f} s",
        "checkpoint": f"{run.best_checkpoint().relative_to(run.path)} (best {module.monitor})",
    }
    document = evaluate_into(run, card, cfg, best, datamodule, context)
    print("\n" + summary(card, document) + f"\n\nrun directory: {run.path}")
    return run


@hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    command = "python -m medzoo.train " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with user_errors():
        run_training(cfg, command.strip())


if __name__ == "__main__":
    main()
