"""Reading images from disk and bringing them to a model's square input size.

Every decode is bounded: an image above ``max_pixels`` is never decoded in full. A JPEG that
large is decoded at a reduced scale (libjpeg's DCT scaling, PIL ``draft``), which costs a
fraction of a full decode; any other format above it is refused with the fix. Images below
the limit decode exactly as they always did.
"""

from __future__ import annotations

import io
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

CHANNEL_MODES = {1: "L", 3: "RGB"}

# Far above any scanner, camera or radiograph (mammograms are ~30 MP); whole-slide images are
# not read through PIL. ``data.max_image_pixels`` changes it.
MAX_PIXELS = 100_000_000


class ImageReadError(ValueError):
    """An image file that is missing, cannot be decoded, or is too large to decode."""


class ImageTooLargeError(ImageReadError):
    """An image above the pixel limit that cannot be decoded at a reduced scale."""

    def __init__(self, path: str | Path, width: int, height: int, max_pixels: int) -> None:
        self.size_text = (
            f"{width} × {height} ({_megapixels(width * height)}), above the "
            f"{_megapixels(max_pixels)} limit for decoding one image"
        )
        super().__init__(f"image {path} is {self.size_text}: {TOO_LARGE_FIX}")


TOO_LARGE_FIX = (
    "save a downscaled copy (models here take a few hundred pixels) or raise data.max_image_pixels"
)


def pil_open(path: str | Path | io.BytesIO) -> Image.Image:
    """PIL's own ``Image.open``. Importing ultralytics replaces it with one that, on a file PIL
    cannot identify, tries to pip-install and import pi-heif (a download at run time, and a
    ModuleNotFoundError offline) where PIL would raise ``UnidentifiedImageError``; medzoo's
    validation relies on that error to name the file."""
    opener = Image.open
    patches = sys.modules.get("ultralytics.utils.patches")
    if patches is not None and opener is getattr(patches, "image_open", None):
        opener = patches._image_open
    return opener(path)


@contextmanager
def _own_pixel_limit() -> Iterator[None]:
    """medzoo applies its own limit before decoding, so PIL's decompression-bomb warning (and
    its hard stop at twice that) would only repeat it, or refuse what the user allowed."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _megapixels(pixels: float) -> str:
    return f"{pixels / 1e6:.0f} MP" if pixels >= 1e7 else f"{pixels / 1e6:.1f} MP"


def _bounded(img: Image.Image, path: str | Path, max_pixels: int, size: int | None) -> None:
    """Make ``img`` decode within ``max_pixels``. ``size``: the square side the caller fits it
    to; only then may a large JPEG be decoded reduced (no further than ``size`` needs), since
    a caller that keeps pixel coordinates (boxes, masks) needs the image at its own size."""
    width, height = img.size
    if width * height <= max_pixels:
        return
    if img.format == "JPEG" and size is not None:
        scale = (max_pixels / (width * height)) ** 0.5
        wanted = (min(max(1, int(width * scale)), size), min(max(1, int(height * scale)), size))
        img.draft(img.mode, wanted)  # the smallest DCT scale (1/2..1/8) still >= wanted
        if img.size[0] * img.size[1] <= max_pixels:
            return
    raise ImageTooLargeError(path, width, height, max_pixels)


def read_image(
    path: str | Path, channels: int, size: int | None = None, max_pixels: int = MAX_PIXELS
) -> np.ndarray:
    """Decode ``path`` to a uint8 array of shape (H, W, channels), within ``max_pixels``."""
    if channels not in CHANNEL_MODES:
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB); got {channels}")
    try:
        with _own_pixel_limit(), pil_open(path) as img:
            _bounded(img, path, max_pixels, size)
            array = np.asarray(img.convert(CHANNEL_MODES[channels]), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as err:
        raise ImageReadError(f"cannot read image {path}: {err}") from err
    return array[..., None] if channels == 1 else array


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding it."""
    with _own_pixel_limit(), pil_open(path) as img:
        return img.size


def decode_problem(
    data: bytes, path: str | Path, max_pixels: int = MAX_PIXELS
) -> tuple[str, str] | None:
    """Why the image in ``data`` cannot be trained on, as ``("too large" | "undecodable",
    detail)``, or ``None``. Decodes it through to the last byte (PIL's ``verify()`` misses a
    file cut short): a JPEG at 1/8 scale, which reads every byte at a fraction of the cost,
    anything else in full within ``max_pixels``."""
    try:
        with _own_pixel_limit(), pil_open(io.BytesIO(data)) as img:
            if img.format == "JPEG":
                img.draft(img.mode, (1, 1))
            _bounded(img, path, max_pixels, None)
            img.load()
    except ImageTooLargeError as err:
        return "too large", err.size_text
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as err:
        return "undecodable", str(err)
    return None


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
