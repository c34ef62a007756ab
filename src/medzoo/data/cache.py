"""Decoded, resized images kept on disk as one uint8 array per image list.

On two CPU cores JPEG decoding would otherwise take as long as the model's forward pass.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medzoo.data.images import MAX_PIXELS, fit_square, read_image
from medzoo.paths import cache_dir

log = logging.getLogger(__name__)

CACHE_VERSION = "1"


def _cache_key(paths: Sequence[str], size: int, channels: int, max_pixels: int) -> str:
    digest = hashlib.sha256(f"v{CACHE_VERSION}|{size}|{channels}|{max_pixels}".encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f"|{path}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


def load_images(
    paths: Sequence[str],
    size: int,
    channels: int,
    directory: Path | None = None,
    max_pixels: int = MAX_PIXELS,
) -> np.ndarray:
    """Return a (n, size, size, channels) uint8 array for ``paths``, decoding only on a miss.

    The key covers every path with its size and modification time, so an edited file is
    decoded again. ``max_pixels`` bounds each decode (``medzoo.data.images``).
    """
    directory = directory or cache_dir()
    target = directory / f"images-{_cache_key(paths, size, channels, max_pixels)}.npy"
    if target.is_file():
        array = np.load(target)
        if array.shape == (len(paths), size, size, channels):
            return array
    log.info("decoding %d images to %d px (cached in %s)", len(paths), size, target)
    array = (
        np.stack([fit_square(read_image(p, channels, size, max_pixels), size) for p in paths])
        if paths
        else (np.zeros((0, size, size, channels), dtype=np.uint8))
    )
    partial = target.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(partial, array)
    partial.replace(target)  # atomic: a concurrent reader never sees half a file
    return array
