"""A trained model as a plain object: preprocessing (letterbox to the training size) and
batched prediction. ``medzoo.load`` (``medzoo.loading``) builds one from a run.

Classification runs return class probabilities; segmentation runs return one probability map
per image at the image's own size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch

from medzoo.data.datamodule import to_tensor
from medzoo.data.images import fit_square, read_image, to_channels, unfit_square
from medzoo.models.views import predict

ImageLike = str | Path | np.ndarray


class Predictor:
    """Applies a run's preprocessing (letterbox to the training size) and returns probabilities.

    ``preprocessing``: the model card's (``image_size``, ``channels``); without one, the sizes
    saved in the checkpoint's hyperparameters.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        preprocessing: Mapping[str, object] | None = None,
    ) -> None:
        self.module = module.eval()
        self.class_names: list[str] = list(module.class_names)
        steps = preprocessing or {}
        self.image_size: int = int(steps.get("image_size", module.hparams.image_size))
        self.channels: int = int(steps.get("channels", module.hparams.in_chans))
        self.head: str = module.hparams.head
        self.per_pixel: bool = bool(getattr(module, "per_pixel", False))  # maps, not scores
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

    def prepare(self, images: Iterable[ImageLike]) -> np.ndarray:
        """(n, size, size, channels) uint8: the images as the model sees them (letterboxed),
        before scaling to [0, 1] (``medzoo.data.datamodule.to_tensor``)."""
        return np.stack([fit_square(self._read(image), self.image_size) for image in images])

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
        if self.per_pixel:
            return [
                unfit_square(self._segment(square), *original.shape[:2])
                for square, original in zip(prepared, originals, strict=True)
            ]
        if not prepared:
            return np.zeros((0, len(self.class_names)))
        out = []
        for start in range(0, len(prepared), batch_size):
            batch = to_tensor(np.stack(prepared[start : start + batch_size]))
            out.append(predict(self.module, batch.to(self.module.device)).cpu().numpy())
        return np.concatenate(out)

    def _segment(self, square: np.ndarray) -> np.ndarray:
        batch = to_tensor(square[None]).to(self.module.device)
        return predict(self.module, batch)[0, 0].cpu().numpy()
