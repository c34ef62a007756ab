"""Segmentation manifests → cached image/mask arrays → random training crops and whole
evaluation images."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from medzoo.data.cache import load_images
from medzoo.data.datamodule import SplitManifest, to_tensor
from medzoo.data.images import MAX_PIXELS, fit_square, image_size
from medzoo.data.manifest import SPLITS, ManifestError
from medzoo.data.near_duplicates import link_near_duplicates
from medzoo.data.recipes import build_manifest, describe_source
from medzoo.data.splits import ensure_splits
from medzoo.data.transforms import augment, build_augmentation
from medzoo.data.validate import validate_segmentation_manifest
from medzoo.paths import data_root

log = logging.getLogger(__name__)


def letterbox_region(path: str, size: int) -> np.ndarray:
    """Where ``fit_square`` puts the image's own pixels (not the padding) at ``size``."""
    width, height = image_size(path)
    ones = np.ones((height, width, 1), dtype=np.uint8)
    return fit_square(ones, size)[..., 0].astype(bool)


def load_masks(paths: Sequence[str], size: int, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """(n, size, size) boolean masks, letterboxed like their images; a blank path = all True."""
    present = [p for p in paths if p]
    arrays = iter(load_images(present, size, 1, None, max_pixels)[..., 0] >= 128)
    return np.stack([next(arrays) if p else np.ones((size, size), bool) for p in paths])


class CropDataset(Dataset):
    """``crops_per_image`` random square crops of every training image per epoch.

    Crop positions come from torch's global generator, so ``seed_everything`` makes them
    reproducible and every epoch sees new ones.
    """

    def __init__(
        self,
        images: np.ndarray,
        masks: np.ndarray,
        crop_size: int,
        crops_per_image: int,
        augment=None,
    ) -> None:
        size = images.shape[1]
        if crop_size > size:
            raise ValueError(f"crop_size {crop_size} exceeds the image size {size}")
        self.images, self.masks, self.augment = images, masks, augment
        self.crop_size, self.crops_per_image = crop_size, crops_per_image

    def __len__(self) -> int:
        return len(self.images) * self.crops_per_image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image_index = index // self.crops_per_image
        size = self.images.shape[1]
        top, left = torch.randint(0, size - self.crop_size + 1, (2,)).tolist()
        window = np.s_[top : top + self.crop_size, left : left + self.crop_size]
        image = self.images[image_index][window]
        mask = self.masks[image_index][window].astype(np.uint8)
        if self.augment is not None:
            out = augment(self.augment, image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        return to_tensor(image), torch.from_numpy(np.ascontiguousarray(mask)).float()[None]


class WholeImageDataset(Dataset):
    """Whole images with their target mask and the region (FOV) in which they are scored."""

    def __init__(self, images: np.ndarray, masks: np.ndarray, regions: np.ndarray) -> None:
        self.images, self.masks, self.regions = images, masks, regions

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (
            to_tensor(self.images[index]),
            torch.from_numpy(self.masks[index]).float()[None],
            torch.from_numpy(self.regions[index])[None],
        )


class SegmentationDataModule(SplitManifest, L.LightningDataModule):
    """Builds a segmentation manifest (image, mask[, fov, mask_2nd]) and serves crops."""

    def __init__(
        self,
        recipe: str,
        image_size: int,
        channels: int,
        crop_size: int,
        crops_per_image: int = 32,
        root: str | None = None,
        params: Mapping | None = None,
        split: Mapping | None = None,
        batch_size: int = 16,
        num_workers: int = 0,
        augment: Sequence[Mapping] | None = None,
        near_duplicates: int | None = None,
        near_duplicates_across_splits: str = "error",
        max_image_pixels: int | None = None,
        allow_outside_root: bool = False,
    ) -> None:
        super().__init__()
        self.recipe = recipe
        self.near_duplicates = near_duplicates
        self.near_duplicates_across_splits = near_duplicates_across_splits
        self.max_pixels = int(max_image_pixels or MAX_PIXELS)
        self.allow_outside_root = bool(allow_outside_root)
        self.image_size, self.channels = image_size, channels
        self.crop_size, self.crops_per_image = crop_size, crops_per_image
        self.root = data_root(root)
        self.params = dict(params or {})
        split = dict(split or {})
        self.split_seed = int(split.get("seed", 0))
        self.fractions = dict(split.get("fractions", {"train": 0.7, "val": 0.15, "test": 0.15}))
        self.batch_size, self.num_workers = batch_size, num_workers
        self.augment_steps = list(augment or [])
        self.manifest: pd.DataFrame | None = None
        self.arrays: dict[str, dict[str, np.ndarray]] = {}

    @property
    def source(self) -> str:
        """Where the manifest comes from, as error messages name it."""
        return describe_source(self.recipe, self.root, self.params)

    def prepare_manifest(self) -> pd.DataFrame:
        frame = build_manifest(self.recipe, self.root, self.allow_outside_root, **self.params)
        frame = validate_segmentation_manifest(frame, self.source, self.max_pixels)
        if self.near_duplicates is not None:  # the same check as the classification path
            frame = link_near_duplicates(
                frame,
                self.near_duplicates,
                self.source,
                self.near_duplicates_across_splits,
                self.max_pixels,
            )
        return ensure_splits(frame, self.fractions, self.split_seed, self.source)

    def setup(self, stage: str | None = None) -> None:
        if self.manifest is not None:
            return
        frame = self.prepare_manifest()
        images = load_images(
            frame["image"].tolist(), self.image_size, self.channels, None, self.max_pixels
        )
        masks = load_masks(frame["mask"].tolist(), self.image_size, self.max_pixels)
        fov = frame["fov"].tolist() if "fov" in frame.columns else [""] * len(frame)
        inside = load_masks(fov, self.image_size, self.max_pixels)
        for row, path in enumerate(frame["image"]):
            inside[row] &= letterbox_region(path, self.image_size)  # padding is never scored
        for name in SPLITS:
            rows = (frame["split"] == name).to_numpy()
            if not rows.any():
                raise ManifestError(f"{self.source}: the {name} split is empty")
            self.arrays[name] = {
                "image": images[rows],
                "mask": masks[rows],
                "region": inside[rows],
            }
        log.info("segmentation splits: %s", frame["split"].value_counts().to_dict())
        self.manifest = frame

    def train_dataloader(self) -> DataLoader:
        train = self.arrays["train"]
        dataset = CropDataset(
            train["image"],
            train["mask"],
            self.crop_size,
            self.crops_per_image,
            build_augmentation(self.augment_steps),
        )
        return self.shuffled_loader(dataset, self.batch_size, self.num_workers)

    def loader(self, name: str) -> DataLoader:
        arrays = self.arrays[name]
        dataset = WholeImageDataset(arrays["image"], arrays["mask"], arrays["region"])
        return DataLoader(dataset, batch_size=1, shuffle=False, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return self.loader("val")

    def test_dataloader(self) -> DataLoader:
        return self.loader("test")
