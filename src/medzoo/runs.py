"""The run envelope: how a config becomes a run folder, the same for every head.

``train(cfg)``: the card and its head → validated data (nothing written yet, so bad input
leaves no trace) → a new run folder → config and manifest recorded → the head trains and
writes its evaluation → the folder is marked finished → the figures are printed. Anything that
stops it after the folder exists marks the folder failed (``RunDirectory.attempt``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from medzoo.data.manifest import ManifestError
from medzoo.data.recipes import manifest_from_config
from medzoo.data.validate import split_labels
from medzoo.environment import provenance
from medzoo.errors import UsageError
from medzoo.heads import head_of
from medzoo.heads.base import RUN_ENV
from medzoo.reporting.report import summary
from medzoo.rundir import RunDirectory
from medzoo.tasks.card import card_of
from medzoo.trackers import check_trackers

log = logging.getLogger("medzoo.train")


def train(cfg: DictConfig, command: str = "") -> RunDirectory:
    """Train the configured task (or, with ``cfg.resume``, finish a killed run) and return its
    run directory."""
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    if cfg.get("resume"):
        return resume(cfg.resume, command)
    cfg = classes_from_manifest(cfg)
    card = card_of(cfg)
    head = head_of(card)
    L.seed_everything(cfg.seed, workers=True)
    check_trackers(cfg)  # a missing tracker package stops the run before it starts
    prepared = head.prepare(cfg, card)  # validates the data before anything is written
    if _ddp_worker():
        run = RunDirectory.open(os.environ[RUN_ENV])
        head.fit(cfg, card, run, prepared, command)
        return run
    run = RunDirectory.create(cfg.output_dir, card.name)
    log.info("run directory: %s", run.path)
    with run.attempt():
        run.write_json("provenance.json", provenance(command))
        run.write_config(cfg)
        prepared.save_manifest(run.file("manifest.csv"))
        document = head.fit(cfg, card, run, prepared, command)
    _report(card, document, run)
    return run


def classes_from_manifest(cfg: DictConfig) -> DictConfig:
    """A task that takes its classes from the data (``task.classes_from_manifest``, e.g.
    ``task=classify``): the manifest's labels, sorted, and the head they imply. The resolved
    config is what the run records, so evaluating it later needs nothing more."""
    if not cfg.task.get("classes_from_manifest"):
        return cfg
    frame, source = manifest_from_config(OmegaConf.to_container(cfg.data, resolve=True))
    labels = frame["label"].fillna("").astype(str).str.strip()
    multilabel = labels.str.contains(";").any()
    names = sorted(
        {name for label in labels for name in split_labels(label)}
        if multilabel
        else set(labels) - {""}
    )
    if len(names) < 2:
        raise ManifestError(
            f"{source}: task {cfg.task.name!r} takes its classes from the labels, and they "
            f"name {len(names)} class(es) {names}; a classifier needs two or more"
        )
    positive = cfg.task.get("positive")
    if positive is not None:
        if positive not in names or len(names) != 2:
            raise UsageError(
                f"task.positive={positive!r} needs two classes, one of them {positive!r}; the "
                f"manifest's are {names}"
            )
        names = [name for name in names if name != positive] + [positive]
    head = "multilabel" if multilabel else "binary" if len(names) == 2 else "multiclass"
    resolved = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    with open_dict(resolved):
        resolved.task.class_names = names
        resolved.task.head = head
        resolved.task.classes_from_manifest = False
        resolved.task.stand_in = f"your images: {source} ({len(frame)} rows)"
    log.info("%s: classes %s from the manifest, %s head", cfg.task.name, names, head)
    return resolved


def _ddp_worker() -> bool:
    """A process that Lightning's DDP launcher started (rank > 0): it reruns this command,
    trains its share and leaves the run directory to rank 0, which created it."""
    return int(os.environ.get("LOCAL_RANK", "0")) > 0 and RUN_ENV in os.environ


def resume(path: str | Path, command: str = "") -> RunDirectory:
    """Finish the run in ``path`` from its last checkpoint, with its saved config and split."""
    run = RunDirectory.open(path)
    if run.status()["state"] == "finished" or (run.path / "metrics.json").is_file():
        raise UsageError(f"{run.path} finished (status.json, metrics.json); nothing to resume")
    last = run.checkpoints / "last.ckpt"
    cfg = run.read_config()
    card = card_of(cfg)
    head = head_of(card)
    if not head.resumable:
        raise UsageError(f"task {card.name!r} trains in one step and cannot be resumed; rerun it")
    if not last.is_file():
        raise UsageError(
            f"{run.path} has no checkpoints/last.ckpt: it stopped before its first epoch ended. "
            "Start it again with python -m medzoo.train (its config is in config.yaml)"
        )
    prepared = head.prepare(cfg, card)
    run.check_split(prepared.manifest)
    log.info("resuming %s from %s", run.path, last)
    with run.attempt():
        document = head.fit(cfg, card, run, prepared, command, resume_from=last)
    _report(card, document, run)
    return run


def _report(card, document: dict, run: RunDirectory) -> None:
    if document:  # empty in a DDP process other than rank 0
        tables = head_of(card).figures_table(document)
        print("\n" + summary(card, document, tables) + f"\n\nrun directory: {run.path}")
