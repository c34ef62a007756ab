"""The evaluation protocol shared by every classification task.

Given validation and test predictions, it chooses thresholds on validation, computes the test
figures with stratified bootstrap CIs and returns the ``metrics.json`` document (DESIGN.md schema).
Where test images repeat a unit (several images of one patient, slide, lesion or source image),
the bootstrap resamples units, and the document says which and how many.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from medzoo.metrics.bootstrap import Resampling, bootstrap_ci, resampling
from medzoo.metrics.classification import (
    BINARY_FIGURES,
    binary_confusion,
    binary_metrics,
    choose_threshold,
    class_prior,
    grouped_binary,
    multiclass_metrics,
)
from medzoo.metrics.exact import exact_intervals

HEADS = ("binary", "multiclass", "multilabel")


@dataclass(frozen=True)
class ThresholdRule:
    method: str = "youden"
    value: float | None = None


MULTICLASS_DECISIONS = ("argmax", "prior")


@dataclass(frozen=True)
class DecisionRule:
    """How a multiclass head's class is decided from its probabilities: ``argmax``; or
    ``prior``, the argmax of each probability over its class's frequency in validation. A model
    trained with cross-entropy on imbalanced classes learns the training prior into its
    probabilities; dividing it out (validation stands in for the training prior: the splits are
    drawn from one pool) is the decision that maximises balanced accuracy (mean recall) when
    the probabilities are calibrated, at the cost of plain accuracy on the majority class."""

    method: str = "argmax"

    def __post_init__(self) -> None:
        if self.method not in MULTICLASS_DECISIONS:
            raise ValueError(
                f"unknown multiclass decision {self.method!r}; expected one of "
                f"{MULTICLASS_DECISIONS} (metrics.decision=...)"
            )

    def divisors(self, y_val: np.ndarray, n_classes: int) -> np.ndarray | None:
        """What each class's probability is divided by before the argmax (None: nothing)."""
        return class_prior(y_val, n_classes) if self.method == "prior" else None


PROPORTION_CIS = ("bootstrap", "exact")


@dataclass(frozen=True)
class BootstrapSpec:
    """How CIs are made: a stratified bootstrap of ``n`` replicates; with
    ``proportions="exact"``, sensitivity, specificity, accuracy, PPV and NPV get exact
    Clopper–Pearson intervals instead (AUC and F1 stay bootstrapped)."""

    n: int = 1000
    seed: int = 0
    proportions: str = "bootstrap"

    def __post_init__(self) -> None:
        if self.proportions not in PROPORTION_CIS:
            raise ValueError(
                f"unknown proportion CI {self.proportions!r}; expected one of {PROPORTION_CIS} "
                "(metrics.proportion_ci=...)"
            )


@dataclass(frozen=True)
class Predictions:
    """True labels and predicted probabilities for one split.

    ``y``: class indices (binary, multiclass) or an (n, labels) 0/1 matrix (multilabel).
    ``probs``: (n, classes) probabilities; for a binary head column 1 is the positive class.
    """

    y: np.ndarray
    probs: np.ndarray


def figure(value: float, ci: tuple[float, float]) -> dict[str, object]:
    return {"value": clean_number(value), "ci95": [clean_number(ci[0]), clean_number(ci[1])]}


def clean_number(value: float) -> float | None:
    """JSON has no NaN: undefined figures are written as null."""
    return None if value is None or not np.isfinite(value) else float(value)


def binary_block(
    y_val: np.ndarray,
    score_val: np.ndarray,
    y_test: np.ndarray,
    score_test: np.ndarray,
    rule: ThresholdRule,
    boot: BootstrapSpec,
    clusters: np.ndarray | None = None,
) -> dict[str, object]:
    """Every binary figure on test, at a threshold chosen on validation, with bootstrap CIs
    (resampling ``clusters``, the test unit of each image, where some repeat)."""
    y_test = np.asarray(y_test).astype(int)
    score_test = np.asarray(score_test, dtype=float)
    threshold = choose_threshold(y_val, score_val, rule.method, rule.value)
    point = binary_metrics(y_test, score_test, threshold)
    ci = bootstrap_ci(
        lambda idx: binary_metrics(y_test[idx], score_test[idx], threshold),
        strata=y_test,
        n_boot=boot.n,
        seed=boot.seed,
        clusters=clusters,
    )
    matrix = binary_confusion(y_test, score_test, threshold)
    if exact_proportions(boot, y_test.size, clusters):
        ci.update(exact_intervals(matrix))
    return {
        "n": int(y_test.size),
        "n_positive": int(y_test.sum()),
        **{name: figure(point[name], ci[name]) for name in BINARY_FIGURES},
        "threshold": {"value": threshold, "chosen_on": "val", "method": rule.method},
        "confusion_matrix": matrix.tolist(),
    }


def exact_proportions(boot: BootstrapSpec, n: int, clusters: np.ndarray | None) -> bool:
    """Exact (Clopper–Pearson) intervals count independent images: asked for where units
    repeat, proportions are bootstrapped over units like every other figure."""
    return boot.proportions == "exact" and not resampling(n, clusters).clusters


