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

from medzoo.data.cache import load_images
from medzoo.data.images import MAX_PIXELS
from medzoo.data.manifest import ManifestError, has_split, listing

log = logging.getLogger(__name__)


class NearDuplicateWarning(UserWarning):
    """Near-duplicate images carry different labels, or cross a split the manifest gave."""


ACROSS_SPLITS = ("error", "warn")  # data.near_duplicates_across_splits
# Hashes come from a fixed 64 px grey copy, so the grouping (and so the split) does not
# depend on the training image size.
HASH_SIZE = 64


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
    frame: pd.DataFrame,
    thumbnails: np.ndarray,
    max_distance: int,
    source: str,
    across_splits: str = "error",
) -> pd.DataFrame:
    """Link near-duplicate rows into one group and drop those whose labels disagree.

    The same picture under two labels leaves neither label trustworthy, as for exact copies.
    The manifest's own groups are kept in a ``unit`` column (a slide, a patient), so that
    per-unit figures still aggregate the recipe's units while splits and CIs use the linked
    groups. A manifest without labels (segmentation) is linked only.

    A manifest that brings its own split is not regrouped: near-duplicates that cross its
    splits are leakage, an error naming the pairs (``across_splits="warn"``: a warning, for
    a published split that is known to hold a few). Pairs under two labels are dropped
    either way.
    """
    if across_splits not in ACROSS_SPLITS:
        raise ManifestError(
            f"data.near_duplicates_across_splits={across_splits!r}: expected one of "
            f"{', '.join(ACROSS_SPLITS)}"
        )
    pairs = near_duplicate_pairs(thumbnails, max_distance)
    if not pairs:
        return frame
    images = frame["image"].tolist()
    if has_split(frame):
        splits = frame["split"].tolist()
        crossing = [
            f"{images[i]} [{splits[i]}] ~ {images[j]} [{splits[j]}]"
            for i, j in pairs
            if splits[i] != splits[j]
        ]
        if crossing:
            message = (
                f"{source}: {len(crossing)} near-duplicate pair(s) (dHash distance <= "
                f"{max_distance}) lie in different splits of the manifest's own split column, "
                "so test images have near-copies in training:"
            )
            if across_splits == "error":
                raise ManifestError(
                    f"{message}\n{listing(crossing)}\nMove each pair into one split, or set "
                    "data.near_duplicates_across_splits=warn to accept them (and say so beside "
                    "the figures)"
                )
            _warn(message, crossing)
    else:
        log.info(
            "%s: %d near-duplicate pairs (dHash distance <= %d) linked into shared groups",
            source,
            len(pairs),
            max_distance,
        )
        units = frame["unit"] if "unit" in frame.columns else frame["group"]
        frame = frame.assign(unit=units, group=merge_groups(frame["group"].tolist(), pairs))
    return _drop_conflicting(frame, pairs, source)


def _drop_conflicting(
    frame: pd.DataFrame, pairs: list[tuple[int, int]], source: str
) -> pd.DataFrame:
    """Both images of every near-duplicate pair filed under two labels, with a warning."""
    if "label" not in frame.columns:
        return frame
    images, labels = frame["image"].tolist(), frame["label"].tolist()
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


def link_near_duplicates(
    frame: pd.DataFrame,
    max_distance: int,
    source: str,
    across_splits: str = "error",
    max_pixels: int = MAX_PIXELS,
) -> pd.DataFrame:
    """``resolve_near_duplicates`` on the manifest's images, hashed at ``HASH_SIZE``."""
    thumbnails = load_images(frame["image"].tolist(), HASH_SIZE, 1, None, max_pixels)
    return resolve_near_duplicates(frame, thumbnails, max_distance, source, across_splits)
