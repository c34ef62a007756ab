"""Stage 2: a crop classifier (lesion vs background) that may only remove the detector's boxes.

Training crops come from training and validation images only: positives are the true boxes
(jittered, as detector boxes are never exact) and detector boxes that hit a lesion; negatives
are random background windows and the detector's own false positives (hard negatives).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medzoo.data.images import fit_square, to_channels
from medzoo.metrics.detection import Detections, as_truth, box_iou
from medzoo.predictor import Predictor

VERIFIER_CLASSES = ("background", "lesion")


def crop(image: np.ndarray, box: np.ndarray, size: int, context: float = 0.15) -> np.ndarray:
    """The box grown by ``context`` of its size on each side, clipped, letterboxed to ``size``."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    grow_x, grow_y = context * (x2 - x1), context * (y2 - y1)
    left, top = max(0, int(x1 - grow_x)), max(0, int(y1 - grow_y))
    right, bottom = min(w, int(np.ceil(x2 + grow_x))), min(h, int(np.ceil(y2 + grow_y)))
    if right <= left or bottom <= top:
        raise ValueError(f"box {box} lies outside the {w}×{h} image")
    return fit_square(image[top:bottom, left:right], size)


def _jitter(box: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    dx, dy = rng.uniform(-amount, amount, 2) * (w, h)
    sw, sh = np.exp(rng.uniform(-amount, amount, 2))
    cx, cy = (x1 + x2) / 2 + dx, (y1 + y2) / 2 + dy
    return np.array([cx - sw * w / 2, cy - sh * h / 2, cx + sw * w / 2, cy + sh * h / 2])


def background_windows(
    truth: np.ndarray,
    shape: tuple[int, int],
    rng: np.random.Generator,
    count: int,
    max_iou: float = 0.1,
) -> np.ndarray:
    """Up to ``count`` random windows (10–40% of the image side) overlapping no true box by
    more than ``max_iou``."""
    h, w = shape
    out = []
    for _ in range(count * 20):
        if len(out) == count:
            break
        bw, bh = rng.uniform(0.1, 0.4) * w, rng.uniform(0.1, 0.4) * h
        x1, y1 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        box = np.array([x1, y1, x1 + bw, y1 + bh])
        if not len(truth) or box_iou(box[None], truth).max() <= max_iou:
            out.append(box)
    return np.array(out).reshape(-1, 4)


def training_crops(
    images: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    proposals: Sequence[Detections],
    size: int,
    seed: int,
    jitter_copies: int = 3,
    background_per_image: int = 2,
    context: float = 0.15,
) -> tuple[np.ndarray, np.ndarray]:
    """Crops (n, size, size, C) and labels (1 = lesion) from images with true boxes and the
    detector's proposals on them, cut with the margin (``context``) the verifier will use."""
    rng = np.random.default_rng(seed)
    crops, labels = [], []

    def add(image: np.ndarray, box: np.ndarray, label: int) -> None:
        h, w = image.shape[:2]
        box = np.clip(box, 0, [w, h, w, h])
        if box[2] - box[0] >= 2 and box[3] - box[1] >= 2:
            crops.append(crop(image, box, size, context))
            labels.append(label)

    for image, truth, found in zip(images, truths, proposals, strict=True):
        truth = as_truth(truth)
        for box in truth:
            add(image, box, 1)
            for _ in range(jitter_copies):
                add(image, _jitter(box, rng, 0.1), 1)
        overlap = (
            box_iou(found.boxes, truth).max(axis=1) if len(truth) else np.zeros(len(found.scores))
        )
        for box, best in zip(found.boxes, overlap, strict=True):
            if best >= 0.5:
                add(image, box, 1)
            elif best < 0.3:
                add(image, box, 0)
        for box in background_windows(truth, image.shape[:2], rng, background_per_image):
            add(image, box, 0)
    return np.stack(crops), np.array(labels, dtype=np.int64)


class Verifier:
    """Lesion probability of each proposed box, from a trained crop classifier."""

    def __init__(self, predictor: Predictor, context: float = 0.15) -> None:
        if tuple(predictor.class_names) != VERIFIER_CLASSES:
            raise ValueError(
                f"a verifier must classify {VERIFIER_CLASSES}, not {predictor.class_names}"
            )
        self.predictor, self.context = predictor, context

    def __call__(self, image: np.ndarray, found: Detections) -> np.ndarray:
        if not len(found.scores):
            return np.zeros(0)
        image = to_channels(image, self.predictor.channels)
        size = self.predictor.image_size
        crops = [crop(image, box, size, self.context) for box in found.boxes]
        return np.asarray(self.predictor.predict(crops))[:, 1]


def verified(found: Detections, lesion_probability: np.ndarray, threshold: float) -> Detections:
    """The detections the verifier keeps; it removes boxes and never adds or moves one."""
    return found.subset(np.asarray(lesion_probability) >= threshold)


def two_stage(
    found: Detections,
    lesion_probability: np.ndarray,
    detector_threshold: float,
    verifier_threshold: float,
) -> Detections:
    """What the two-stage pipeline reports from proposals scored by both stages: those at or
    above the detector threshold that the verifier keeps."""
    above = found.scores >= detector_threshold
    return verified(found.subset(above), np.asarray(lesion_probability)[above], verifier_threshold)
