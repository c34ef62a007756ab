"""timm backbones by name, with a classification head sized for the task."""

from __future__ import annotations

from pathlib import Path

import timm
from torch import nn

from medzoo.models.weights import load_pretrained, pretrained_state_dict


def create_backbone(
    name: str,
    num_outputs: int,
    in_chans: int,
    pretrained: bool = False,
    weights: str | Path | None = None,
    drop_rate: float = 0.0,
) -> nn.Module:
    """Any timm model by name; ``in_chans=1`` for grey-level images (a pretrained RGB stem is
    summed over its colour channels, as timm does)."""
    if name not in timm.list_models():
        close = timm.list_models(f"*{name}*")[:8]
        raise ValueError(
            f"unknown timm backbone {name!r}" + (f"; similar: {close}" if close else "")
        )
    model = timm.create_model(
        name, pretrained=False, num_classes=num_outputs, in_chans=in_chans, drop_rate=drop_rate
    )
    if pretrained or weights:
        load_pretrained(model, pretrained_state_dict(name, weights))
    return model


def input_normalisation(model: nn.Module, in_chans: int) -> tuple[list[float], list[float]]:
    """Mean and std the backbone expects, averaged over colour channels for grey input."""
    mean, std = list(model.pretrained_cfg["mean"]), list(model.pretrained_cfg["std"])
    if in_chans == len(mean):
        return mean, std
    return [sum(mean) / len(mean)] * in_chans, [sum(std) / len(std)] * in_chans
