"""Classification figures on plain arrays.

scikit-learn does the arithmetic; this module fixes the protocol (which figures, which
decision rule) and turns silent degenerate cases into clear errors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

BINARY_FIGURES = ("auc", "sensitivity", "specificity", "accuracy", "ppv", "npv", "f1")


def _as_binary(y_true: Sequence[int], score: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    s = np.asarray(score, dtype=float)
    if y.ndim != 1 or s.shape != y.shape:
        raise ValueError(
            f"y_true and score must be 1-D and the same length; got {y.shape} and {s.shape}"
        )
    if y.size == 0:
        raise ValueError("no samples: y_true is empty")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(
            f"binary y_true must hold only 0 and 1; got values {np.unique(y).tolist()}"
        )
    if not np.isfinite(s).all():
        raise ValueError("score holds NaN or infinite values")
    present = np.unique(y)
    if present.size < 2:
        raise ValueError(
            f"AUC, sensitivity and specificity need both classes, but y_true holds only class "
            f"{int(present[0])} (n={y.size}); evaluate on a larger or stratified split"
        )
    return y.astype(int), s


def safe_ratio(num: float, den: float) -> float:
    return float(num / den) if den else float("nan")


def binary_confusion(y_true: Sequence[int], score: Sequence[float], threshold: float) -> np.ndarray:
    """2×2 matrix ``[[tn, fp], [fn, tp]]`` for the decision ``score >= threshold``."""
    y, s = _as_binary(y_true, score)
    return confusion_matrix(y, (s >= threshold).astype(int), labels=[0, 1])


def binary_metrics(
    y_true: Sequence[int], score: Sequence[float], threshold: float
) -> dict[str, float]:
    """AUC (threshold-free) and the confusion-matrix figures at ``score >= threshold``.

    PPV/NPV are NaN when the rule predicts no positives/negatives (undefined, not zero).
    """
    y, s = _as_binary(y_true, score)
    (tn, fp), (fn, tp) = binary_confusion(y, s, threshold)
    return {
        "auc": float(roc_auc_score(y, s)),
        "sensitivity": safe_ratio(tp, tp + fn),
        "specificity": safe_ratio(tn, tn + fp),
        "accuracy": safe_ratio(tp + tn, y.size),
        "ppv": safe_ratio(tp, tp + fp),
        "npv": safe_ratio(tn, tn + fn),
        "f1": safe_ratio(2 * tp, 2 * tp + fp + fn),
    }


def choose_threshold(
    y_true: Sequence[int],
    score: Sequence[float],
    method: str = "youden",
    value: float | None = None,
) -> float:
    """Pick a decision threshold, on validation data.

    - ``youden``: maximise sensitivity + specificity - 1 over the ROC curve;
    - ``fixed``: use ``value`` as given;
    - ``sensitivity``: the highest threshold whose sensitivity is at least ``value``.
    """
    if method == "fixed":
        if value is None:
            raise ValueError(
                "threshold method 'fixed' needs a value, e.g. metrics.threshold.value=0.5"
            )
        return float(value)
    y, s = _as_binary(y_true, score)
    if method == "sensitivity":
        if value is None or not 0.0 < value <= 1.0:
            raise ValueError(
                "threshold method 'sensitivity' needs a target in (0, 1], "
                "e.g. metrics.threshold.value=0.9"
            )
        # Every distinct score is a candidate: roc_curve's default drops "intermediate"
        # thresholds, and the highest one that meets the target is often among them.
        _, tpr, thresholds = roc_curve(y, s, drop_intermediate=False)
        thresholds = np.minimum(thresholds, s.max())
        return float(thresholds[int(np.argmax(tpr >= value))])
    fpr, tpr, thresholds = roc_curve(y, s)
    # roc_curve's first threshold is +inf (nothing predicted positive); keep it finite.
    thresholds = np.minimum(thresholds, s.max())
    if method == "youden":
        return float(thresholds[int(np.argmax(tpr - fpr))])
    raise ValueError(f"unknown threshold method {method!r}; use 'youden', 'fixed' or 'sensitivity'")


def _as_multiclass(y_true: Sequence[int], probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2 or y.ndim != 1 or p.shape[0] != y.shape[0]:
        raise ValueError(f"probs must be (n, classes) and y_true (n,); got {p.shape} and {y.shape}")
    if y.size == 0:
        raise ValueError("no samples: y_true is empty")
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(f"y_true holds class indices outside 0..{p.shape[1] - 1}")
    return y.astype(int), p


def multiclass_metrics(
    y_true: Sequence[int], probs: np.ndarray, divisors: np.ndarray | None = None
) -> dict[str, object]:
    """Accuracy, balanced accuracy (the mean recall over the classes present), per-class recall
    and one-vs-rest AUC of the argmax decision; macro-averaged AUC.

    ``divisors`` (one positive number per class): the decision is the argmax of each
    probability divided by its class's divisor (``class_prior``) instead of the plain argmax.
    It moves the decisions only: the AUCs rank the probabilities themselves.
    AUC for a class absent from ``y_true`` is NaN (and the macro AUC then averages the rest).
    """
    y, p = _as_multiclass(y_true, probs)
    n_classes = p.shape[1]
    pred = (p if divisors is None else p / np.asarray(divisors, dtype=float)).argmax(axis=1)
    cm = confusion_matrix(y, pred, labels=list(range(n_classes)))
    support = cm.sum(axis=1)
    recall = np.divide(np.diag(cm), support, out=np.full(n_classes, np.nan), where=support > 0)
    auc = np.full(n_classes, np.nan)
    for k in range(n_classes):
        positives = y == k
        if 0 < positives.sum() < y.size:
            auc[k] = roc_auc_score(positives, p[:, k])
    return {
        "accuracy": float((pred == y).mean()),
        "balanced_accuracy": float(np.nanmean(recall)),
        "auc_macro_ovr": float(np.nanmean(auc)) if np.isfinite(auc).any() else float("nan"),
        "recall": recall,
        "auc": auc,
        "confusion_matrix": cm,
    }


def class_prior(y_true: Sequence[int], n_classes: int) -> np.ndarray:
    """Each class's frequency in ``y_true``, add-one smoothed so that a class absent from it
    keeps a finite divisor: ``(count + 1) / (n + n_classes)``."""
    counts = np.bincount(np.asarray(y_true).astype(int), minlength=n_classes)
    return (counts + 1) / (counts.sum() + n_classes)


def grouped_binary(
    y_true: Sequence[int], probs: np.ndarray, class_names: Sequence[str], positive: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Collapse a multi-class prediction into positive-group vs the rest.

    Returns ``(y_binary, score)``: the label is 1 when the true class is in ``positive``; the score
    is the summed probability of the ``positive`` classes.
    """
    y, p = _as_multiclass(y_true, probs)
    unknown = sorted(set(positive) - set(class_names))
    if unknown:
        raise ValueError(
            f"group names unknown classes {unknown}; the classes are {list(class_names)}"
        )
    if not positive:
        raise ValueError("a class group needs at least one class")
    index = [list(class_names).index(name) for name in positive]
    return np.isin(y, index).astype(int), p[:, index].sum(axis=1)
