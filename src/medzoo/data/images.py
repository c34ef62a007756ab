"""Reading images from disk and bringing them to a model's square input size."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

CHANNEL_MODES = {1: "L", 3: "RGB"}


class ImageReadError(ValueError):
    """An image file that is missing or cannot be decoded."""


def read_image(path: str | Path, channels: int) -> np.ndarray:
    """Decode ``path`` to a uint8 array of shape (H, W, channels)."""
    if channels not in CHANNEL_MODES:
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB); got {channels}")
    try:
        with Image.open(path) as img:
            array = np.asarray(img.convert(CHANNEL_MODES[channels]), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as err:
        raise ImageReadError(f"cannot read image {path}: {err}") from err
    return array[..., None] if channels == 1 else array


def to_channels(array: np.ndarray, channels: int) -> np.ndarray:
    """Bring an in-memory (H, W) or (H, W, C) uint8 image to (H, W, channels)."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ValueError(f"an image must be (H, W) or (H, W, C); got shape {array.shape}")
    have = array.shape[2]
    if have == channels:
        return array
    if have == 1 and channels == 3:
        return np.repeat(array, 3, axis=2)
    if have in (3, 4) and channels == 1:
        return cv2.cvtColor(np.ascontiguousarray(array[..., :3]), cv2.COLOR_RGB2GRAY)[..., None]
    if have == 4 and channels == 3:
        return np.ascontiguousarray(array[..., :3])
    raise ValueError(f"cannot convert an image with {have} channels to {channels}")


def fit_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize keeping the aspect ratio, then pad with black to ``size`` × ``size``.

    Padding rather than stretching keeps lesion shape (e.g. taller-than-wide, a malignancy sign
    in ultrasound) intact.
    """
    h, w = image.shape[:2]
    scale = size / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    if resized.ndim == 2:
        resized = resized[..., None]
    out = np.zeros((size, size, image.shape[2]), dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = resized
    return out


def unfit_square(square: np.ndarray, height: int, width: int) -> np.ndarray:
    """Undo ``fit_square`` for a per-pixel map: cut the padding, resize to (height, width)."""
    size = square.shape[0]
    scale = size / max(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    top, left = (size - new_h) // 2, (size - new_w) // 2
    content = square[top : top + new_h, left : left + new_w]
    return cv2.resize(content, (width, height), interpolation=cv2.INTER_LINEAR)
