"""Figures of ordered grades (e.g. ulcerative-colitis severity): agreement that weighs a
two-grade miss more than a one-grade one, and the mean error in grade units."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import cohen_kappa_score

from medzoo.metrics.bootstrap import bootstrap_ci
from medzoo.metrics.protocol import BootstrapSpec, figure

ORDINAL_FIGURES = ("quadratic_kappa", "grade_mae", "accuracy", "accuracy_main")


def ordinal_figures(
    y: np.ndarray, probs: np.ndarray, values: np.ndarray, main: np.ndarray
) -> dict[str, float]:
    """``y``: true grade indices; ``probs``: (n, grades) probabilities; ``values``: each
    grade's value on the scale (e.g. 0.5 for grade 0-1); ``main``: which grades are main
    (not intermediate). The predicted grade is the most probable one."""
    y, predicted = np.asarray(y, dtype=int), np.asarray(probs).argmax(axis=1)
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
    every grade and on the main grades (integer values), each with its bootstrap CI."""
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
        "grade_values": values.tolist(),
        "main_grades": [int(k) for k in np.flatnonzero(main)],
        "n_main": int(main[y].sum()),
        **{name: figure(point[name], ci[name]) for name in ORDINAL_FIGURES},
    }
