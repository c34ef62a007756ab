"""Exact (Clopper–Pearson) confidence intervals for proportions, for tiny test sets where a
bootstrap interval is too narrow (it cannot leave the observed counts' neighbourhood) and a
normal approximation leaves [0, 1]."""

from __future__ import annotations

import numpy as np
from scipy.stats import beta


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """The exact two-sided interval for ``successes`` of ``trials``; (NaN, NaN) for 0 trials."""
    if trials < 0 or not 0 <= successes <= max(trials, 0):
        raise ValueError(f"need 0 <= successes <= trials; got {successes} of {trials}")
    if trials == 0:
        return float("nan"), float("nan")
    alpha = 1.0 - level
    lower = 0.0 if successes == 0 else beta.ppf(alpha / 2, successes, trials - successes + 1)
    upper = (
        1.0 if successes == trials else beta.ppf(1 - alpha / 2, successes + 1, trials - successes)
    )
    return float(lower), float(upper)


def confusion_proportions(matrix: np.ndarray) -> dict[str, tuple[int, int]]:
    """(successes, trials) behind each proportion of a 2×2 ``[[tn, fp], [fn, tp]]`` matrix."""
    (tn, fp), (fn, tp) = np.asarray(matrix, dtype=int).tolist()
    return {
        "sensitivity": (tp, tp + fn),
        "specificity": (tn, tn + fp),
        "accuracy": (tp + tn, tn + fp + fn + tp),
        "ppv": (tp, tp + fp),
        "npv": (tn, tn + fn),
    }


def exact_intervals(matrix: np.ndarray, level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Clopper–Pearson intervals of sensitivity, specificity, accuracy, PPV and NPV."""
    return {
        name: clopper_pearson(k, n, level) for name, (k, n) in confusion_proportions(matrix).items()
    }
