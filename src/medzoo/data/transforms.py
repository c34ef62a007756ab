"""Albumentations pipelines built from config: a list of ``{_target_: albumentations.X, ...}``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import albumentations as A
from hydra.utils import instantiate


def build_augmentation(
    steps: Sequence[Mapping] | None, seed: int | None = None
) -> A.Compose | None:
    """The pipeline, or None for no steps; ``seed`` fixes the random draws (else they follow
    the global generators that ``seed_everything`` sets)."""
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
