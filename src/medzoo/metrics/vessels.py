"""Vessel quantification from a binary vessel map: area fraction, length density, tortuosity.

Length comes from the morphological skeleton, counting an orthogonal step between skeleton
pixels as 1 and a diagonal step as √2 (a diagonal that cuts the corner of an orthogonal
L-step is not counted twice). Tortuosity is the arc-over-chord ratio of each vessel segment
(the skeleton cut at its branch points), averaged with segment length as weight.

This chain-code length runs about 6% long on curves (a semicircle of radius 60 px measures
1.67 instead of π/2): compare maps measured the same way, not other tools' absolute values.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.morphology import skeletonize

from medzoo.metrics.areas import area_fraction

MEASURES = ("area_fraction", "length_density", "tortuosity")
MIN_SEGMENT_PX = 10.0  # shorter pieces are mostly skeleton spurs; their arc/chord is noise


def segment_lengths(labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Polyline length of every labelled skeleton piece (index = label)."""
    padded = np.pad(labels, 1)
    centre = padded[1:-1, 1:-1]

    def at(dy: int, dx: int) -> np.ndarray:
        return padded[1 + dy : padded.shape[0] - 1 + dy, 1 + dx : padded.shape[1] - 1 + dx]

    def count(linked: np.ndarray) -> np.ndarray:
        return np.bincount(centre[linked], minlength=n_labels)[:n_labels].astype(float)

    on = centre > 0
    lengths = count(on & (at(0, 1) == centre)) + count(on & (at(1, 0) == centre))
    for dx in (1, -1):
        corner_free = (at(0, dx) != centre) & (at(1, 0) != centre)
        lengths += np.sqrt(2.0) * count(on & (at(1, dx) == centre) & corner_free)
    return lengths


def _neighbour_count(mask: np.ndarray) -> np.ndarray:
    kernel = np.ones((3, 3), np.float32)
    kernel[1, 1] = 0
    counts = cv2.filter2D(mask.astype(np.float32), -1, kernel, borderType=cv2.BORDER_CONSTANT)
    return np.rint(counts).astype(int) * mask


def vessel_measures(vessels: np.ndarray, region: np.ndarray) -> dict[str, float]:
    """The three measures for one binary vessel map, inside ``region`` (e.g. the FOV).

    ``length_density`` is skeleton length (px) per 1000 region pixels.
    """
    vessels = np.asarray(vessels, bool) & np.asarray(region, bool)
    area = int(np.count_nonzero(region))
    skeleton = skeletonize(vessels)
    total = segment_lengths(skeleton.astype(np.int32), 2)[1]
    branches = skeleton & (_neighbour_count(skeleton) >= 3)
    near_branch = cv2.dilate(branches.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    pieces = skeleton & ~near_branch
    n_labels, labels = cv2.connectedComponents(pieces.astype(np.uint8), connectivity=8)
    arcs = segment_lengths(labels, n_labels)
    ends = (_neighbour_count(pieces) == 1) & pieces
    tortuosity_sum, weight = 0.0, 0.0
    ys, xs = np.nonzero(ends)
    end_labels = labels[ys, xs]
    for label in np.flatnonzero(arcs >= MIN_SEGMENT_PX):
        points = np.stack([ys[end_labels == label], xs[end_labels == label]], axis=1)
        if len(points) != 2:  # a closed loop or a piece with leftover spurs
            continue
        chord = float(np.hypot(*(points[0] - points[1])))
        if chord > 0:
            tortuosity_sum += float(arcs[label] * (arcs[label] / chord))
            weight += float(arcs[label])
    return {
        "area_fraction": area_fraction(vessels, region),
        "length_density": float(1000.0 * total / area) if area else float("nan"),
        "tortuosity": tortuosity_sum / weight if weight else float("nan"),
    }
