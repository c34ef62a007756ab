"""Pathology: slide-level aggregation, point matching and counting, area fractions, the
histology phantom end to end, and the EBHI-Seg / AMi-Br recipes (skipped without the data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from medzoo.config import compose
from medzoo.data.manifest import ManifestError
from medzoo.data.recipes import build_manifest
from medzoo.data.validate import DuplicateImageWarning
from medzoo.heads import build_datamodule
from medzoo.heads.segmentation.data import load_masks
from medzoo.metrics.aggregation import aggregate, choose_rule, unit_block
from medzoo.metrics.areas import area_fraction
from medzoo.metrics.points import mask_points, match_points, pooled_detection
from medzoo.metrics.protocol import BootstrapSpec, ThresholdRule
from medzoo.metrics.segmentation import MaskSet, evaluate_segmentation
from medzoo.tasks.card import card_from_config, card_of
from medzoo.train import run_training

# --- slide-level aggregation ----------------------------------------------------------------


def test_aggregation_rules_by_hand() -> None:
    units = ["b", "a", "a", "a", "b"]
    y = [0, 0, 1, 0, 0]
    scores = [0.2, 0.1, 0.9, 0.5, 0.4]
    names, truth, maximum = aggregate(units, y, scores, "max")
    assert names.tolist() == ["a", "b"]
    assert truth.tolist() == [1, 0]  # a unit is positive when any of its images is
    assert maximum.tolist() == [0.9, 0.4]
    assert aggregate(units, y, scores, "mean")[2] == pytest.approx([0.5, 0.3])
    assert aggregate(units, y, scores, "top2")[2] == pytest.approx([0.7, 0.3])
    assert aggregate(units, y, scores, "top9")[2] == pytest.approx([0.5, 0.3])  # k > images


@pytest.mark.parametrize("rule", ["median", "top0", "top", "max3"])
def test_unknown_aggregation_rule_is_rejected(rule: str) -> None:
    with pytest.raises(ValueError, match="aggregation rule"):
        aggregate(["a"], [1], [0.5], rule)


def test_rule_chosen_on_validation_by_auc() -> None:
    # Positive slides hold one strongly positive patch among weak ones: max separates them,
    # mean does not.
    units, y, scores = [], [], []
    for k in range(10):
        positive = k % 2 == 0
        for j in range(5):
            units.append(f"s{k}")
            y.append(int(positive and j == 0))
            scores.append(
                0.95 if positive and j == 0 else 0.1 + 0.05 * j + (0.2 if k % 4 == 1 else 0)
            )
    rule, aucs = choose_rule(units, y, scores, ["mean", "max"])
    assert rule == "max"
    _, truth, agg = aggregate(units, y, scores, "max")
    assert aucs["max"] == pytest.approx(roc_auc_score(truth, agg)) == 1.0
    assert aucs["mean"] < 1.0
    # Validation slides on which mean wins (every patch of a positive slide a little higher;
    # a negative slide with one bright artefact): the rule comes from them, not from test.
    v_units, v_y, v_scores = [], [], []
    for k in range(10):
        positive = k % 2 == 0
        for j in range(5):
            v_units.append(f"v{k}")
            v_y.append(int(positive))
            v_scores.append((0.6 if positive else 0.3) + (0.35 if not positive and j == 0 else 0))
    assert choose_rule(v_units, v_y, v_scores, ["mean", "max"])[0] == "mean"
    block = unit_block(
        (v_units, v_y, v_scores),
        (units, y, scores),
        ["mean", "max"],
        ThresholdRule(),
        BootstrapSpec(50),
    )
    assert block["rule"]["value"] == "mean"  # although max would score 1.0 on test
    assert block["n"] == 10 and block["n_positive"] == 5
    _, test_truth, test_mean = aggregate(units, y, scores, "mean")
    assert block["auc"]["value"] == pytest.approx(roc_auc_score(test_truth, test_mean))
    assert block["auc"]["value"] < 1.0


def test_card_refuses_unit_views_that_are_not_groups() -> None:
    base = {
        "name": "t",
        "title": "t",
        "modality": "m",
        "section": "P1",
        "head": "multiclass",
        "class_names": ["a", "b", "c"],
        "class_groups": {"ab": ["a", "b"]},
    }
    card = card_from_config({**base, "unit_level": {"unit": "slide", "views": ["ab"]}})
    assert card.unit_level.rules == ("max", "mean", "top3")
    with pytest.raises(ValueError, match="not class groups"):
        card_from_config({**base, "unit_level": {"unit": "slide", "views": ["c"]}})
    with pytest.raises(ValueError, match="aggregation rule"):
        card_from_config(
            {**base, "unit_level": {"unit": "slide", "views": ["ab"], "rules": ["p90"]}}
        )


# --- point matching and counting ------------------------------------------------------------


def test_point_matching_by_hand() -> None:
    truth = np.array([[10.0, 10.0], [30.0, 30.0], [50.0, 50.0]])
    predicted = np.array([[12.0, 10.0], [31.0, 33.0], [90.0, 90.0], [11.0, 11.0]])
    # (12,10)~(10,10) d=2, (31,33)~(30,30) d=3.2; (11,11) is a duplicate of the first figure.
    assert match_points(truth, predicted, 5.0) == {"tp": 2, "fp": 2, "fn": 1}
    assert match_points(truth, predicted, 3.0) == {"tp": 1, "fp": 3, "fn": 2}
    assert match_points(truth, np.empty((0, 2)), 5.0) == {"tp": 0, "fp": 0, "fn": 3}
    assert match_points(np.empty((0, 2)), predicted, 5.0) == {"tp": 0, "fp": 4, "fn": 0}


def test_matching_is_one_to_one_and_optimal() -> None:
    # Greedy nearest-first would pair (0,0)-(2,0) and leave (4,0) unmatched at distance 3.
    truth = np.array([[0.0, 0.0], [4.0, 0.0]])
    predicted = np.array([[2.0, 0.0], [-2.5, 0.0]])
    assert match_points(truth, predicted, 3.0) == {"tp": 2, "fp": 0, "fn": 0}


def test_pooled_detection_scores() -> None:
    scores = pooled_detection([{"tp": 3, "fp": 1, "fn": 0}, {"tp": 1, "fp": 0, "fn": 2}])
    assert scores["precision"] == pytest.approx(4 / 5)
    assert scores["recall"] == pytest.approx(4 / 6)
    assert scores["f1"] == pytest.approx(8 / 11)
    assert np.isnan(pooled_detection([{"tp": 0, "fp": 0, "fn": 0}])["f1"])


def test_mask_points_are_blob_centroids_inside_the_region() -> None:
    mask = np.zeros((40, 40), bool)
    mask[4:7, 4:7] = True  # centroid (5, 5)
    mask[20:24, 30:34] = True  # centroid (31.5, 21.5)
    assert mask_points(mask).tolist() == [[5.0, 5.0], [31.5, 21.5]]
    region = np.zeros_like(mask)
    region[:, 20:] = True
    assert mask_points(mask, region).tolist() == [[31.5, 21.5]]
    assert mask_points(np.zeros((5, 5), bool)).shape == (0, 2)


def test_area_fraction_inside_the_region() -> None:
    mask = np.zeros((10, 10), bool)
    mask[:5] = True
    region = np.zeros_like(mask)
    region[:, :4] = True
    assert area_fraction(mask, region) == pytest.approx(0.5)
    assert area_fraction(mask, np.ones_like(mask)) == pytest.approx(0.5)
    assert np.isnan(area_fraction(mask, np.zeros_like(mask)))


# --- mitosis counting on the phantom --------------------------------------------------------


def test_phantom_masks_mark_every_figure_once() -> None:
    frame = build_manifest("mitosis_phantom", Path("."), n_images=12, n_val=2, n_test=2)
    masks = load_masks(frame["mask"].tolist(), 128)
    counts = [len(mask_points(m)) for m in masks]
    assert counts == frame["n_mitoses"].astype(int).tolist()
    assert sum(counts) > 12  # about two per field
    assert frame["split"].tolist() == ["train"] * 8 + ["val"] * 2 + ["test"] * 2


@pytest.fixture(scope="module")
def count_run(tmp_path_factory: pytest.TempPathFactory):
    overrides = [
        "task=mitosis_count",
        "data.params.n_images=48",
        "data.params.n_val=8",
        "data.params.n_test=12",
        "data.params.size=64",
        "data.image_size=64",
        "data.crop_size=64",
        "data.crops_per_image=4",
        "trainer.max_epochs=6",
        "trainer.enable_progress_bar=false",
        "metrics.n_bootstrap=100",
        f"output_dir={tmp_path_factory.mktemp('count')}",
    ]
    return run_training(compose(overrides))


def test_counting_head_learns_on_the_phantom(count_run) -> None:
    metrics = count_run.read_json("metrics.json")
    points = metrics["point_detection"]
    assert points["max_distance_px"] == 6
    # Figures cover <3% of a field: an untrained map finds nothing (F1 0) or noise.
    assert points["f1"]["value"] > 0.6
    assert points["tp"] + points["fn"] == int(
        sum(row["count_manual"] for row in metrics["per_image"])
    )
    count = metrics["quantification"]["count"]
    assert count["pearson_r"]["value"] > 0.5
    per_image = pd.read_csv(count_run.path / "predictions.csv")
    assert {"count_manual", "count_predicted", "tp", "fp", "fn"} <= set(per_image.columns)
    assert "Point detection" in (count_run.path / "report.md").read_text()


# --- real data ------------------------------------------------------------------------------


def test_ebhi_refuses_the_leaking_upstream_split(shared_data: Path) -> None:
    with pytest.raises(ManifestError, match="321 of 524 slides"):
        build_manifest("ebhi_seg", shared_data, split="upstream")


def test_biopsy_split_keeps_slides_whole(shared_data: Path) -> None:
    cfg = compose(["task=biopsy_cancer", f"data.root={shared_data}"])
    # The two upstream patches without a mask are one image under two names.
    with pytest.warns(DuplicateImageWarning, match="GTGT2012149-2-400-001"):
        manifest = build_datamodule(cfg, card_of(cfg)).prepare_manifest()
    assert len(manifest) == 2227
    assert manifest.groupby("group")["split"].nunique().max() == 1
    # Near-duplicate links join a few slides into one group; none is split.
    assert 515 <= manifest["group"].nunique() < 524
    assert set(manifest["split"]) == {"train", "val", "test"}


def test_tumour_manifest_holds_neoplastic_patches_with_masks(shared_data: Path) -> None:
    frame = build_manifest("ebhi_tumour", shared_data)
    assert len(frame) == 2228 - 76 - 474 - 2  # no normal, no polyp, two maskless patches
    with pytest.raises(ManifestError, match="unknown classes"):
        build_manifest("ebhi_tumour", shared_data, classes=["Carcinoid"])


def test_mitosis_crops_grouped_by_source_image(shared_data: Path) -> None:
    frame = build_manifest("ami_br", shared_data)
    assert len(frame) == 3720
    assert frame["group"].nunique() == 202
    assert frame["label"].value_counts().to_dict() == {"normal": 2888, "atypical": 832}


def test_unit_level_without_both_classes_is_undefined_not_an_error() -> None:
    units, y, scores = ["a", "a", "b"], [0, 0, 0], [0.1, 0.2, 0.3]
    good = (["c", "d"], [1, 0], [0.9, 0.1])
    block = unit_block(good, (units, y, scores), ["max"], ThresholdRule(), BootstrapSpec(10))
    assert block == {"undefined": "the test units are all of one class"}


def test_area_quantification_mae_and_r_equal_numpy() -> None:
    rng = np.random.default_rng(3)
    truths, probabilities, regions = [], [], []
    for _ in range(12):
        truth = np.zeros((32, 32), bool)
        truth[: rng.integers(4, 28)] = True
        predicted = np.roll(truth, rng.integers(-3, 4), axis=0)
        truths.append(truth)
        probabilities.append(predicted.astype(float))
        regions.append(np.ones_like(truth))
    masks = MaskSet(truths=truths, probabilities=probabilities, regions=regions)
    document = evaluate_segmentation(
        masks, masks, ThresholdRule("fixed", 0.5), BootstrapSpec(50), quantify="area"
    )
    manual = np.array([t.mean() for t in truths])
    predicted = np.array([p.mean() for p in probabilities])
    area = document["quantification"]["area_fraction"]
    assert list(document["quantification"]) == ["area_fraction"]
    assert area["mae"]["value"] == pytest.approx(np.abs(predicted - manual).mean())
    assert area["pearson_r"]["value"] == pytest.approx(np.corrcoef(manual, predicted)[0, 1])
    with pytest.raises(ValueError, match="match distance"):
        evaluate_segmentation(masks, masks, ThresholdRule("fixed", 0.5), BootstrapSpec(5), "points")
