"""Multi-item grading (e.g. the seven DESIGN-R items of a pressure ulcer): one ordinal grade
per item, scored per item by accuracy and quadratically weighted Cohen's kappa.

An items task names its outputs ``item=grade`` (``depth=d0``, ``depth=d1``, …, in grade
order); a manifest label holds one ``item=grade`` per item, joined by ``;``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from medzoo.metrics.bootstrap import bootstrap_ci
from medzoo.metrics.protocol import BootstrapSpec, clean_number, figure

SEPARATOR = "="


def output_names(items: Mapping[str, Sequence[str]]) -> list[str]:
    """The flat output names ``item=grade`` of an items mapping, in order."""
    return [f"{item}{SEPARATOR}{grade}" for item, grades in items.items() for grade in grades]


def items_of(names: Sequence[str]) -> dict[str, list[str]]:
    """The items mapping back from flat ``item=grade`` output names."""
    items: dict[str, list[str]] = {}
    for name in names:
        item, sep, grade = name.partition(SEPARATOR)
        if not sep or not item or not grade:
            raise ValueError(f"an items output is named item{SEPARATOR}grade; got {name!r}")
        items.setdefault(item, []).append(grade)
    return items


def item_slices(names: Sequence[str]) -> dict[str, slice]:
    """Where each item's grade outputs sit in the flat output vector."""
    slices, start = {}, 0
    for item, grades in items_of(names).items():
        slices[item] = slice(start, start + len(grades))
        start += len(grades)
    return slices


def parse_grades(label: str, items: Mapping[str, Sequence[str]]) -> list[int]:
    """Grade indices, one per item, from ``"depth=d2;exudate=e1;…"``; ValueError saying what
    is wrong otherwise."""
    given: dict[str, str] = {}
    for part in (p.strip() for p in label.split(";") if p.strip()):
        item, _, grade = part.partition(SEPARATOR)
        if item in given:
            raise ValueError(f"item {item!r} graded twice")
        given[item] = grade
    missing = [item for item in items if item not in given]
    unknown = [item for item in given if item not in items]
    if missing or unknown:
        raise ValueError(f"items missing {missing}, unknown {unknown}; expected {list(items)}")
    out = []
    for item, grades in items.items():
        if given[item] not in grades:
            raise ValueError(f"{item}: grade {given[item]!r} is not one of {list(grades)}")
        out.append(list(grades).index(given[item]))
    return out


def item_figures(y: np.ndarray, predicted: np.ndarray, n_grades: int) -> dict[str, float]:
    """Accuracy and quadratic-weighted kappa of one item's grades (NaN when undefined)."""
    accuracy = float(np.mean(y == predicted))
    if np.unique(np.concatenate([y, predicted])).size < 2:
        kappa = float("nan")  # one grade everywhere: kappa is 0/0
    else:
        kappa = float(
            cohen_kappa_score(y, predicted, labels=np.arange(n_grades), weights="quadratic")
        )
    return {"accuracy": accuracy, "weighted_kappa": kappa}


def items_document(
    names: Sequence[str],
    y: np.ndarray,
    probs: np.ndarray,
    boot: BootstrapSpec,
    clusters: np.ndarray | None = None,
) -> dict[str, object]:
    """Per item: grade counts, accuracy and weighted kappa (bootstrap CIs over cases, or over
    ``clusters`` where a test unit repeats) and the confusion matrix of the most probable
    grade; and their means over items."""
    y = np.asarray(y, dtype=int)
    probs = np.asarray(probs, dtype=float)
    items, per_item = items_of(names), {}
    for column, (item, where) in enumerate(item_slices(names).items()):
        n_grades = where.stop - where.start
        truth, predicted = y[:, column], probs[:, where].argmax(axis=1)
        point = item_figures(truth, predicted, n_grades)
        ci = bootstrap_ci(
            lambda idx, t=truth, p=predicted, k=n_grades: item_figures(t[idx], p[idx], k),
            strata=np.zeros(len(truth)),
            n_boot=boot.n,
            seed=boot.seed,
            clusters=clusters,
        )
        per_item[item] = {
            "grades": items[item],
            "n_per_grade": np.bincount(truth, minlength=n_grades).tolist(),
            **{name: figure(point[name], ci[name]) for name in point},
            "confusion_matrix": confusion_matrix(
                truth, predicted, labels=np.arange(n_grades)
            ).tolist(),
        }

    def mean_of(name: str) -> float | None:
        values = [block[name]["value"] for block in per_item.values()]
        defined = [v for v in values if v is not None]
        return clean_number(float(np.mean(defined))) if defined else None

    return {
        "per_item": per_item,
        "mean_accuracy": mean_of("accuracy"),
        "mean_weighted_kappa": mean_of("weighted_kappa"),
    }
