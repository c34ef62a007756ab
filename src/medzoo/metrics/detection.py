"""Box detection figures: one-to-one matching at an IoU, pooled recall / precision / F1 with
bootstrap CIs over images, and average precision (AP50).

An image's detections are ``(boxes (k, 4) x1 y1 x2 y2, scores (k,))``; its truth is ``(g, 4)``.
Matching is greedy by descending score, each true box matched at most once (as in PASCAL VOC
and COCO): a second box on an already found lesion is a false positive.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medzoo.metrics.bootstrap import bootstrap_ci


@dataclass(frozen=True)
class Detections:
    """One image's boxes (k, 4) in pixels, x2/y2 exclusive, and their scores (k,)."""

    boxes: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        if len(boxes) != len(scores):
            raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)

    def above(self, threshold: float) -> Detections:
        keep = self.scores >= threshold
        return Detections(self.boxes[keep], self.scores[keep])

    def subset(self, keep: np.ndarray) -> Detections:
        return Detections(self.boxes[keep], self.scores[keep])

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0))


def as_truth(boxes: np.ndarray | Sequence) -> np.ndarray:
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (n, 4) with every box in ``b`` (m, 4)."""
    a, b = as_truth(a), as_truth(b)
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 2], b[None, :, 2])
    bottom = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def match(detections: Detections, truth: np.ndarray, iou: float = 0.5) -> np.ndarray:
    """Whether each detection (in its given order) is a true positive."""
    truth = as_truth(truth)
    hits = np.zeros(len(detections.scores), dtype=bool)
    if not len(truth) or not len(hits):
        return hits
    overlaps = box_iou(detections.boxes, truth)
    taken = np.zeros(len(truth), dtype=bool)
    for index in np.argsort(-detections.scores, kind="stable"):
        candidates = np.where(~taken, overlaps[index], -1.0)
        best = int(np.argmax(candidates))
        if candidates[best] >= iou:
            taken[best] = True
            hits[index] = True
    return hits


def counts(
    detections: Sequence[Detections], truths: Sequence[np.ndarray], iou: float = 0.5
) -> np.ndarray:
    """(images, 3) true positives, false positives and missed true boxes per image."""
    rows = []
    for found, truth in zip(detections, truths, strict=True):
        tp = int(match(found, truth, iou).sum())
        rows.append((tp, len(found.scores) - tp, len(as_truth(truth)) - tp))
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)


def recall_precision_f1(tally: np.ndarray) -> dict[str, float]:
    """Pooled figures from per-image counts; a figure with a zero denominator is NaN."""
    tp, fp, fn = (float(v) for v in np.asarray(tally).reshape(-1, 3).sum(axis=0))
    recall = tp / (tp + fn) if tp + fn else float("nan")
    precision = tp / (tp + fp) if tp + fp else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return {"recall": recall, "precision": precision, "f1": f1}


def average_precision(
    detections: Sequence[Detections], truths: Sequence[np.ndarray], iou: float = 0.5
) -> float:
    """Area under the all-point interpolated precision-recall curve (VOC 2010+ / AP50)."""
    n_true = sum(len(as_truth(t)) for t in truths)
    if n_true == 0:
        return float("nan")
    scores = np.concatenate([d.scores for d in detections] or [np.zeros(0)])
    hits = np.concatenate(
        [match(d, t, iou) for d, t in zip(detections, truths, strict=True)] or [np.zeros(0)]
    )
    if not len(scores):
        return 0.0
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(hits[order])
    fp = np.cumsum(~hits[order])
    recall = np.concatenate([[0.0], tp / n_true])
    precision = np.concatenate([[1.0], tp / np.maximum(tp + fp, 1)])
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum(np.diff(recall) * envelope[1:]))


def choose_score_threshold(
    detections: Sequence[Detections], truths: Sequence[np.ndarray], iou: float = 0.5
) -> float:
    """The score threshold that maximises pooled F1 (ties: the lowest threshold)."""
    candidates = np.unique(np.concatenate([d.scores for d in detections] or [np.zeros(0)]))
    if not len(candidates):
        return 0.5
    best, best_f1 = float(candidates[0]), -1.0
    for threshold in candidates:
        tally = counts([d.above(threshold) for d in detections], truths, iou)
        f1 = recall_precision_f1(tally)["f1"]
        if not np.isnan(f1) and f1 > best_f1:
            best, best_f1 = float(threshold), f1
    return best


def detection_block(
    detections: Sequence[Detections],
    truths: Sequence[np.ndarray],
    iou: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
    units: Sequence | None = None,
) -> dict:
    """Recall, precision and F1 at ``iou`` with percentile CIs from resampling images, or the
    ``units`` images belong to (e.g. the clip of each frame), stratified by whether a unit
    holds a true box; plus the raw counts."""
    tally = counts(detections, truths, iou)
    has_truth = np.array([len(as_truth(t)) > 0 for t in truths])
    if units is not None:
        keys, inverse = np.unique(np.asarray(units), return_inverse=True)
        tally = np.stack([tally[inverse == k].sum(axis=0) for k in range(len(keys))])
        has_truth = np.array([has_truth[inverse == k].any() for k in range(len(keys))])
    figures = recall_precision_f1(tally)
    intervals = bootstrap_ci(lambda idx: recall_precision_f1(tally[idx]), has_truth, n_boot, seed)
    tp, fp, fn = (int(v) for v in tally.sum(axis=0))
    return {
        **{
            name: {"value": float(value), "ci95": list(intervals[name])}
            for name, value in figures.items()
        },
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "images": len(truths),
        "units": len(tally),
        "true_boxes": tp + fn,
        "iou": iou,
    }


class PersistenceFilter:
    """Report a box only when a box overlapping it (IoU >= ``iou``) was seen in at least ``k``
    of the last ``n`` frames, this one included: isolated false boxes flicker and drop out."""

    def __init__(self, k: int, n: int, iou: float = 0.3) -> None:
        if not 1 <= k <= n:
            raise ValueError(f"persistence needs 1 <= k <= n, got k={k}, n={n}")
        self.k, self.n, self.iou = k, n, iou
        self.history: deque[np.ndarray] = deque(maxlen=n - 1)

    def __call__(self, found: Detections) -> Detections:
        support = np.ones(len(found.scores), dtype=int)  # the frame itself
        for past in self.history:
            if len(past) and len(found.scores):
                support += (box_iou(found.boxes, past) >= self.iou).any(axis=1)
        self.history.append(found.boxes)
        return found.subset(support >= self.k)


def persistent(frames: Sequence[Detections], k: int, n: int, iou: float = 0.3) -> list[Detections]:
    keep = PersistenceFilter(k, n, iou)
    return [keep(found) for found in frames]


def persistent_by_sequence(
    frames: Sequence[Detections], sequences: Sequence, k: int, n: int, iou: float = 0.3
) -> list[Detections]:
    """``persistent`` run within each sequence separately, frames in the order given."""
    sequences = np.asarray(sequences)
    out: list[Detections] = list(frames)
    for key in dict.fromkeys(sequences.tolist()):
        rows = np.flatnonzero(sequences == key)
        for row, kept in zip(rows, persistent([frames[r] for r in rows], k, n, iou), strict=True):
            out[row] = kept
    return out


def sequence_detection(
    detections: Sequence[Detections],
    truths: Sequence[np.ndarray],
    sequences: Sequence,
    iou: float = 0.5,
    k: int = 1,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """Per video sequence: its polyp counts as *found* when at least ``k`` of its frames hold
    a true positive at ``iou``; and the false boxes it shows. CIs resample sequences.

    Figures: ``found`` (share of sequences found), ``false_boxes_per_sequence`` (mean over
    sequences) and ``false_boxes_per_frame`` (all false boxes over all frames).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    tally = counts(detections, truths, iou)
    keys, inverse = np.unique(np.asarray(sequences), return_inverse=True)
    hit_frames = np.bincount(inverse, weights=tally[:, 0] > 0, minlength=len(keys))
    found = hit_frames >= k
    false = np.bincount(inverse, weights=tally[:, 1], minlength=len(keys))
    frames = np.bincount(inverse, minlength=len(keys))

    def stats(idx: np.ndarray) -> dict[str, float]:
        return {
            "found": float(found[idx].mean()),
            "false_boxes_per_sequence": float(false[idx].mean()),
            "false_boxes_per_frame": float(false[idx].sum() / frames[idx].sum()),
        }

    point = stats(np.arange(len(keys)))
    intervals = bootstrap_ci(stats, np.zeros(len(keys)), n_boot, seed)
    return {
        **{name: {"value": value, "ci95": list(intervals[name])} for name, value in point.items()},
        "k": k,
        "sequences": len(keys),
        "sequences_found": int(found.sum()),
        "frames": int(frames.sum()),
        "iou": iou,
    }
