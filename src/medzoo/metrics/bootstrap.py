"""Stratified, seeded percentile bootstrap for any set of figures, resampling the unit that
repeats (patient, slide, lesion, source image) where a split holds several images of one."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Resampling:
    """What one bootstrap replicate draws: ``units`` (the number of independent units) and
    whether they are ``clusters`` of several items (False: every item is its own unit)."""

    units: int
    clusters: bool


def resampling(n_items: int, clusters: np.ndarray | None) -> Resampling:
    """Image-level resampling when ``clusters`` is None or every cluster is one item; else
    cluster resampling over the distinct cluster ids."""
    if clusters is None:
        return Resampling(n_items, False)
    clusters = np.asarray(clusters)
    if clusters.shape != (n_items,):
        raise ValueError(f"clusters has shape {clusters.shape}; expected ({n_items},)")
    units = int(np.unique(clusters).size)
    return Resampling(units, units < n_items)


def _item_sampler(strata: np.ndarray) -> Callable[[np.random.Generator], np.ndarray]:
    members = [np.flatnonzero(strata == value) for value in np.unique(strata)]
    return lambda rng: np.concatenate([rng.choice(m, size=m.size, replace=True) for m in members])


def _cluster_sampler(
    strata: np.ndarray, clusters: np.ndarray
) -> Callable[[np.random.Generator], np.ndarray]:
    """Draw clusters with replacement within each cluster stratum and return the items of the
    drawn clusters. A cluster's stratum is its items' stratum where they agree; clusters whose
    items disagree (a patient with one diseased and one healthy eye) form a stratum of their
    own, so every replicate keeps as many clusters of each kind as the data hold."""
    _, unit_of = np.unique(clusters, return_inverse=True)
    order = np.argsort(unit_of, kind="stable")
    sizes = np.bincount(unit_of)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    _, stratum_code = np.unique(strata, return_inverse=True)
    lowest = np.full(sizes.size, np.iinfo(np.int64).max)
    highest = np.full(sizes.size, -1)
    np.minimum.at(lowest, unit_of, stratum_code)
    np.maximum.at(highest, unit_of, stratum_code)
    unit_stratum = np.where(lowest == highest, lowest, -1)  # -1: mixed
    members = [np.flatnonzero(unit_stratum == value) for value in np.unique(unit_stratum)]

    def draw(rng: np.random.Generator) -> np.ndarray:
        units = np.concatenate([rng.choice(m, size=m.size, replace=True) for m in members])
        lengths = sizes[units]
        offsets = np.repeat(starts[units] - np.cumsum(lengths) + lengths, lengths)
        return order[offsets + np.arange(lengths.sum())]

    return draw


def bootstrap_ci(
    statistic: Callable[[np.ndarray], Mapping[str, float]],
    strata: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    clusters: np.ndarray | None = None,
) -> dict[str, tuple[float, float]]:
    """Percentile CIs of every figure ``statistic(indices)`` returns.

    Each replicate resamples, with replacement, within each stratum (e.g. each true class), so
    class counts stay fixed and AUC stays defined. With ``clusters`` (one id per item) holding
    some id more than once, whole clusters are resampled instead of items (see
    ``_cluster_sampler``): images of one patient are not independent, and resampling them
    one by one would give intervals that are too narrow. Replicates in which a figure is
    undefined (NaN) are left out of that figure's interval.
    """
    strata = np.asarray(strata)
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    if not 0.0 < level < 1.0:
        raise ValueError("level must lie in (0, 1)")
    rng = np.random.default_rng(seed)
    if resampling(strata.size, clusters).clusters:
        draw = _cluster_sampler(strata, np.asarray(clusters))
    else:
        draw = _item_sampler(strata)
    replicates: dict[str, list[float]] = {}
    for _ in range(n_boot):
        for name, value in statistic(draw(rng)).items():
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
