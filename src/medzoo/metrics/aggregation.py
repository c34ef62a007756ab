"""Decisions per unit (slide, patient) from per-image scores.

A pathologist's verdict is per biopsy, not per patch: the unit's truth is positive when any
of its images is, and its score aggregates the image scores by a rule — ``max``, ``mean`` or
``topK`` (mean of the K highest). The rule and the threshold are both chosen on validation
units; the test figures are bootstrapped over units, stratified by unit truth.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from medzoo.metrics.protocol import BootstrapSpec, ThresholdRule, binary_block

_TOP_K = re.compile(r"top(\d+)")


def check_rule(rule: str) -> None:
    if rule in ("max", "mean") or (_TOP_K.fullmatch(rule) and int(rule[3:]) > 0):
        return
    raise ValueError(f"unknown aggregation rule {rule!r}; use max, mean or topK (e.g. top3)")


def _aggregate_one(scores: np.ndarray, rule: str) -> float:
    if rule == "max":
        return float(scores.max())
    if rule == "mean":
        return float(scores.mean())
    k = int(rule[3:])
    return float(np.sort(scores)[::-1][:k].mean())


def aggregate(
    units: Sequence[str], y: Sequence[int], scores: Sequence[float], rule: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(unit names, unit truth, unit score)``, units sorted by name.

    A unit is positive when any of its images is; its score is ``rule`` over its image scores.
    """
    check_rule(rule)
    frame = pd.DataFrame({"unit": np.asarray(units), "y": np.asarray(y).astype(int)})
    frame["score"] = np.asarray(scores, dtype=float)
    grouped = frame.groupby("unit", sort=True)
    truth = grouped["y"].max()
    score = grouped["score"].apply(lambda s: _aggregate_one(s.to_numpy(), rule))
    return truth.index.to_numpy(), truth.to_numpy(), score.loc[truth.index].to_numpy()


def choose_rule(
    units: Sequence[str], y: Sequence[int], scores: Sequence[float], rules: Sequence[str]
) -> tuple[str, dict[str, float]]:
    """The rule with the highest unit-level AUC on these (validation) data; ties go to the
    earlier rule in ``rules``. Returns the rule and every rule's AUC."""
    if not rules:
        raise ValueError("unit-level evaluation needs at least one aggregation rule")
    aucs = {}
    for rule in rules:
        _, truth, score = aggregate(units, y, scores, rule)
        if np.unique(truth).size < 2:
            raise ValueError(
                "validation units are all of one class: no aggregation rule can be chosen"
            )
        aucs[rule] = float(roc_auc_score(truth, score))
    best = max(rules, key=lambda r: (aucs[r], -list(rules).index(r)))
    return best, aucs


def unit_block(
    val: tuple[Sequence[str], Sequence[int], Sequence[float]],
    test: tuple[Sequence[str], Sequence[int], Sequence[float]],
    rules: Sequence[str],
    threshold: ThresholdRule,
    boot: BootstrapSpec,
) -> dict[str, object]:
    """Unit-level binary figures on test: rule and threshold chosen on validation units.

    ``val`` and ``test`` are ``(unit of each image, image truth 0/1, image score)``.
    """
    one_class = [
        name
        for name, (units, y, _) in (("validation", val), ("test", test))
        if np.unique(aggregate(units, y, np.zeros(len(y)), "max")[1]).size < 2
    ]
    if one_class:
        return {"undefined": f"the {' and '.join(one_class)} units are all of one class"}
    rule, val_aucs = choose_rule(*val, rules)
    _, y_val, s_val = aggregate(*val, rule)
    _, y_test, s_test = aggregate(*test, rule)
    return {
        "rule": {"value": rule, "chosen_on": "val", "val_auc": val_aucs},
        **binary_block(y_val, s_val, y_test, s_test, threshold, boot),
    }
