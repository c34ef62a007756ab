"""Near-duplicate images (re-crops, re-saves, neighbouring frames) found by a difference hash.

Byte-identical files are caught by content hash during validation; near-duplicates are not,
yet they leak just the same when they fall into different splits. BUSI, for one, holds many
pairs that differ only by a few pixels of cropping. Linking them into one group keeps each
pair inside a single split.
"""

from __future__ import annotations

import logging
import warnings

import cv2
import numpy as np
import pandas as pd

from medzoo.data.manifest import has_split, listing

log = logging.getLogger(__name__)


class NearDuplicateWarning(UserWarning):
    """Near-duplicate images carry different labels, or cross a split the manifest gave."""


def difference_hash(image: np.ndarray, bits: int = 8) -> np.ndarray:
    """A ``bits`` × ``bits`` boolean hash: is each pixel brighter than its right neighbour."""
    grey = image[..., 0] if image.ndim == 3 else image
    small = cv2.resize(grey, (bits + 1, bits), interpolation=cv2.INTER_AREA).astype(np.int16)
    return (small[:, 1:] > small[:, :-1]).ravel()


def near_duplicate_pairs(images: np.ndarray, max_distance: int) -> list[tuple[int, int]]:
    """Index pairs whose hashes differ in at most ``max_distance`` of 64 bits."""
    hashes = np.stack([difference_hash(image) for image in images]).astype(np.uint8)
    pairs = []
    for i in range(len(hashes) - 1):
        distance = (hashes[i + 1 :] != hashes[i]).sum(axis=1)
        pairs += [(i, i + 1 + int(j)) for j in np.flatnonzero(distance <= max_distance)]
    return pairs


def merge_groups(groups: list[str], pairs: list[tuple[int, int]]) -> list[str]:
    """Union the groups joined by ``pairs``; each merged group takes its smallest member's name."""
    parent = {g: g for g in groups}

    def root(g: str) -> str:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    for i, j in pairs:
        a, b = root(groups[i]), root(groups[j])
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [root(g) for g in groups]


def _warn(message: str, items: list[str]) -> None:
    warnings.warn(message + "\n" + listing(items), NearDuplicateWarning, stacklevel=3)


def resolve_near_duplicates(
    frame: pd.DataFrame, thumbnails: np.ndarray, max_distance: int, source: str
) -> pd.DataFrame:
    """Link near-duplicate rows into one group and drop those whose labels disagree.

    The same picture under two labels leaves neither label trustworthy, as for exact copies.
    A manifest that brings its own split is not regrouped: near-duplicates that cross its
    splits are reported as possible leakage.
    """
    pairs = near_duplicate_pairs(thumbnails, max_distance)
    if not pairs:
        return frame
    images, labels = frame["image"].tolist(), frame["label"].tolist()
    if has_split(frame):
        splits = frame["split"].tolist()
        crossing = [
            f"{images[i]} [{splits[i]}] ~ {images[j]} [{splits[j]}]"
            for i, j in pairs
            if splits[i] != splits[j]
        ]
        if crossing:
            _warn(
                f"{source}: {len(crossing)} near-duplicate pair(s) lie in different splits "
                "(possible leakage):",
                crossing,
            )
        return frame
    log.info(
        "%s: %d near-duplicate pairs (dHash distance <= %d) linked into shared groups",
        source,
        len(pairs),
        max_distance,
    )
    frame = frame.assign(group=merge_groups(frame["group"].tolist(), pairs))
    conflicting = [(i, j) for i, j in pairs if labels[i] != labels[j]]
    if not conflicting:
        return frame
    drop = sorted({k for pair in conflicting for k in pair})
    _warn(
        f"{source}: {len(conflicting)} near-duplicate pair(s) carry different labels; all "
        f"{len(drop)} images involved are dropped:",
        [f"{images[i]} [{labels[i]}] ~ {images[j]} [{labels[j]}]" for i, j in conflicting],
    )
    return frame.drop(index=frame.index[drop]).reset_index(drop=True)
