"""Near-duplicate images (re-crops, re-saves, neighbouring frames) found by a difference hash.

Byte-identical files are caught by content hash during validation; near-duplicates are not,
yet they leak just the same when they fall into different splits. BUSI, for one, holds many
pairs that differ only by a few pixels of cropping. Linking them into one group keeps each
pair inside a single split.
"""

from __future__ import annotations

import cv2
import numpy as np


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
