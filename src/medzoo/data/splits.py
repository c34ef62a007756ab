"""Grouped, stratified train/val/test splits and the leakage check."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from medzoo.data.manifest import SPLITS, ManifestError, has_split, listing


def _one_fold(labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of one fold holding about ``fraction`` of the rows, whole groups only."""
    n_folds = max(2, round(1.0 / fraction))
    n_groups = len(np.unique(groups))
    if n_groups < n_folds:
        raise ManifestError(
            f"cannot carve a {fraction:.0%} split out of {n_groups} groups; "
            "use fewer splits or more data"
        )
    # Labels rarer than the number of folds (e.g. unique grade combinations of an items
    # task) cannot be stratified on their own: they share one stratum.
    values, counts = np.unique(labels, return_counts=True)
    rare = values[counts < n_folds]
    strata = np.where(np.isin(labels, rare), "\x00rare", labels) if rare.size else labels
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    _, held_out = next(splitter.split(np.zeros(len(labels)), strata, groups))
    mask = np.zeros(len(labels), dtype=bool)
    mask[held_out] = True
    return mask


def assign_splits(
    frame: pd.DataFrame, fractions: Mapping[str, float], seed: int = 0
) -> pd.DataFrame:
    """Add a ``split`` column: groups never cross splits, label proportions are kept.

    ``fractions`` maps train/val/test to shares summing to 1.
    """
    unknown = sorted(set(fractions) - set(SPLITS))
    if unknown or not np.isclose(sum(fractions.values()), 1.0):
        raise ValueError(
            f"split fractions must cover {list(SPLITS)} and sum to 1; got {dict(fractions)}"
        )
    test = _one_fold(frame["label"].to_numpy(), frame["group"].to_numpy(), fractions["test"], seed)
    split = np.where(test, "test", "train").astype(object)
    val_share = fractions["val"] / (1.0 - fractions["test"])
    return hold_out_validation(frame.assign(split=split), val_share, seed + 1)


def hold_out_validation(frame: pd.DataFrame, share: float, seed: int = 0) -> pd.DataFrame:
    """Move a grouped, label-stratified ``share`` of the ``train`` rows to ``val``, for
    datasets that publish only a train/test split."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"the validation share must lie in (0, 1); got {share}")
    train = np.flatnonzero(frame["split"].to_numpy() == "train")
    chosen = _one_fold(
        frame["label"].to_numpy()[train], frame["group"].to_numpy()[train], share, seed
    )
    split = frame["split"].to_numpy().copy()
    split[train[chosen]] = "val"
    return frame.assign(split=split)


def cross_validation_split(
    frame: pd.DataFrame,
    folds: int,
    fold: int,
    repeat: int = 0,
    val_fraction: float = 0.15,
    seed: int = 0,
) -> pd.DataFrame:
    """Fold ``fold`` of a grouped, stratified ``folds``-fold split as test; validation carved
    from the remaining groups. ``repeat`` reshuffles the folds (repeated cross-validation):
    over ``fold = 0 … folds-1`` of one repeat every image is tested exactly once."""
    if not 0 <= fold < folds:
        raise ValueError(f"fold must lie in 0..{folds - 1}; got {fold} (data.split.cv.fold)")
    labels, groups = frame["label"].to_numpy(), frame["group"].to_numpy()
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed + 1000 * repeat)
    _, held_out = list(splitter.split(np.zeros(len(frame)), labels, groups))[fold]
    split = np.full(len(frame), "train", dtype=object)
    split[held_out] = "test"
    val_share = val_fraction / (1.0 - 1.0 / folds)
    return hold_out_validation(frame.assign(split=split), val_share, seed + 1000 * repeat + 1)


def ensure_splits(
    frame: pd.DataFrame,
    fractions: Mapping[str, float],
    seed: int,
    source: str,
    cv: Mapping | None = None,
) -> pd.DataFrame:
    """The manifest's own split if it has one (complete, leak-free), else a grouped split:
    a cross-validation fold when ``cv`` names one (``{folds, fold, repeat}``), else one
    train/val/test split with ``fractions``. A manifest split together with a cross-validation
    is an error: one of the two would be silently ignored."""
    if has_split(frame) and cv and cv.get("folds"):
        raise ManifestError(
            f"{source} brings its own 'split' column, and data.split.cv asks for cross-validation "
            f"folds ({dict(cv)}); use one: drop the column, or pass data.split.cv.folds=null"
        )
    if not has_split(frame) and cv and cv.get("folds"):
        frame = cross_validation_split(
            frame,
            int(cv["folds"]),
            int(cv["fold"]),
            int(cv.get("repeat", 0)),
            float(fractions.get("val", 0.15)),
            seed,
        )
    elif not has_split(frame):
        frame = assign_splits(frame, fractions, seed)
    elif (frame["split"] == "").any():
        raise ManifestError(f"{source}: some rows have a split and some do not; fill them all")
    check_no_leakage(frame, source)
    return frame


def check_no_leakage(frame: pd.DataFrame, source: str) -> None:
    """Refuse a manifest in which one group (patient, slide, duplicate image) spans two splits."""
    spans = frame.groupby("group")["split"].nunique()
    leaking = spans[spans > 1].index.tolist()
    if leaking:
        examples = [
            f"group {group!r}: " + ", ".join(f"{r.image} [{r.split}]" for r in rows.itertuples())
            for group, rows in frame[frame["group"].isin(leaking)].groupby("group")
        ]
        raise ManifestError(
            f"{source}: {len(leaking)} group(s) appear in more than one split, which leaks "
            f"test data into training:\n{listing(examples, limit=10)}\nFix the 'split' column so "
            "each group lies in one split, or drop the column to let medzoo split by group."
        )
