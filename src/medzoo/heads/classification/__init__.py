"""Classification heads: binary, multiclass and multi-label class probabilities from one
image backbone (``module.ClassificationModule``), evaluated by ``metrics.protocol``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from medzoo.data.datamodule import ManifestDataModule
from medzoo.data.labels import Coverage, LabelCoding, class_indices, multi_hot
from medzoo.heads.base import Head, backbone_settings
from medzoo.heads.classification.module import ClassificationModule
from medzoo.metrics.aggregation import unit_block
from medzoo.metrics.calibration import calibration_block
from medzoo.metrics.classification import grouped_binary
from medzoo.metrics.plots import plot_confusion, plot_reliability, plot_roc, roc_marks
from medzoo.metrics.protocol import (
    BootstrapSpec,
    DecisionRule,
    Predictions,
    ThresholdRule,
    evaluate_predictions,
)
from medzoo.models.views import predict
from medzoo.reporting.model_card import write_reports
from medzoo.reporting.report import binary_table, multiclass_table, multilabel_table, with_views
from medzoo.rundir import RunDirectory
from medzoo.tasks.card import TaskCard

Curves = dict[str, tuple[np.ndarray, np.ndarray]]


def threshold_rule(cfg: DictConfig) -> ThresholdRule:
    return ThresholdRule(cfg.metrics.threshold.method, cfg.metrics.threshold.value)


def decision_rule(cfg: DictConfig) -> DecisionRule:
    return DecisionRule(cfg.metrics.get("decision", "argmax"))


def bootstrap_spec(cfg: DictConfig) -> BootstrapSpec:
    metrics = cfg.metrics
    return BootstrapSpec(
        metrics.n_bootstrap, metrics.bootstrap_seed, metrics.get("proportion_ci", "bootstrap")
    )


def manifest_datamodule(cfg: DictConfig, card: TaskCard, coding: LabelCoding) -> ManifestDataModule:
    """The data module of every image-level head: a manifest, validated, split, cached."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    return ManifestDataModule(
        recipe=data["recipe"],
        class_names=card.class_names,
        coding=coding,
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
        near_duplicates_across_splits=data.get("near_duplicates_across_splits", "error"),
        test_shift=data.get("test_shift"),
        max_image_pixels=data.get("max_image_pixels"),
        allow_outside_root=data.get("allow_outside_root", False),
    )


def unit_ids(frame: pd.DataFrame) -> np.ndarray:
    """Each row's unit as its recipe gave it (``unit``, kept by near-duplicate linking), else
    its group."""
    return frame["unit" if "unit" in frame.columns else "group"].to_numpy()


@torch.inference_mode()
def predict_split(
    module: ClassificationModule, datamodule: ManifestDataModule, split: str
) -> Predictions:
    module.eval()
    probs, targets = [], []
    for images, target in datamodule.loader(split):
        probs.append(predict(module, images.to(module.device)).cpu())
        targets.append(target)
    return Predictions(y=torch.cat(targets).numpy(), probs=torch.cat(probs).double().numpy())


def predictions_frame(
    card: TaskCard, frames: Mapping[str, pd.DataFrame], preds: Mapping[str, Predictions]
) -> pd.DataFrame:
    parts = []
    for split, frame in frames.items():
        part = frame[["image", "group", "split", "label"]].copy()
        for k, name in enumerate(card.class_names):
            part[f"prob_{name}"] = preds[split].probs[:, k]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def binary_coverage(card: TaskCard) -> Coverage:
    """What a binary head reports: its positive class, and each class group, against the rest."""
    positive = card.class_names[1]
    return Coverage(views={positive: (positive,), **card.class_groups})


