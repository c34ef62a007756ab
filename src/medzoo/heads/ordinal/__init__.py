"""The ordinal head: ordered grades (e.g. ulcerative-colitis severity, with intermediate
grades) from one rank-consistent model (``module.OrdinalModule``). Its figures are a
multiclass head's (accuracy, per-grade recall and AUC, class groups such as "moderate or
severe" with AUC, sensitivity and specificity) plus those that respect the order
(``metrics.ordinal``: quadratic-weighted kappa, mean absolute grade error, accuracy on the main
grades), on test and on validation, where the formulation is chosen: ``head.formulation``
is ``cumulative`` (the ordinal model) or ``multiclass`` (plain softmax classes, same figures)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from omegaconf import DictConfig

from medzoo.errors import UsageError
from medzoo.heads.base import backbone_settings
from medzoo.heads.classification import MulticlassHead, bootstrap_spec
from medzoo.heads.classification.module import ClassificationModule
from medzoo.heads.ordinal.module import OrdinalModule
from medzoo.metrics.ordinal import ordinal_block
from medzoo.metrics.protocol import Predictions
from medzoo.reporting.report import multiclass_table, ordinal_table, with_views
from medzoo.tasks.card import TaskCard


def grade_values(card: TaskCard) -> list[float]:
    """Each grade's value on its scale: the card's ``grade_values``, else 0, 1, 2, …"""
    return list(card.grade_values) or [float(k) for k in range(len(card.class_names))]


FORMULATIONS = ("cumulative", "multiclass")


def formulation(cfg: DictConfig) -> str:
    chosen = str((cfg.get("head") or {}).get("formulation", "cumulative"))
    if chosen not in FORMULATIONS:
        raise UsageError(
            f"head.formulation={chosen!r}: the ordinal head is one of {', '.join(FORMULATIONS)}"
        )
    return chosen


class OrdinalHead(MulticlassHead):
    name = "ordinal"
    protocol = "multiclass"
    module_class = OrdinalModule
    explainable = False  # Grad-CAM targets one class logit; this model has cut-points instead

    def module(self, cfg: DictConfig, card: TaskCard) -> ClassificationModule:
        settings = {"class_names": list(card.class_names), "task": card.name}
        if formulation(cfg) == "multiclass":
            return ClassificationModule(head="multiclass", **settings, **backbone_settings(cfg))
        return OrdinalModule(**settings, **backbone_settings(cfg))

    def metrics_document(
        self,
        card: TaskCard,
        cfg: DictConfig,
        val: Predictions,
        test: Predictions,
        units: Mapping[str, np.ndarray] | None = None,
        clusters: np.ndarray | None = None,
    ) -> dict:
        document = super().metrics_document(card, cfg, val, test, units, clusters)
        resampled = clusters if document["bootstrap"]["unit"] != "image" else None
        values, boot = grade_values(card), bootstrap_spec(cfg)
        document["formulation"] = formulation(cfg)
        document["ordinal"] = ordinal_block(test.y, test.probs, values, boot, resampled)
        # Validation figures too: the formulation (and any other model choice) is made there.
        document["val_ordinal"] = ordinal_block(val.y, val.probs, values, boot)
        return document

    def figures_table(self, document: Mapping) -> str:
        grades = ordinal_table(document["ordinal"], document["class_names"])
        return f"{grades}\n\n{with_views(multiclass_table(document), document)}"
