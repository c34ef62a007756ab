"""Finding burnt-in text and overlays (names, IDs, dates, calipers) in ultrasound frames, and
synthetic frames to measure it on.

A classical method, no model and nothing to download: burnt-in text is drawn by the scanner
in (near-)white or in colour on a grey-level image, with thin strokes and sharp edges.

1. Strokes: a white top-hat keeps structures thinner than a few pixels that are much brighter
   than their surroundings and bright in absolute terms; coloured pixels (saturation) are
   overlays on a grey image by definition.
2. Lines of text: strokes closed horizontally into line candidates; a candidate is text when
   it is short (at most ``max_line_height`` of the frame), wider than tall, made of at least
   two separate marks, and neither nearly empty nor solid (speckle and bright tissue fail
   these).
   Ink must also be flat (one grey level, as rendered fonts are); a lone thin cross is a
   caliper mark.
3. The mask is each accepted line's box grown by ``margin`` px, plus the coloured pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from medzoo.data.phantom_drawing import breast_ultrasound


def _grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[..., 0]
    return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)


def overlay_mask(
    image: np.ndarray,
    stroke_px: int = 3,
    contrast: int = 60,
    brightness: int = 170,
    max_line_height: float = 0.08,
    margin: int = 2,
) -> np.ndarray:
    """Boolean (H, W): pixels to black out."""
    grey = _grey(np.asarray(image))
    height, width = grey.shape
    size = 2 * stroke_px + 1
    tophat = cv2.morphologyEx(
        grey, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    )
    strokes = ((tophat >= contrast) & (grey >= brightness)).astype(np.uint8)
    gap = max(3, 2 * stroke_px + 1)
    lines = cv2.morphologyEx(
        strokes, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (gap, 3))
    )
    mask = np.zeros((height, width), dtype=np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(lines, connectivity=8)
    for k in range(1, n):
        x, y, w, h, _ = stats[k]
        if h > max_line_height * height or h < 3 or (w < 1.2 * h and not 5 <= w <= 25):
            continue
        region = strokes[y : y + h, x : x + w] & (labels[y : y + h, x : x + w] == k)
        if not _flat_ink(grey[y : y + h, x : x + w][region.astype(bool)]):
            continue
        density = region.mean()
        marks = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)[0] - 1
        if (marks >= 2 and 0.08 <= density <= 0.75) or _caliper(region):
            cv2.rectangle(
                mask, (x - margin, y - margin), (x + w - 1 + margin, y + h - 1 + margin), 1, -1
            )
    if image.ndim == 3 and image.shape[2] >= 3:
        hsv = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2HSV)
        coloured = ((hsv[..., 1] >= 80) & (hsv[..., 2] >= 80)).astype(np.uint8)
        mask |= cv2.dilate(coloured, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    return mask.astype(bool)


def _flat_ink(values: np.ndarray, spread: int = 15, share: float = 0.6) -> bool:
    """Rendered ink is one flat grey level (its edges aside); speckle is not."""
    if values.size == 0:
        return False
    return float((np.abs(values.astype(int) - np.median(values)) <= spread).mean()) >= share


def _caliper(region: np.ndarray) -> bool:
    """A caliper cross: one thin mark whose middle row and middle column are both inked."""
    h, w = region.shape
    if not (5 <= h <= 25 and 5 <= w <= 25 and 0.7 <= w / h <= 1.4):
        return False
    row = region[h // 2 - 1 : h // 2 + 2].any(axis=0).mean()
    column = region[:, w // 2 - 1 : w // 2 + 2].any(axis=1).mean()
    return bool(row >= 0.8 and column >= 0.8 and region.mean() <= 0.45)


def masked(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.array(image, copy=True)
    out[mask] = 0
    return out


FIRST = ("YAMADA", "SATO", "SUZUKI", "TANAKA", "ITO", "WATANABE", "NAKAMURA", "KOBAYASHI")
GIVEN = ("Taro", "Hanako", "Kenji", "Yuki", "Akira", "Emi", "Hiroshi", "Naomi")


def synthetic_frame(
    rng: np.random.Generator, height: int = 360, width: int = 480
) -> tuple[np.ndarray, np.ndarray]:
    """A scanner-screen-like grey frame: a phantom B-mode image inside a black canvas, with a
    patient name, ID, date and time in the margins, a probe label inside the image and
    caliper crosses. Returns the frame (uint8) and the exact mask of rendered text pixels."""
    frame = np.zeros((height, width), dtype=np.uint8)
    size = int(0.75 * height)
    top, left = int(0.18 * height), (width - size) // 2
    label = ("benign", "malignant", "normal")[int(rng.integers(3))]
    frame[top : top + size, left : left + size] = breast_ultrasound(rng, size, label)
    text = np.zeros_like(frame)
    lines = [
        f"{rng.choice(FIRST)} {rng.choice(GIVEN)}",
        f"ID {int(rng.integers(10**7, 10**8))}",
        f"20{int(rng.integers(10, 26))}/{int(rng.integers(1, 13)):02d}/"
        f"{int(rng.integers(1, 29)):02d} {int(rng.integers(0, 24)):02d}:"
        f"{int(rng.integers(0, 60)):02d}",
    ]
    scale = rng.uniform(0.4, 0.55)
    y = int(0.05 * height)
    for line in lines[:2]:
        cv2.putText(text, line, (int(0.02 * width), y), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 1)
        y += int(0.05 * height)
    cv2.putText(
        text,
        lines[2],
        (int(0.62 * width), int(0.05 * height)),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        255,
        1,
    )
    probe = f"L{int(rng.integers(5, 15))} {rng.choice(['RT', 'LT'])} BREAST"
    cv2.putText(
        text, probe, (left + 6, top + size - 8), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.9, 255, 1
    )
    for _ in range(2):
        cx, cy = left + int(rng.integers(20, size - 20)), top + int(rng.integers(20, size - 20))
        cv2.drawMarker(text, (cx, cy), 255, cv2.MARKER_CROSS, 9, 1)
    ink = text > 0
    frame[ink] = np.maximum(frame[ink], rng.integers(220, 256))
    return frame, ink


def masking_figures(mask: np.ndarray, ink: np.ndarray, tissue: np.ndarray) -> dict[str, float]:
    """Share of text pixels masked, and share of tissue pixels (not text) wrongly masked."""
    return {
        "text_masked": float(mask[ink].mean()) if ink.any() else float("nan"),
        "tissue_masked": float(mask[tissue & ~ink].mean()) if (tissue & ~ink).any() else 0.0,
    }
