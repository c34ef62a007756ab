"""Manifest → validated, split, cached arrays → Lightning dataloaders."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, RandomSampler

from medzoo.data.cache import load_images
from medzoo.data.coverage import check_coverage
from medzoo.data.images import MAX_PIXELS
from medzoo.data.labels import LabelCoding
from medzoo.data.manifest import SPLITS, ManifestError
from medzoo.data.near_duplicates import link_near_duplicates
from medzoo.data.recipes import build_manifest, describe_source
from medzoo.data.splits import ensure_splits
from medzoo.data.transforms import augment, build_augmentation
from medzoo.data.validate import validate_manifest
from medzoo.paths import data_root

log = logging.getLogger(__name__)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, C) → float (..., C, H, W) in [0, 1]; normalisation happens in the model."""
    tensor = torch.from_numpy(np.ascontiguousarray(images))
    return tensor.movedim(-1, -3).float().div_(255.0)


class ArrayDataset(Dataset):
    def __init__(self, images: np.ndarray, targets: np.ndarray, augment=None) -> None:
        self.images, self.targets, self.augment = images, targets, augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        if self.augment is not None:
            image = augment(self.augment, image=image)["image"]
            if image.ndim == 2:
                image = image[..., None]
        return to_tensor(image), torch.as_tensor(self.targets[index])


def shifted(images: np.ndarray, steps: Sequence[Mapping]) -> np.ndarray:
    """Test images as another site might have produced them (``data.test_shift``): the
    transform steps applied once, with a fixed seed, so every evaluation sees the same shift."""
    transform = build_augmentation(steps, seed=0)
    return np.stack([transform(image=image)["image"] for image in images])


class SplitManifest:
    """The validated, split manifest a data module built in ``setup()``, and its two uses."""

    manifest: pd.DataFrame | None = None

    def split_frame(self, name: str) -> pd.DataFrame:
        assert self.manifest is not None, "call setup() first"
        return self.manifest[self.manifest["split"] == name].reset_index(drop=True)

    def save_manifest(self, path: Path) -> None:
        assert self.manifest is not None, "call setup() first"
        self.manifest.to_csv(path, index=False)

    @staticmethod
    def shuffled_loader(dataset: Dataset, batch_size: int, num_workers: int) -> DataLoader:
        """The training loader. Its order is drawn from torch's global generator when an
        epoch's iteration starts, after ``EpochSeed`` reseeded it, and its augmentation follows
        torch's seed (``transforms.augment``); the loader's own seed draw uses a private
        generator so that creating the loader, which Lightning does at different moments in a
        fresh and a resumed run, takes nothing from the global one. With ``num_workers`` > 0,
        workers' seeds also depend on that private generator, so a resumed run matches exactly
        only with 0 workers."""
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=RandomSampler(dataset),
            generator=torch.Generator().manual_seed(0),
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
        )


class ManifestDataModule(SplitManifest, L.LightningDataModule):
    """Builds the manifest with a recipe, validates it, splits it by group and caches images."""

    def __init__(
        self,
        recipe: str,
        class_names: Sequence[str],
        coding: LabelCoding,
        image_size: int,
        channels: int,
        root: str | None = None,
        params: Mapping | None = None,
        split: Mapping | None = None,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        augment: Sequence[Mapping] | None = None,
        near_duplicates: int | None = None,
        near_duplicates_across_splits: str = "error",
        test_shift: Sequence[Mapping] | None = None,
        max_image_pixels: int | None = None,
        allow_outside_root: bool = False,
    ) -> None:
        super().__init__()
        self.recipe = recipe
        self.class_names = list(class_names)
        self.coding = coding
        self.max_pixels = int(max_image_pixels or MAX_PIXELS)
        self.allow_outside_root = bool(allow_outside_root)
        self.image_size = image_size
        self.channels = channels
        self.root = data_root(root)
        self.params = dict(params or {})
        split = dict(split or {})
        self.split_seed = int(split.get("seed", 0))
        self.fractions = dict(split.get("fractions", {"train": 0.7, "val": 0.15, "test": 0.15}))
        self.cv = dict(split.get("cv") or {})
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.augment_steps = list(augment or [])
        self.near_duplicates = near_duplicates
        self.near_duplicates_across_splits = near_duplicates_across_splits
        self.test_shift = list(test_shift or [])
        self.manifest: pd.DataFrame | None = None
        self.datasets: dict[str, ArrayDataset] = {}

    def prepare_manifest(self) -> pd.DataFrame:
        """The validated manifest with a ``split`` column; raises ``ManifestError`` on bad input,
        including splits on which the task's figures would be undefined."""
        source = self.source
        frame = build_manifest(self.recipe, self.root, self.allow_outside_root, **self.params)
        coding = self.coding
        frame = validate_manifest(
            frame, self.class_names, coding.token_lists, source, self.max_pixels
        )
        if coding.validate is not None:
            coding.validate(frame, self.class_names, source)
        if self.near_duplicates is not None:
            frame = link_near_duplicates(
                frame,
                self.near_duplicates,
                source,
                self.near_duplicates_across_splits,
                self.max_pixels,
            )
        frame = ensure_splits(frame, self.fractions, self.split_seed, source, self.cv)
        check_coverage(frame, self.class_names, coding.coverage, source)
        return frame

    @property
    def source(self) -> str:
        """Where the manifest comes from, as error messages name it."""
        return describe_source(self.recipe, self.root, self.params)

    def setup(self, stage: str | None = None) -> None:
        if self.manifest is not None:
            return
        frame = self.prepare_manifest()
        images = load_images(
            frame["image"].tolist(), self.image_size, self.channels, None, self.max_pixels
        )
        targets = self.coding.encode(frame["label"].tolist(), self.class_names)
        pipeline = build_augmentation(self.augment_steps)
        for name in SPLITS:
            mask = (frame["split"] == name).to_numpy()
            if not mask.any():
                raise ManifestError(f"{self.source}: the {name} split is empty")
            split_images = images[mask]
            if name == "test" and self.test_shift:
                split_images = shifted(split_images, self.test_shift)
            self.datasets[name] = ArrayDataset(
                split_images, targets[mask], pipeline if name == "train" else None
            )
        if self.coding.count_by_label:
            counts = frame.groupby(["split", "label"]).size().unstack(fill_value=0)
            log.info("splits (images per label):\n%s", counts.to_string())
        else:  # one label per grade combination: count images only
            log.info("splits (images): %s", frame["split"].value_counts().to_dict())
        self.manifest = frame

    def _loader(self, name: str, shard: bool = False) -> DataLoader:
        """An unshuffled loader; with ``shard`` under multi-process training (DDP), this
        process's share of the images, each image in exactly one share (Lightning's default
        sampler would pad the shares with repeated images, and repeated images change AUC)."""
        dataset = self.datasets[name]
        trainer = self.trainer
        sampler = None
        if shard and trainer is not None and trainer.world_size > 1:
            sampler = UnrepeatedDistributedSampler(
                dataset, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=False
            )
        return DataLoader(
            dataset,
            batch_size=self.eval_batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self.shuffled_loader(self.datasets["train"], self.batch_size, self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shard=True)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shard=True)

    def loader(self, name: str) -> DataLoader:
        """An unshuffled loader for prediction (val and test are never augmented)."""
        return self._loader(name)
