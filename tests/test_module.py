"""The generic LightningModule for every head type."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from medzoo.heads.classification.module import ClassificationModule


def _module(head: str, classes: list[str]) -> ClassificationModule:
    return ClassificationModule(head, classes, "resnet10t", in_chans=1, image_size=32, lr=1e-2)


def _targets(head: str, n: int, n_classes: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if head == "multilabel":
        return torch.randint(0, 2, (n, n_classes), generator=g).float()
    return torch.randint(0, 2 if head == "binary" else n_classes, (n,), generator=g)


@pytest.mark.parametrize(
    ("head", "classes"),
    [
        ("binary", ["normal", "disease"]),
        ("multiclass", ["a", "b", "c"]),
        ("multilabel", ["x", "y", "z", "w"]),
    ],
)
def test_head_outputs_probabilities_and_fits_a_batch(head: str, classes: list[str]) -> None:
    torch.manual_seed(0)
    module = _module(head, classes)
    images = torch.rand(16, 1, 32, 32)
    targets = _targets(head, 16, len(classes))
    module.eval()
    with torch.no_grad():
        probs = module.probabilities(module(images))
    assert probs.shape == (16, len(classes))
    assert ((probs >= 0) & (probs <= 1)).all()
    if head != "multilabel":
        torch.testing.assert_close(probs.sum(dim=1), torch.ones(16))
    # Learning happens: repeated steps on one batch drive its loss down.
    module.train()
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    first = module._loss(module(images), targets).item()
    for _ in range(30):
        loss = module._loss(module(images), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first


def test_unknown_head_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown head"):
        _module("ordinal", ["a", "b"])


def test_non_finite_loss_stops_training() -> None:
    module = _module("multiclass", ["a", "b"])
    images = torch.full((2, 1, 32, 32), float("nan"))
    with pytest.raises(FloatingPointError, match=r"lower model\.lr"):
        module.training_step((images, torch.tensor([0, 1])), 0)


def test_weight_averaging_checkpoints_and_evaluates_the_average(
    tmp_path: Path, phantom_overrides: list[str]
) -> None:
    from medzoo.config import compose
    from medzoo.heads import load_module
    from medzoo.rundir import RunDirectory
    from medzoo.train import run_training

    cfg = compose(
        [
            *phantom_overrides,
            "trainer.max_epochs=2",
            "model.ema_decay=0.5",
            f"output_dir={tmp_path}",
        ]
    )
    run = RunDirectory.open(run_training(cfg, "python -m medzoo.train model.ema_decay=0.5").path)
    best = run.best_checkpoint()
    saved = torch.load(best, map_location="cpu", weights_only=True)
    average, current = saved["state_dict"], saved["current_model_state"]
    floats = [k for k, v in average.items() if v.is_floating_point()]
    assert any(not torch.equal(average[k], current[k]) for k in floats)
    loaded = load_module(best).state_dict()  # what evaluation and prediction use
    assert all(torch.equal(loaded[k], average[k]) for k in floats)


def test_a_decay_outside_zero_to_one_is_refused(
    tmp_path: Path, phantom_overrides: list[str]
) -> None:
    from medzoo.config import compose
    from medzoo.errors import UsageError
    from medzoo.train import run_training

    cfg = compose([*phantom_overrides, "model.ema_decay=1.5", f"output_dir={tmp_path}"])
    with pytest.raises(UsageError, match=r"model\.ema_decay=1\.5"):
        run_training(cfg, "python -m medzoo.train model.ema_decay=1.5")


def test_test_time_flips_average_the_image_and_its_flipped_copies() -> None:
    from medzoo.models.views import predict

    torch.manual_seed(0)
    plain = ClassificationModule("multiclass", ["a", "b", "c"], "resnet10t", 1, 32).eval()
    flipped = ClassificationModule(
        "multiclass", ["a", "b", "c"], "resnet10t", 1, 32, tta=["hflip", "vflip"]
    ).eval()
    flipped.load_state_dict(plain.state_dict())
    images = torch.rand(4, 1, 32, 32)
    with torch.inference_mode():
        views = [images, images.flip(3), images.flip(2)]
        by_hand = torch.stack([plain.probabilities(plain(v)) for v in views]).mean(0)
        assert torch.allclose(predict(flipped, images), by_hand, atol=1e-6)
        assert not torch.allclose(predict(plain, images), by_hand, atol=1e-4)


def test_a_per_pixel_output_is_flipped_back_before_averaging() -> None:
    from medzoo.heads.segmentation.module import SegmentationModule
    from medzoo.models.views import predict

    torch.manual_seed(0)
    module = SegmentationModule("tf_efficientnet_lite0", 1, 32, tta=["hflip"]).eval()
    images = torch.rand(2, 1, 32, 32)
    with torch.inference_mode():
        first = module.probabilities(module(images))
        second = module.probabilities(module(images.flip(3))).flip(3)
        assert torch.allclose(predict(module, images), (first + second) / 2, atol=1e-6)


def test_an_unknown_test_time_view_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown view"):
        ClassificationModule("binary", ["a", "b"], "resnet10t", 1, 32, tta=["rotate"])
