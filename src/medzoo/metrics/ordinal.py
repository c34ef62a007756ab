"""Figures of ordered grades (e.g. ulcerative-colitis severity): agreement that weighs a
two-grade miss more than a one-grade one, and the mean error in grade units."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from medzoo.metrics.bootstrap import bootstrap_ci
from medzoo.metrics.protocol import BootstrapSpec, figure

ORDINAL_FIGURES = ("quadratic_kappa", "grade_mae", "accuracy", "accuracy_main")


def median_grade(probs: np.ndarray) -> np.ndarray:
    """The median of each row's grade distribution: the lowest grade whose cumulative
    probability reaches 1/2. For ordered grades this is the decision that respects the order:
    the most probable grade can skip the middle ones, whose probability a cumulative model
    spreads thinly between its cut-points, even when the score sits between them."""
    cumulative = np.cumsum(np.asarray(probs, dtype=float), axis=1)
    return np.minimum((cumulative < 0.5 - 1e-9).sum(axis=1), cumulative.shape[1] - 1)


def ordinal_figures(
    y: np.ndarray, probs: np.ndarray, values: np.ndarray, main: np.ndarray
) -> dict[str, float]:
    """``y``: true grade indices; ``probs``: (n, grades) probabilities; ``values``: each
    grade's value on the scale (e.g. 0.5 for grade 0-1); ``main``: which grades are main
    (not intermediate). The predicted grade is the median one (``median_grade``)."""
    y, predicted = np.asarray(y, dtype=int), median_grade(probs)
    grades = np.arange(len(values))
    if np.unique(np.concatenate([y, predicted])).size < 2:
        kappa = float("nan")  # one grade everywhere: kappa is 0/0
    else:
        kappa = float(cohen_kappa_score(y, predicted, labels=grades, weights="quadratic"))
    on_main = main[y]
    return {
        "quadratic_kappa": kappa,
        "grade_mae": float(np.abs(values[y] - values[predicted]).mean()),
        "accuracy": float((y == predicted).mean()),
        "accuracy_main": float((y == predicted)[on_main].mean()) if on_main.any() else np.nan,
    }


def ordinal_block(
    y: np.ndarray,
    probs: np.ndarray,
    values: Sequence[float],
    boot: BootstrapSpec,
    clusters: np.ndarray | None = None,
) -> dict[str, object]:
    """Quadratic-weighted kappa, mean absolute grade error (in ``values`` units), accuracy on
    every grade and on the main grades (integer values) of the median grade, each with its
    bootstrap CI, and the confusion matrix of the median grade."""
    y, probs = np.asarray(y, dtype=int), np.asarray(probs, dtype=float)
    values = np.asarray(values, dtype=float)
    main = values == np.round(values)
    point = ordinal_figures(y, probs, values, main)
    ci = bootstrap_ci(
        lambda idx: ordinal_figures(y[idx], probs[idx], values, main),
        strata=y,
        n_boot=boot.n,
        seed=boot.seed,
        clusters=clusters,
    )
    return {
        "decision": "median grade",
        "confusion_matrix": confusion_matrix(
            y, median_grade(probs), labels=np.arange(len(values))
        ).tolist(),
        "grade_values": values.tolist(),
        "main_grades": [int(k) for k in np.flatnonzero(main)],
        "n_main": int(main[y].sum()),
        **{name: figure(point[name], ci[name]) for name in ORDINAL_FIGURES},
    }
