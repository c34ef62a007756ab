"""``medzoo.load(run_dir_or_checkpoint).predict(images)``: a trained model as a plain object.

Classification runs return class probabilities; segmentation runs return one probability map
per image at the image's own size.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from medzoo.data.datamodule import to_tensor
from medzoo.data.images import fit_square, read_image, to_channels, unfit_square
from medzoo.rundir import RunDirectory
from medzoo.tasks.module import ClassificationModule
from medzoo.tasks.segmentation import SegmentationModule

ImageLike = str | Path | np.ndarray


class Predictor:
    """Applies a run's preprocessing (letterbox to the training size) and returns probabilities."""

    def __init__(self, module: ClassificationModule | SegmentationModule) -> None:
        self.module = module.eval()
        self.class_names: list[str] = list(module.class_names)
        self.image_size: int = int(module.hparams.image_size)
        self.channels: int = int(module.hparams.in_chans)
        self.head: str = module.hparams.head
        self.task: str = module.hparams.task

    def _read(self, image: ImageLike) -> np.ndarray:
        if isinstance(image, (str, Path)):
            array = read_image(image, self.channels)
        else:
            array = np.asarray(image)
            if array.dtype != np.uint8:
                raise ValueError(
                    f"in-memory images must be uint8 (0–255), as read from disk; got {array.dtype}"
                )
            array = to_channels(array, self.channels)
        return array

    @torch.inference_mode()
    def predict(
        self, images: Iterable[ImageLike], batch_size: int = 64
    ) -> np.ndarray | list[np.ndarray]:
        """Class probabilities, shape (n, classes), columns in ``self.class_names`` order; for a
        segmentation run, a list of (H, W) probability maps, one per image at its own size.

        ``images``: file paths or uint8 arrays (H, W) / (H, W, C).
        """
        originals = [self._read(image) for image in images]
        prepared = [fit_square(array, self.image_size) for array in originals]
        if self.head == "segmentation":
            return [
                unfit_square(self._segment(square), *original.shape[:2])
                for square, original in zip(prepared, originals, strict=True)
            ]
        if not prepared:
            return np.zeros((0, len(self.class_names)))
        out = []
        for start in range(0, len(prepared), batch_size):
            batch = to_tensor(np.stack(prepared[start : start + batch_size]))
            logits = self.module(batch.to(self.module.device))
            out.append(self.module.probabilities(logits).cpu().numpy())
        return np.concatenate(out)

    def _segment(self, square: np.ndarray) -> np.ndarray:
        batch = to_tensor(square[None]).to(self.module.device)
        return self.module.probabilities(self.module(batch))[0, 0].cpu().numpy()


def load(path: str | Path) -> Predictor:
    """A ``Predictor`` from a run directory (its best checkpoint) or a ``.ckpt`` file."""
    from medzoo.pipeline import load_module

    path = Path(path).expanduser()
    checkpoint = path if path.is_file() else RunDirectory.open(path).best_checkpoint()
    return Predictor(load_module(checkpoint))
