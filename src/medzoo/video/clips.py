"""Test clips made by animating one still image, for streaming checks where no public video
exists. Every frame is the still moved by a smooth random camera path, then degraded:

- ``ultrasound``: probe pan and zoom, fresh multiplicative speckle each frame, gain drift;
- ``handheld`` (smartphone photo of skin): hand tremor, motion blur, exposure changes.

Lesion boxes, if given, move with the image, so each frame has its true boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

STYLES = ("ultrasound", "handheld")


@dataclass(frozen=True)
class Clip:
    frames: list[np.ndarray]  # uint8, the still's shape
    boxes: list[np.ndarray]  # (k, 4) per frame
    fps: float


def _camera_path(rng: np.random.Generator, n: int, style: str) -> np.ndarray:
    """(n, 4): x and y shift (share of the side), zoom factor, rotation (degrees)."""
    if style == "ultrasound":
        steps = rng.normal(0.0, [0.006, 0.004, 0.004, 0.2], size=(n, 4))
        path = np.cumsum(steps, axis=0)
    else:
        drift = np.cumsum(rng.normal(0.0, [0.004, 0.004, 0.003, 0.3], size=(n, 4)), axis=0)
        tremor = rng.normal(0.0, [0.01, 0.01, 0.005, 0.8], size=(n, 4))
        path = drift + tremor
    path[:, 2] = np.exp(np.clip(path[:, 2], -0.25, 0.25))
    path[:, :2] = np.clip(path[:, :2], -0.12, 0.12)
    return path


def _warp_boxes(boxes: np.ndarray, matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boxes through an affine map, clipped to the frame; a box less than half inside is lost."""
    out = []
    for x1, y1, x2, y2 in np.asarray(boxes).reshape(-1, 4):
        corners = np.array([[x1, y1, 1], [x2, y1, 1], [x1, y2, 1], [x2, y2, 1]]) @ matrix.T
        lo, hi = corners.min(axis=0), corners.max(axis=0)
        clipped = np.clip([lo[0], lo[1], hi[0], hi[1]], 0, [width, height, width, height])
        full = (hi[0] - lo[0]) * (hi[1] - lo[1])
        inside = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1])
        if full > 0 and inside >= 0.5 * full:
            out.append(clipped)
    return np.array(out, dtype=np.float64).reshape(-1, 4)


def _motion_blur(image: np.ndarray, length: int, angle: float) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rotation = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (length, length))
    return cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))


def animate(
    image: np.ndarray,
    n_frames: int,
    seed: int,
    style: str = "ultrasound",
    boxes: np.ndarray | Sequence | None = None,
    fps: float = 10.0,
) -> Clip:
    """A clip of ``n_frames`` frames from one still (grey or RGB uint8)."""
    if style not in STYLES:
        raise ValueError(f"unknown clip style {style!r}; choose from {STYLES}")
    if n_frames < 1:
        raise ValueError("a clip needs at least one frame")
    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    path = _camera_path(rng, n_frames, style)
    gain = 1.0 + np.cumsum(rng.normal(0.0, 0.02, n_frames)).clip(-0.3, 0.3)
    boxes = np.zeros((0, 4)) if boxes is None else np.asarray(boxes, dtype=np.float64)
    frames, frame_boxes = [], []
    border = cv2.BORDER_CONSTANT if style == "ultrasound" else cv2.BORDER_REFLECT
    for (dx, dy, zoom, angle), g in zip(path, gain, strict=True):
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, zoom)
        matrix[:, 2] += (dx * width, dy * height)
        frame = cv2.warpAffine(image, matrix, (width, height), borderMode=border).astype(np.float32)
        if style == "ultrasound":
            speckle = rng.gamma(8.0, 1.0 / 8.0, size=frame.shape[:2]).astype(np.float32)
            frame = frame * (speckle if frame.ndim == 2 else speckle[..., None]) * g
        else:
            if rng.random() < 0.5:
                frame = _motion_blur(frame, int(rng.integers(3, 12)), rng.uniform(0, 180))
            frame = 255.0 * (np.clip(frame, 0, 255) / 255.0) ** rng.uniform(0.7, 1.4) * g
        frames.append(np.clip(frame, 0, 255).astype(np.uint8).reshape(image.shape))
        frame_boxes.append(_warp_boxes(boxes, matrix, width, height))
    return Clip(frames, frame_boxes, fps)
