"""The steps ``train`` and ``evaluate`` share: build data and model from config, predict,
and write the evaluation into a run directory."""

from __future__ import annotations

import pickle
import platform
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from medzoo.cli import UsageError
from medzoo.data.datamodule import ManifestDataModule
from medzoo.data.segmentation import SegmentationDataModule
from medzoo.metrics.aggregation import unit_block
from medzoo.metrics.calibration import calibration_block
from medzoo.metrics.classification import grouped_binary
from medzoo.metrics.grading import items_document
from medzoo.metrics.plots import plot_confusion, plot_reliability, plot_roc
from medzoo.metrics.protocol import BootstrapSpec, Predictions, ThresholdRule, evaluate_predictions
from medzoo.metrics.report import figures_table, side_by_side
from medzoo.model_card import write_reports
from medzoo.rundir import RunDirectory
from medzoo.segmentation_pipeline import (
    build_segmentation_datamodule,
    build_segmentation_module,
    evaluate_segmentation_into,
)
from medzoo.tasks.card import TaskCard, card_from_config
from medzoo.tasks.grading import GradingModule
from medzoo.tasks.module import ClassificationModule
from medzoo.tasks.segmentation import SegmentationModule


def card_of(cfg: DictConfig) -> TaskCard:
    return card_from_config(OmegaConf.to_container(cfg.task, resolve=True))


def build_datamodule(
    cfg: DictConfig, card: TaskCard
) -> ManifestDataModule | SegmentationDataModule:
    if card.head == "segmentation":
        return build_segmentation_datamodule(cfg)
    data = OmegaConf.to_container(cfg.data, resolve=True)
    return ManifestDataModule(
        recipe=data["recipe"],
        class_names=card.class_names,
        head=card.head,
        image_size=data["image_size"],
        channels=data["channels"],
        root=data.get("root"),
        params=data.get("params"),
        split=data.get("split"),
        batch_size=data.get("batch_size", 32),
        eval_batch_size=data.get("eval_batch_size"),
        num_workers=data.get("num_workers", 0),
        augment=data.get("augment"),
        near_duplicates=data.get("near_duplicates"),
        test_shift=data.get("test_shift"),
        class_groups=card.class_groups,
        max_image_pixels=data.get("max_image_pixels"),
        allow_outside_root=data.get("allow_outside_root", False),
    )


def build_module(
    cfg: DictConfig, card: TaskCard
) -> ClassificationModule | GradingModule | SegmentationModule:
    if card.head == "segmentation":
        return build_segmentation_module(cfg, card)
    if card.head == "detection":
        raise ValueError(
            f"task {card.name!r} is a detector + verifier pipeline, not one LightningModule; "
            f"train it with python -m medzoo.train task={card.name}"
        )
    if cfg.model.get("kind"):
        raise ValueError(
            f"task {card.name!r} uses the {cfg.model.kind} model, which is not a LightningModule; "
            "train it with python -m medzoo.train"
        )
    kind = GradingModule if card.head == "items" else ClassificationModule
    return kind(
        head=card.head, class_names=list(card.class_names), task=card.name, **backbone_settings(cfg)
    )


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
    }