class ClassificationHead(Head):
    """Shared by the three classification heads and by every head whose evaluation is one of
    theirs (graded items, report text): val and test probabilities → ``metrics.json``,
    ``predictions.csv``, the reports and the plots."""

    module_class: ClassVar[type] = ClassificationModule
    explainable: ClassVar[bool] = True
    streams: ClassVar[str | None] = "scores"
    clips: ClassVar[str | None] = "scores"
    test_shift: ClassVar[bool] = True

    def label_coding(self, card: TaskCard) -> LabelCoding:
        """How this head reads the manifest's labels, and which figures it reports."""
        return LabelCoding(
            class_indices, coverage=Coverage(views=card.class_groups, per_class=True)
        )

    def datamodule(self, cfg: DictConfig, card: TaskCard) -> ManifestDataModule:
        return manifest_datamodule(cfg, card, self.label_coding(card))

    def module(self, cfg: DictConfig, card: TaskCard) -> ClassificationModule:
        return ClassificationModule(
            head=self.protocol_head(card),
            class_names=list(card.class_names),
            task=card.name,
            **backbone_settings(cfg),
        )

    def evaluate(
        self,
        run: RunDirectory,
        card: TaskCard,
        cfg: DictConfig,
        module: ClassificationModule,
        datamodule: ManifestDataModule,
        context: Mapping[str, str],
    ) -> dict:
        preds = {split: predict_split(module, datamodule, split) for split in ("val", "test")}
        frames = {split: datamodule.split_frame(split) for split in preds}
        return self.write_evaluation(run, card, cfg, frames, preds, context)

    # -- figures --------------------------------------------------------------------------

    def roc_curves(self, card: TaskCard, test: Predictions) -> Curves | None:
        """The test ROC curves to draw: one-vs-rest per class and one per class group."""
        curves = {
            f"{name} vs rest": (test.y == k, test.probs[:, k])
            for k, name in enumerate(card.class_names)
        }
        for group, members in card.class_groups.items():
            if len(members) == 1:  # the same curve as that class's one-vs-rest
                continue
            curves[group] = grouped_binary(test.y, test.probs, card.class_names, members)
        return curves

    protocol: ClassVar[str] = ""  # the metrics.protocol its figures follow (its module's head)

    def protocol_head(self, card: TaskCard) -> str:
        """Which evaluation protocol (``metrics.protocol``) the figures follow."""
        return self.protocol

    def metrics_document(
        self,
        card: TaskCard,
        cfg: DictConfig,
        val: Predictions,
        test: Predictions,
        units: Mapping[str, np.ndarray] | None = None,
        clusters: np.ndarray | None = None,
    ) -> dict:
        """The task's ``metrics.json``: the evaluation protocol with the run's threshold rule
        and bootstrap settings (``cfg.metrics``). ``clusters`` (test image → its group, named
        by ``data.unit``) are what the CIs resample where one holds several test images;
        ``units`` (val and test image → e.g. its slide) feed the unit-level decisions of a
        card that asks for them."""
        rule, boot = threshold_rule(cfg), bootstrap_spec(cfg)
        head = self.protocol_head(card)
        document = {
            "task": card.name,
            **evaluate_predictions(
                head,
                card.class_names,
                val,
                test,
                groups=card.class_groups,
                rule=rule,
                boot=boot,
                units=clusters,
                unit=str(cfg.data.get("unit") or "group"),
                decision=decision_rule(cfg),
            ),
        }
        resampled = clusters if document["bootstrap"]["unit"] != "image" else None
        calibration = cfg.metrics.get("calibration") or {}
        document["calibration"] = calibration_block(
            head,
            val.y,
            val.probs,
            test.y,
            test.probs,
            n_bins=int(calibration.get("bins", 15)),
            temperature=bool(calibration.get("temperature", False)),
            n_boot=boot.n,
            seed=boot.seed,
            clusters=resampled,
        )
        if card.unit_level is not None and units is not None:
            document["unit_level"] = {
                "unit": card.unit_level.unit,
                "views": {
                    view: unit_block(
                        (units["val"], *self.view_scores(card, view, val)),
                        (units["test"], *self.view_scores(card, view, test)),
                        card.unit_level.rules,
                        rule,
                        boot,
                    )
                    for view in card.unit_level.views
                },
            }
        return document

    def view_scores(
        self, card: TaskCard, view: str, preds: Predictions
    ) -> tuple[np.ndarray, np.ndarray]:
        """Image truth and score for one unit-level view: a class group of the card."""
        return grouped_binary(preds.y, preds.probs, card.class_names, card.class_groups[view])

    def write_evaluation(
        self,
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
        # The recipe's units (slides) for unit-level decisions; the groups, which
        # near-duplicate linking may have merged across units, for the CIs (unless the data
        # config says its groups are independent images kept together only for the split).
        units = {split: unit_ids(frame) for split, frame in frames.items()}
        resample = cfg.data.get("resample_groups", True)
        clusters = frames["test"]["group"].to_numpy() if resample else None
        document = self.metrics_document(card, cfg, preds["val"], preds["test"], units, clusters)
        run.write_json("metrics.json", document)
        predictions_frame(card, frames, preds).to_csv(run.file("predictions.csv"), index=False)
        write_reports(run, card, cfg, document, context, self)
        curves = self.roc_curves(card, preds["test"])
        if curves is not None:
            marks = roc_marks(document, list(curves))
            plot_roc(curves, run.file("roc.png"), f"{card.name}: test ROC", marks)
        if "calibration" in document:
            plot_reliability(
                document["calibration"],
                run.file("reliability.png"),
                f"{card.name}: test calibration",
            )
        if "confusion_matrix" in document:  # multi-label: one 2×2 matrix per label
            plot_confusion(
                document["confusion_matrix"],
                card.class_names,
                run.file("confusion.png"),
                f"{card.name}: test confusion",
            )
        return document


class MulticlassHead(ClassificationHead):
    name = "multiclass"
    protocol = "multiclass"

    def figures_table(self, document: Mapping) -> str:
        return with_views(multiclass_table(document), document)


class BinaryHead(ClassificationHead):
    name = "binary"
    protocol = "binary"

    def figures_table(self, document: Mapping) -> str:
        return with_views(binary_table(document), document)

    def label_coding(self, card: TaskCard) -> LabelCoding:
        return LabelCoding(class_indices, coverage=binary_coverage(card))

    def roc_curves(self, card: TaskCard, test: Predictions) -> Curves:
        return {card.class_names[1]: (test.y, test.probs[:, 1])}

    def view_scores(
        self, card: TaskCard, view: str, preds: Predictions
    ) -> tuple[np.ndarray, np.ndarray]:
        """A class group, or the binary positive class itself."""
        if view in card.class_groups:
            return super().view_scores(card, view, preds)
        return np.asarray(preds.y).astype(int), preds.probs[:, 1]


class MultilabelHead(ClassificationHead):
    name = "multilabel"
    protocol = "multilabel"
    clips = None  # a clip gets one decision; several findings per frame have no such rule

    def figures_table(self, document: Mapping) -> str:
        return with_views(multilabel_table(document), document)

    def label_coding(self, card: TaskCard) -> LabelCoding:
        return LabelCoding(multi_hot, token_lists=True, coverage=Coverage(multi_hot=True))

    def roc_curves(self, card: TaskCard, test: Predictions) -> Curves:
        return {name: (test.y[:, k], test.probs[:, k]) for k, name in enumerate(card.class_names)}
