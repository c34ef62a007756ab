"""Lesion boxes in a manifest: a ``boxes`` column of ``x1 y1 x2 y2`` groups joined by ``;``
(pixels of the stored image, x2/y2 exclusive; empty for an image without a lesion)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from medzoo.data.manifest import ManifestError


def format_boxes(boxes: np.ndarray) -> str:
    return ";".join(" ".join(f"{v:.1f}" for v in box) for box in np.asarray(boxes).reshape(-1, 4))


def parse_boxes(text: str, source: str = "manifest") -> np.ndarray:
    """(k, 4) float boxes from a ``boxes`` cell; a clear error for a malformed cell."""
    text = str(text or "").strip()
    if not text:
        return np.zeros((0, 4))
    try:
        boxes = np.array([[float(v) for v in part.split()] for part in text.split(";")])
    except ValueError as err:
        raise ManifestError(
            f"{source}: unreadable boxes {text!r}; write 'x1 y1 x2 y2;...'"
        ) from err
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ManifestError(f"{source}: each box needs 4 numbers (x1 y1 x2 y2), got {text!r}")
    if ((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])).any():
        raise ManifestError(f"{source}: a box has x2 <= x1 or y2 <= y1 in {text!r}")
    return boxes


def boxes_from_mask(mask: np.ndarray, min_area: int = 20) -> np.ndarray:
    """One box per 8-connected component of ``mask`` with at least ``min_area`` pixels."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    rows = [(x, y, x + w, y + h) for x, y, w, h, area in stats[1:n] if area >= min_area]
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def attach_boxes(frame: pd.DataFrame, boxes_csv: Path) -> pd.DataFrame:
    """Add the ``boxes`` column from a packed dataset's ``boxes.csv`` (one row per box, image
    paths relative to the CSV's folder; images absent from it have no lesion)."""
    if not boxes_csv.is_file():
        raise ManifestError(f"{boxes_csv} does not exist; this dataset has no boxes to detect")
    table = pd.read_csv(boxes_csv)
    table["image"] = [str((boxes_csv.parent / p).resolve()) for p in table["image"]]
    cells = table.groupby("image")[["x1", "y1", "x2", "y2"]].apply(
        lambda rows: format_boxes(rows.to_numpy())
    )
    out = frame.copy()
    out["boxes"] = out["image"].map(cells).fillna("")
    return out
