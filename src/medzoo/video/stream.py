"""Frames from a video file or a folder of images, one at a time, with their times; and
writing frames back to a video. The one frame reader for every streaming task."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from medzoo.errors import UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")
FOLDER_FPS = 10.0  # a folder of frames carries no frame rate; pass fps= to change it


@dataclass(frozen=True)
class Frame:
    index: int
    time_s: float
    image: np.ndarray  # uint8 RGB (H, W, 3)
    name: str


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def list_images(target: str | Path) -> tuple[Path, list[Path]]:
    """The folder the images are named relative to, and the images (recursively, sorted)."""
    path = Path(target).expanduser()
    if path.is_file():
        return path.parent, [path]
    if not path.is_dir():
        raise FileNotFoundError(f"input {path} does not exist; pass an image file or a folder")
    images = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise UsageError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {path}")
    return path, images


class FrameStream:
    """``for frame in FrameStream(path)``: a video's frames at its own rate, or a folder's
    images in name order at ``fps`` (default 10)."""

    def __init__(self, source: str | Path, fps: float | None = None) -> None:
        self.source = Path(source).expanduser()
        if not self.source.exists():
            raise FileNotFoundError(f"input {self.source} does not exist")
        if is_video(self.source):
            capture = cv2.VideoCapture(str(self.source))
            if not capture.isOpened():
                raise UsageError(f"cannot open video {self.source}; is it a readable video file?")
            native = capture.get(cv2.CAP_PROP_FPS)
            capture.release()
            self.fps = float(fps or (native if native and native > 0 else 0) or FOLDER_FPS)
            self.images: list[Path] = []
        elif self.source.is_dir():
            self.images = list_images(self.source)[1]
            self.fps = float(fps or FOLDER_FPS)
        else:
            raise UsageError(
                f"{self.source} is neither a video ({', '.join(VIDEO_SUFFIXES)}) nor a folder "
                "of frames"
            )
        if self.fps <= 0:
            raise UsageError(f"fps must be positive, got {self.fps}")

    def __iter__(self) -> Iterator[Frame]:
        if self.images:
            for index, path in enumerate(self.images):
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if image is None:
                    raise UsageError(f"cannot read frame {path}")
                rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
                yield Frame(index, index / self.fps, rgb, path.name)
            return
        capture = cv2.VideoCapture(str(self.source))
        try:
            index = 0
            while True:
                ok, image = capture.read()
                if not ok:
                    break
                rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
                yield Frame(index, index / self.fps, rgb, f"frame_{index:06d}")
                index += 1
        finally:
            capture.release()


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float) -> Path:
    """RGB or grey uint8 frames of one size to an MPEG-4 (mp4v) file; refuses to overwrite."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; medzoo never overwrites a file")
    writer, height, width = None, 0, 0
    try:
        for frame in frames:
            if frame.ndim == 2 or frame.shape[2] == 1:
                frame = np.repeat(frame.reshape(*frame.shape[:2], 1), 3, axis=2)
            if writer is not None and frame.shape[:2] != (height, width):
                raise ValueError(
                    f"{path}: frame of {frame.shape[1]}×{frame.shape[0]} px in a "
                    f"{width}×{height} video; every frame must have one size"
                )
            if writer is None:
                height, width = frame.shape[:2]
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                writer = cv2.VideoWriter(str(path), fourcc, float(fps), (width, height))
                if not writer.isOpened():
                    raise OSError(f"OpenCV cannot write {path} (mp4v)")
            writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))
    finally:
        if writer is not None:
            writer.release()
    return path
