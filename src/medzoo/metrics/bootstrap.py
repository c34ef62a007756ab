"""Stratified, seeded percentile bootstrap for any set of figures."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import numpy as np


def bootstrap_ci(
    statistic: Callable[[np.ndarray], Mapping[str, float]],
    strata: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """Percentile CIs of every figure ``statistic(indices)`` returns.

    Each replicate resamples, with replacement, within each stratum (e.g. each true class), so
    class counts stay fixed and AUC stays defined. Replicates in which a figure is undefined
    (NaN) are left out of that figure's interval.
    """
    strata = np.asarray(strata)
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    if not 0.0 < level < 1.0:
        raise ValueError("level must lie in (0, 1)")
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(strata == value) for value in np.unique(strata)]
    replicates: dict[str, list[float]] = {}
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(m, size=m.size, replace=True) for m in members])
        for name, value in statistic(idx).items():
            replicates.setdefault(name, []).append(float(value))
    tail = (1.0 - level) / 2.0 * 100.0
    intervals = {}
    for name, values in replicates.items():
        arr = np.asarray(values)
        if np.isnan(arr).all():
            intervals[name] = (float("nan"), float("nan"))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanpercentile(arr, [tail, 100.0 - tail])
        intervals[name] = (float(lo), float(hi))
    return intervals
