"""Point detection and counting (e.g. mitotic figures in a field): points from masks,
one-to-one matching within a distance, F1 of matched points.

A point is the centroid of a connected blob of a binary map. Predicted and true points are
matched one-to-one (Hungarian assignment on distance, pairs farther than ``max_distance``
never match), so a blob counted twice, or two figures merged into one blob, cost a false
positive or a false negative.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment


def mask_points(mask: np.ndarray, region: np.ndarray | None = None) -> np.ndarray:
    """(n, 2) centroids (x, y) of the 8-connected blobs of ``mask`` whose centroid lies in
    ``region`` (everywhere when None)."""
    n, _, _, centroids = cv2.connectedComponentsWithStats(
        np.ascontiguousarray(mask, dtype=np.uint8), connectivity=8
    )
    points = centroids[1:n]
    if region is not None and len(points):
        rows = np.clip(np.rint(points[:, 1]).astype(int), 0, region.shape[0] - 1)
        cols = np.clip(np.rint(points[:, 0]).astype(int), 0, region.shape[1] - 1)
        points = points[region[rows, cols]]
    return points.reshape(-1, 2)


def match_points(truth: np.ndarray, predicted: np.ndarray, max_distance: float) -> dict[str, int]:
    """True positives, false positives and false negatives of a one-to-one matching."""
    truth = np.asarray(truth, dtype=float).reshape(-1, 2)
    predicted = np.asarray(predicted, dtype=float).reshape(-1, 2)
    if len(truth) == 0 or len(predicted) == 0:
        return {"tp": 0, "fp": len(predicted), "fn": len(truth)}
    distance = np.linalg.norm(truth[:, None, :] - predicted[None, :, :], axis=-1)
    too_far = distance > max_distance
    rows, cols = linear_sum_assignment(np.where(too_far, 1e9, distance))
    tp = int((~too_far[rows, cols]).sum())
    return {"tp": tp, "fp": len(predicted) - tp, "fn": len(truth) - tp}


def detection_scores(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall and F1 of matched points; NaN where a ratio has nothing to count."""
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return {"precision": precision, "recall": recall, "f1": f1}


def pooled_detection(matches: Sequence[dict[str, int]]) -> dict[str, float]:
    """Detection scores over all images' matches summed (micro average)."""
    total = {key: sum(m[key] for m in matches) for key in ("tp", "fp", "fn")}
    return detection_scores(**total)


def count_measures(mask: np.ndarray, region: np.ndarray) -> dict[str, float]:
    """The number of points (blobs) in a binary map, as a per-image quantification."""
    return {"count": float(len(mask_points(mask, region)))}