def _label_block(
    y_val: np.ndarray,
    score_val: np.ndarray,
    y_test: np.ndarray,
    score_test: np.ndarray,
    rule: ThresholdRule,
    boot: BootstrapSpec,
    clusters: np.ndarray | None = None,
) -> dict[str, object]:
    """One multi-label finding; a finding that lacks positives or negatives in validation or
    test (rare findings on small splits) gets null figures and the reason, not an error."""
    missing = [
        split
        for split, y in (("validation", y_val), ("test", y_test))
        if np.unique(np.asarray(y).astype(int)).size < 2
    ]
    if not missing:
        return binary_block(y_val, score_val, y_test, score_test, rule, boot, clusters)
    return {
        "n": int(np.asarray(y_test).size),
        "n_positive": int(np.asarray(y_test).astype(int).sum()),
        **{name: figure(float("nan"), (float("nan"), float("nan"))) for name in BINARY_FIGURES},
        "undefined": f"only one class in the {' and '.join(missing)} split",
    }


def _multiclass_document(
    class_names: Sequence[str],
    val: Predictions,
    test: Predictions,
    decision: DecisionRule,
    boot: BootstrapSpec,
    clusters: np.ndarray | None = None,
) -> dict[str, object]:
    y, probs = np.asarray(test.y).astype(int), np.asarray(test.probs, dtype=float)
    divisors = decision.divisors(np.asarray(val.y), len(class_names))

    def flat(m: Mapping) -> dict[str, float]:
        out = {key: m[key] for key in ("accuracy", "balanced_accuracy", "auc_macro_ovr")}
        for k, name in enumerate(class_names):
            out[f"recall/{name}"] = m["recall"][k]
            out[f"auc/{name}"] = m["auc"][k]
        return out

    full = multiclass_metrics(y, probs, divisors)
    point = flat(full)
    ci = bootstrap_ci(
        lambda idx: flat(multiclass_metrics(y[idx], probs[idx], divisors)),
        strata=y,
        n_boot=boot.n,
        seed=boot.seed,
        clusters=clusters,
    )
    return {
        "accuracy": figure(point["accuracy"], ci["accuracy"]),
        "balanced_accuracy": figure(point["balanced_accuracy"], ci["balanced_accuracy"]),
        "auc_macro_ovr": figure(point["auc_macro_ovr"], ci["auc_macro_ovr"]),
        "per_class": {
            name: {
                "n": int((y == k).sum()),
                "recall": figure(point[f"recall/{name}"], ci[f"recall/{name}"]),
                "auc": figure(point[f"auc/{name}"], ci[f"auc/{name}"]),
            }
            for k, name in enumerate(class_names)
        },
        "confusion_matrix": full["confusion_matrix"].tolist(),
        "decision": {
            "method": decision.method,
            "chosen_on": "val",
            **(
                {"divisors": dict(zip(class_names, map(float, divisors), strict=True))}
                if divisors is not None
                else {}
            ),
        },
    }


def bootstrap_record(
    boot: BootstrapSpec, drawn: Resampling, unit: str, n: int, stratified: bool = True
) -> dict:
    """How the document's CIs were made: ``unit`` and ``n_units`` say what was resampled."""
    exact = boot.proportions == "exact" and not drawn.clusters
    stratum = ("unit label" if drawn.clusters else "label") if stratified else None
    return {
        "n": boot.n,
        "seed": boot.seed,
        "unit": unit if drawn.clusters else "image",
        "n_units": drawn.units if drawn.clusters else n,
        "stratified_by": stratum,
        "level": 0.95,
        "proportions": "Clopper-Pearson" if exact else "bootstrap",
    }


def evaluate_predictions(
    head: str,
    class_names: Sequence[str],
    val: Predictions,
    test: Predictions,
    groups: Mapping[str, Sequence[str]] | None = None,
    rule: ThresholdRule = ThresholdRule(),
    boot: BootstrapSpec = BootstrapSpec(),
    units: np.ndarray | None = None,
    unit: str = "group",
    decision: DecisionRule = DecisionRule(),
) -> dict[str, object]:
    """The metrics document for one task's test split (``decision``: a multiclass head's).

    ``units``: the unit of each test image (``unit`` names what it is: patient, slide, …).
    Where one repeats, CIs resample units (``metrics.bootstrap.bootstrap_ci``)."""
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; expected one of {HEADS}")
    class_names = list(class_names)
    n = len(test.y)
    drawn = resampling(n, units)
    clusters = np.asarray(units) if drawn.clusters else None
    doc: dict[str, object] = {
        "split": "test",
        "n": n,
        "head": head,
        "class_names": class_names,
        "bootstrap": bootstrap_record(boot, drawn, unit, n),
    }
    if head == "binary":
        doc.update(
            binary_block(val.y, val.probs[:, 1], test.y, test.probs[:, 1], rule, boot, clusters)
        )
    elif head == "multiclass":
        doc.update(_multiclass_document(class_names, val, test, decision, boot, clusters))
    else:
        per_label = {
            name: _label_block(
                val.y[:, k], val.probs[:, k], test.y[:, k], test.probs[:, k], rule, boot, clusters
            )
            for k, name in enumerate(class_names)
        }
        doc["per_label"] = per_label
        aucs = [block["auc"]["value"] for block in per_label.values()]
        defined = [auc for auc in aucs if auc is not None]
        doc["auc_macro"] = clean_number(float(np.mean(defined))) if defined else None
    if groups:
        if head == "multilabel":
            raise ValueError("class groups are defined for binary and multiclass heads only")
        doc["groups"] = {}
        for group_name, members in groups.items():
            yv, sv = grouped_binary(val.y, val.probs, class_names, members)
            yt, st = grouped_binary(test.y, test.probs, class_names, members)
            block = binary_block(yv, sv, yt, st, rule, boot, clusters)
            doc["groups"][group_name] = {"positive": list(members), **block}
    return doc
