"""Albumentations pipelines built from config: a list of ``{_target_: albumentations.X, ...}``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import albumentations as A
import numpy as np
import torch
from hydra.utils import instantiate


def build_augmentation(
    steps: Sequence[Mapping] | None, seed: int | None = None
) -> A.Compose | None:
    """The pipeline, or None for no steps; ``seed`` fixes the random draws (else apply it with
    ``augment`` so that they follow torch's generator, which ``seed_everything`` sets)."""
    if not steps:
        return None
    transforms = []
    for step in steps:
        if "_target_" not in step:
            raise ValueError(
                f"augmentation step {dict(step)} has no _target_; write e.g. "
                "{_target_: albumentations.HorizontalFlip, p: 0.5}"
            )
        transforms.append(instantiate(step))
    return A.Compose(transforms, seed=seed)


def augment(pipeline: A.Compose, **targets: np.ndarray) -> dict[str, np.ndarray]:
    """Apply ``pipeline`` with random draws that follow torch's seed.

    Albumentations 2 seeds an unseeded pipeline from the operating system, so its draws would
    ignore ``seed_everything`` and differ between two runs with the same seed. The pipeline is
    reseeded from ``torch.initial_seed()`` whenever that changes: every epoch (``EpochSeed``
    reseeds torch) and in every DataLoader worker (each gets its own torch seed). Within an
    epoch the draws follow the pipeline's own generator, in loading order.
    """
    seed = torch.initial_seed()
    if getattr(pipeline, "_torch_seed", None) != seed:
        pipeline.set_random_seed(seed % 2**32)
        pipeline._torch_seed = seed
    return pipeline(**targets)
