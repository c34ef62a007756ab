"""The items head: one categorical grade per item (e.g. DESIGN-R's depth, exudate, size …)
from one backbone (``module.ItemsModule``), figures per item (``metrics.items``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from omegaconf import DictConfig

from medzoo.data.labels import LabelCoding
from medzoo.data.validate import validate_items
from medzoo.heads.base import backbone_settings
from medzoo.heads.classification import ClassificationHead, bootstrap_spec
from medzoo.heads.items.module import ItemsModule
from medzoo.metrics.bootstrap import resampling
from medzoo.metrics.items import items_document, items_of, parse_grades
from medzoo.metrics.protocol import Predictions, bootstrap_record
from medzoo.reporting.report import items_table
from medzoo.tasks.card import TaskCard


def grade_indices(labels: Sequence[str], class_names: Sequence[str]) -> np.ndarray:
    """One grade index per item and image, (n, items), from labels like 'depth=d1;size=s3'."""
    items = items_of(class_names)
    return np.array([parse_grades(label, items) for label in labels], dtype=np.int64)


class ItemsHead(ClassificationHead):
    name = "items"
    protocol = "items"
    module_class = ItemsModule
    explainable = False
    streams = None
    clips = None
    failure_mode = "Rare grades have few training images; their accuracy is the least reliable."

    def label_coding(self, card: TaskCard) -> LabelCoding:
        return LabelCoding(
            grade_indices, token_lists=True, validate=validate_items, count_by_label=False
        )

    def module(self, cfg: DictConfig, card: TaskCard) -> ItemsModule:
        return ItemsModule(
            head=card.head,
            class_names=list(card.class_names),
            task=card.name,
            **backbone_settings(cfg),
        )

    def figures_table(self, document: Mapping) -> str:
        return items_table(document)

    def roc_curves(self, card: TaskCard, test: Predictions) -> None:
        return None  # graded items have no ROC; per-item matrices are in metrics.json

    def metrics_document(
        self,
        card: TaskCard,
        cfg: DictConfig,
        val: Predictions,
        test: Predictions,
        units: Mapping[str, np.ndarray] | None = None,
        clusters: np.ndarray | None = None,
    ) -> dict:
        boot, n = bootstrap_spec(cfg), len(test.y)
        drawn = resampling(n, clusters)
        unit = str(cfg.data.get("unit") or "group")
        return {
            "task": card.name,
            "split": "test",
            "n": n,
            "head": card.head,
            "class_names": list(card.class_names),
            "bootstrap": bootstrap_record(boot, drawn, unit, n, stratified=False),
            **items_document(
                card.class_names, test.y, test.probs, boot, clusters if drawn.clusters else None
            ),
        }
