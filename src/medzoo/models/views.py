"""The one prediction path of every trained module: its probabilities, averaged over the
test-time views (flips) its hyperparameter ``tta`` names. Evaluation, ``medzoo.predictor`` and
``medzoo.export`` all call ``predict``, so a released model predicts as it was evaluated."""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import torch

# Test-time views: the image's dimensions each flips (images are (n, channels, height, width)).
FLIPS = {"hflip": (3,), "vflip": (2,), "hvflip": (2, 3)}


def check_views(tta: Sequence[str] | None) -> tuple[str, ...]:
    """``model.tta`` as a module keeps it; a name that is not a flip is a clear error."""
    views = tuple(tta or ())
    unknown = [name for name in views if name not in FLIPS]
    if unknown:
        raise ValueError(
            f"model.tta: unknown view(s) {unknown}; choose among {sorted(FLIPS)}, or [] for none"
        )
    return views


def predict(module: L.LightningModule, images: torch.Tensor) -> torch.Tensor:
    """``module``'s probabilities for ``images`` (floats in [0, 1]): what evaluation, prediction
    and export all return. With test-time views (hyperparameter ``tta``, e.g. ``[hflip]``) the
    mean over the image and each flipped copy; a per-pixel output is flipped back first."""
    views = [(), *(FLIPS[name] for name in module.hparams.get("tta") or ())]
    per_pixel = getattr(module, "per_pixel", False)
    total = 0.0
    for dims in views:
        probs = module.probabilities(module(images.flip(dims) if dims else images))
        total = total + (probs.flip(dims) if dims and per_pixel else probs)
    return total / len(views)
