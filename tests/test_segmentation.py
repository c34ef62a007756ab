"""Segmentation figures against scikit-learn and hand-made cases, vessel quantification on
drawn shapes, and the vessel task end to end on the fundus phantom."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import f1_score, jaccard_score, recall_score, roc_auc_score

import medzoo
from medzoo.config import compose
from medzoo.evaluate import run_evaluation
from medzoo.metrics.protocol import BootstrapSpec, ThresholdRule
from medzoo.metrics.segmentation import (
    MaskSet,
    dice_threshold,
    evaluate_segmentation,
    pixel_agreement,
    pixel_metrics,
)
from medzoo.metrics.vessels import vessel_measures
from medzoo.models.weights import WeightsUnavailableError, load_pretrained_encoder
from medzoo.train import run_training


@pytest.fixture
def masks() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    truth = rng.random((40, 40)) < 0.2
    prob = np.clip(truth * 0.4 + rng.random((40, 40)) * 0.6, 0, 1)
    yy, xx = np.mgrid[:40, :40]
    region = np.hypot(yy - 20, xx - 20) < 18
    return truth, prob, region


def test_pixel_figures_equal_sklearn_inside_the_region(masks) -> None:
    truth, prob, region = masks
    got = pixel_metrics(truth, prob, region, threshold=0.5)
    t, p = truth[region], prob[region] >= 0.5
    assert got["dice"] == pytest.approx(f1_score(t, p))
    assert got["iou"] == pytest.approx(jaccard_score(t, p))
    assert got["sensitivity"] == pytest.approx(recall_score(t, p))
    assert got["specificity"] == pytest.approx(recall_score(~t, ~p))
    assert got["accuracy"] == pytest.approx(np.mean(t == p))
    assert got["auc"] == pytest.approx(roc_auc_score(t, prob[region]))
    # Pixels outside the region do not count, whatever they hold.
    outside = prob.copy()
    outside[~region] = 1.0
    assert pixel_metrics(truth, outside, region, 0.5) == got


def test_agreement_of_hand_made_masks() -> None:
    truth = np.array([[1, 1, 0, 0]], bool)
    predicted = np.array([[1, 0, 1, 0]], bool)
    got = pixel_agreement(truth, predicted, np.ones_like(truth))
    # TP 1, FP 1, FN 1, TN 1: IoU = 1 / 3.
    assert got == pytest.approx(
        {"dice": 0.5, "iou": 1 / 3, "sensitivity": 0.5, "specificity": 0.5, "accuracy": 0.5}
    )
    empty = pixel_agreement(np.zeros((2, 2), bool), np.zeros((2, 2), bool), np.ones((2, 2), bool))
    assert np.isnan(empty["dice"]) and np.isnan(empty["sensitivity"])


def test_repeated_groups_widen_the_intervals_to_whole_sequences() -> None:
    """Frames of one sequence are near-copies: resampling them one by one would claim far more
    independent evidence than there is."""
    rng = np.random.default_rng(1)
    truths, probs, groups = [], [], []
    for sequence in range(6):
        quality = rng.uniform(0.2, 0.8)  # each sequence is easy or hard as a whole
        for _ in range(8):
            truth = np.zeros((16, 16), bool)
            truth[4:12, 4:12] = True
            probs.append(np.clip(truth * quality + rng.random((16, 16)) * 0.5, 0, 1))
            truths.append(truth)
            groups.append(f"sequence-{sequence}")
    regions = [np.ones((16, 16), bool)] * len(truths)
    rule, boot = ThresholdRule("fixed", 0.5), BootstrapSpec(400, 0)
    frames = evaluate_segmentation(
        MaskSet(truths, probs, regions), MaskSet(truths, probs, regions), rule, boot, "area"
    )
    grouped = evaluate_segmentation(
        MaskSet(truths, probs, regions),
        MaskSet(truths, probs, regions, groups=groups),
        rule,
        boot,
        "area",
        unit="video sequence",
    )
    assert grouped["dice"]["value"] == frames["dice"]["value"]
    assert (grouped["bootstrap"]["unit"], grouped["bootstrap"]["n_units"]) == ("video sequence", 6)
    assert frames["bootstrap"]["unit"] == "image"

    def width(document: dict) -> float:
        low, high = document["dice"]["ci95"]
        return high - low

    assert width(grouped) > 1.5 * width(frames)


def test_dice_threshold_is_the_best_on_its_grid(masks) -> None:
    truth, prob, region = masks
    chosen = dice_threshold([truth], [prob], [region])
    grid = np.round(np.linspace(0, 1, 101), 2)
    best = max(grid, key=lambda t: pixel_agreement(truth, prob >= t, region)["dice"])
    assert pixel_agreement(truth, prob >= chosen, region)["dice"] == pytest.approx(
        pixel_agreement(truth, prob >= best, region)["dice"]
    )


def test_vessel_measures_of_drawn_shapes() -> None:
    everywhere = np.ones((100, 100), bool)
    line = np.zeros((100, 100), np.uint8)
    cv2.line(line, (10, 10), (80, 80), 1, 1)
    straight = vessel_measures(line.astype(bool), everywhere)
    assert straight["tortuosity"] == pytest.approx(1.0)
    assert straight["length_density"] == pytest.approx(1000 * 70 * np.sqrt(2) / 1e4)
    assert straight["area_fraction"] == pytest.approx(71 / 1e4)
    arc = np.zeros((200, 200), np.uint8)
    cv2.ellipse(arc, (100, 100), (60, 60), 0, 0, 180, 1, 3)  # a thick semicircle
    curved = vessel_measures(arc.astype(bool), np.ones((200, 200), bool))
    assert 1.5 < curved["tortuosity"] < 1.75  # π/2 = 1.571 plus chain-code excess (docstring)
    # Nothing outside the region is measured.
    half = np.zeros((100, 100), bool)
    half[:, :50] = True
    assert vessel_measures(line.astype(bool), half)["area_fraction"] == pytest.approx(40 / 5000)


def test_second_observer_identical_to_first_agrees_perfectly(masks) -> None:
    truth, prob, region = masks
    split = MaskSet([truth, truth], [prob, prob], [region, region], second=[truth, truth])
    doc = evaluate_segmentation(split, split, ThresholdRule("dice"), BootstrapSpec(50, 0))
    assert doc["human_reference"]["dice"]["value"] == 1.0
    assert doc["n"] == 2 and doc["threshold"]["chosen_on"] == "val"
    with pytest.raises(ValueError, match="dice"):
        evaluate_segmentation(split, split, ThresholdRule("youden"), BootstrapSpec(50, 0))


def test_encoder_weights_must_cover_the_encoder() -> None:
    encoder = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    state = {k: v.clone() for k, v in encoder.state_dict().items()}
    load_pretrained_encoder(encoder, {**state, "classifier.weight": torch.zeros(2, 2)})
    del state["1.weight"]
    with pytest.raises(WeightsUnavailableError, match="missing"):
        load_pretrained_encoder(encoder, state)


SHRINK = [
    "task=fundus_vessels",
    "data=vessel_phantom",
    "data.params.n_images=16",
    "data.params.size=96",
    "data.image_size=96",
    "data.crop_size=64",
    "data.crops_per_image=8",
    "trainer.max_epochs=4",
    "trainer.enable_progress_bar=false",
    "metrics.n_bootstrap=100",
]


@pytest.fixture(scope="module")
def vessel_run(tmp_path_factory: pytest.TempPathFactory):
    return run_training(compose([*SHRINK, f"output_dir={tmp_path_factory.mktemp('seg')}"]))


def test_vessel_phantom_learns_and_is_quantified(vessel_run) -> None:
    metrics = vessel_run.read_json("metrics.json")
    # Vessels cover ~6% of the field: an untrained or constant map scores Dice ≈ 0.1 or 0.
    assert metrics["dice"]["value"] > 0.5
    assert metrics["auc"]["value"] > 0.8  # untrained ≈ 0.5
    area = metrics["quantification"]["area_fraction"]
    assert area["pearson_r"]["value"] > 0.5
    for name in (
        "report.md",
        "model_card.md",
        "predictions.csv",
        "examples.png",
        "checkpoints/best.ckpt",
    ):
        assert (vessel_run.path / name).is_file(), name
    assert len(list((vessel_run.path / "maps").glob("*.png"))) == metrics["n"]
    per_image = pd.read_csv(vessel_run.path / "predictions.csv")
    assert len(per_image) == metrics["n"]
    assert {"image", "dice", "auc", "area_fraction_manual", "tortuosity_predicted"} <= set(
        per_image.columns
    )
    assert per_image["dice"].mean() == pytest.approx(metrics["dice"]["value"])


def test_vessel_run_re_evaluates_identically(vessel_run) -> None:
    _, document = run_evaluation(str(vessel_run.path))
    assert document == vessel_run.read_json("metrics.json")


def test_loaded_vessel_model_predicts_maps_at_the_image_size(vessel_run) -> None:
    rows = pd.read_csv(vessel_run.path / "predictions.csv")
    image = rows["image"].iloc[0]
    (prob,) = medzoo.load(vessel_run.path).predict([image])
    height, width = cv2.imread(image).shape[:2]
    assert prob.shape == (height, width)
    saved = cv2.imread(str(vessel_run.path / "maps" / f"{Path(image).stem}.png"), 0) / 255.0
    np.testing.assert_allclose(prob, saved, atol=1 / 255 + 1e-6)  # phantoms need no letterbox


def test_validation_dice_is_pooled_over_every_validation_pixel() -> None:
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    from medzoo.heads.segmentation.module import SegmentationModule

    torch.manual_seed(0)
    module = SegmentationModule("resnet10t", in_chans=1, image_size=32).eval()
    images = torch.rand(5, 1, 32, 32)
    masks = (torch.rand(5, 1, 32, 32) > 0.7).float()
    regions = torch.ones(5, 1, 32, 32, dtype=torch.bool)
    regions[4] = False  # outside the region: never scored
    regions[4, :, :8] = True
    loader = DataLoader(TensorDataset(images, masks, regions), batch_size=4)  # 4 + 1
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    logged = trainer.validate(module, loader, verbose=False)[0]["val_dice"]
    with torch.no_grad():
        predicted = (module(images) > 0) & regions
    truth = (masks > 0.5) & regions
    pooled = 2 * (predicted & truth).sum() / (predicted.sum() + truth.sum())
    assert logged == pytest.approx(float(pooled), abs=1e-6)
    per_batch = [
        2 * (predicted[s] & truth[s]).sum() / (predicted[s].sum() + truth[s].sum()).clamp(min=1)
        for s in (slice(0, 4), slice(4, 5))
    ]
    assert abs(float(torch.stack(per_batch).mean()) - float(pooled)) > 1e-3  # it matters here