def load_module(
    checkpoint: str | Path,
) -> ClassificationModule | GradingModule | SegmentationModule:
    """A trained module from its checkpoint, loaded with ``weights_only=True``.

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
    kinds = {"segmentation": SegmentationModule, "items": GradingModule}
    module = kinds.get(hparams.get("head"), ClassificationModule)(**hparams)
    module.load_state_dict(saved["state_dict"])
    return module


@torch.inference_mode()
def predict_split(
    module: ClassificationModule, datamodule: ManifestDataModule, split: str
) -> Predictions:
    module.eval()
    probs, targets = [], []
    for images, target in datamodule.loader(split):
        probs.append(module.probabilities(module(images.to(module.device))).cpu())
        targets.append(target)
    return Predictions(y=torch.cat(targets).numpy(), probs=torch.cat(probs).double().numpy())


def _predictions_frame(
    card: TaskCard, frames: Mapping[str, pd.DataFrame], preds: Mapping[str, Predictions]
) -> pd.DataFrame:
    parts = []
    for split, frame in frames.items():
        part = frame[["image", "group", "split", "label"]].copy()
        for k, name in enumerate(card.class_names):
            part[f"prob_{name}"] = preds[split].probs[:, k]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _roc_curves(card: TaskCard, test: Predictions) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if card.head == "binary":
        return {card.class_names[1]: (test.y, test.probs[:, 1])}
    if card.head == "multilabel":
        return {name: (test.y[:, k], test.probs[:, k]) for k, name in enumerate(card.class_names)}
    curves = {
        f"{name} vs rest": (test.y == k, test.probs[:, k])
        for k, name in enumerate(card.class_names)
    }
    for group, members in card.class_groups.items():
        if len(members) == 1:  # the same curve as that class's one-vs-rest
            continue
        curves[group] = grouped_binary(test.y, test.probs, card.class_names, members)
    return curves


def metrics_document(
    card: TaskCard,
    cfg: DictConfig,
    val: Predictions,
    test: Predictions,
    units: Mapping[str, np.ndarray] | None = None,
) -> dict:
    """The task's ``metrics.json``: the evaluation protocol with the run's threshold rule and
    bootstrap settings (``cfg.metrics``); with ``units`` (val and test image → unit, e.g.
    slide) and a card that asks for it, unit-level decisions too."""
    metrics_cfg = cfg.metrics
    rule = ThresholdRule(metrics_cfg.threshold.method, metrics_cfg.threshold.value)
    boot = BootstrapSpec(
        metrics_cfg.n_bootstrap,
        metrics_cfg.bootstrap_seed,
        metrics_cfg.get("proportion_ci", "bootstrap"),
    )
    if card.head == "items":
        return {
            "task": card.name,
            "split": "test",
            "n": len(test.y),
            "head": card.head,
            "class_names": list(card.class_names),
            "bootstrap": {"n": boot.n, "seed": boot.seed, "stratified_by": None, "level": 0.95},
            **items_document(card.class_names, test.y, test.probs, boot),
        }
    document = {
        "task": card.name,
        **evaluate_predictions(
            card.head, card.class_names, val, test, groups=card.class_groups, rule=rule, boot=boot
        ),
    }
    calibration = metrics_cfg.get("calibration") or {}
    document["calibration"] = calibration_block(
        card.head,
        val.y,
        val.probs,
        test.y,
        test.probs,
        n_bins=int(calibration.get("bins", 15)),
        temperature=bool(calibration.get("temperature", False)),
        n_boot=boot.n,
        seed=boot.seed,
    )
    if card.unit_level is not None and units is not None:
        document["unit_level"] = {
            "unit": card.unit_level.unit,
            "views": {
                view: unit_block(
                    (units["val"], *_view_scores(card, view, val)),
                    (units["test"], *_view_scores(card, view, test)),
                    card.unit_level.rules,
                    rule,
                    boot,
                )
                for view in card.unit_level.views
            },
        }
    return document


def _view_scores(card: TaskCard, view: str, preds: Predictions) -> tuple[np.ndarray, np.ndarray]:
    """Image truth and score for one unit-level view: a class group, or the binary positive."""
    if view in card.class_groups:
        return grouped_binary(preds.y, preds.probs, card.class_names, card.class_groups[view])
    return np.asarray(preds.y).astype(int), preds.probs[:, 1]


def evaluate_into(
    run: RunDirectory,
    card: TaskCard,
    cfg: DictConfig,
    module: ClassificationModule,
    datamodule: ManifestDataModule,
    context: Mapping[str, str],
) -> dict:
    """Predict val and test, compute the metrics document and write every evaluation file."""
    if card.head == "segmentation":
        return evaluate_segmentation_into(run, card, cfg, module, datamodule, context)
    preds = {split: predict_split(module, datamodule, split) for split in ("val", "test")}
    frames = {split: datamodule.split_frame(split) for split in preds}
    return write_evaluation(run, card, cfg, frames, preds, context)


def write_evaluation(
    run: RunDirectory,
    card: TaskCard,
    cfg: DictConfig,
    frames: Mapping[str, pd.DataFrame],
    preds: Mapping[str, Predictions],
    context: Mapping[str, str],
) -> dict:
    """From val and test predictions of any classification model (images or text): write
    metrics.json, predictions.csv, report.md, model_card.md, roc.png, reliability.png and
    confusion.png."""
    units = {split: frame["group"].to_numpy() for split, frame in frames.items()}
    document = metrics_document(card, cfg, preds["val"], preds["test"], units)
    run.write_json("metrics.json", document)
    _predictions_frame(card, frames, preds).to_csv(run.file("predictions.csv"), index=False)
    write_reports(run, card, cfg, document, context)
    if card.head != "items":  # graded items have no ROC; per-item matrices are in metrics.json
        plot_roc(_roc_curves(card, preds["test"]), run.file("roc.png"), f"{card.name}: test ROC")
    if "calibration" in document:
        plot_reliability(
            document["calibration"], run.file("reliability.png"), f"{card.name}: test calibration"
        )
    if "confusion_matrix" in document:  # multi-label: one 2×2 matrix per label, in metrics.json
        plot_confusion(
            document["confusion_matrix"],
            card.class_names,
            run.file("confusion.png"),
            f"{card.name}: test confusion",
        )
    return document


def summary(card: TaskCard, document: Mapping) -> str:
    """What the CLI prints at the end: the side-by-side table, then every figure."""
    parts = [f"{card.name} — test split, n={document['n']}"]
    if card.reference:
        parts += ["", side_by_side(card, document)]
    parts += ["", figures_table(document)]
    return "\n".join(parts)


def machine_description() -> str:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    return (
        f"{platform.machine()}, {torch.get_num_threads()} torch threads, {device}, "
        f"torch {torch.__version__}"
    )
