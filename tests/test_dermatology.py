"""Dermatology: the SJS/TEN protocol on the rash phantom with exact CIs; HAM10000 split by
lesion; the wound datasets' published splits and duplicates; DESIGN-R multi-item grading
(real data skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import cohen_kappa_score

import medzoo
from medzoo.config import compose
from medzoo.data.manifest import ManifestError
from medzoo.data.phantom_drawing import DESIGN_R_ITEMS
from medzoo.data.splits import ensure_splits, hold_out_validation
from medzoo.data.validate import DuplicateImageWarning, validate_items
from medzoo.heads import build_datamodule
from medzoo.metrics.exact import clopper_pearson, confusion_proportions
from medzoo.metrics.items import (
    item_figures,
    item_slices,
    items_document,
    items_of,
    output_names,
    parse_grades,
)
from medzoo.metrics.protocol import BootstrapSpec
from medzoo.tasks.card import card_of
from medzoo.train import run_training


@pytest.fixture(scope="module")
def sjs_run(tmp_path_factory: pytest.TempPathFactory):
    overrides = [
        "task=sjs_ten",
        "data.params.n_per_class=80",
        "data.params.size=64",
        "data.image_size=64",
        "trainer.max_epochs=6",
        "trainer.enable_progress_bar=false",
        "metrics.n_bootstrap=200",
        f"output_dir={tmp_path_factory.mktemp('sjs')}",
    ]
    return run_training(compose(overrides))


def test_sjs_ten_learns_and_reports_exact_intervals(sjs_run) -> None:
    metrics = sjs_run.read_json("metrics.json")
    assert metrics["auc"]["value"] > 0.9  # chance is 0.5
    assert metrics["bootstrap"]["proportions"] == "Clopper-Pearson"
    counts = confusion_proportions(np.array(metrics["confusion_matrix"]))
    for name, (k, n) in counts.items():
        assert metrics[name]["ci95"] == pytest.approx(list(clopper_pearson(k, n))), name
        assert metrics[name]["value"] == pytest.approx(k / n), name
    report = (sjs_run.path / "report.md").read_text()
    assert "0.926 / 0.852" in report  # both of the report's accuracies, as printed
    assert "exact Clopper-Pearson" in report


def test_sjs_ten_card_says_no_public_data_exists() -> None:
    card = medzoo.get_card("sjs_ten")
    assert "NO PUBLIC DATA" in card.stand_in and "data=csv" in card.stand_in
    assert card.reference[0].report == (0.926, 0.852)


def test_skin_tumor_split_keeps_lesions_whole(shared_data: Path) -> None:
    cfg = compose(["task=skin_tumor", f"data.root={shared_data}"])
    with pytest.warns(DuplicateImageWarning, match="ISIC_0024366") as caught:
        manifest = build_datamodule(cfg, card_of(cfg)).prepare_manifest()
    assert "ISIC_0024777" in str(caught[0].message)  # both byte-identical pairs, same lesion
    assert len(manifest) == 10015 - 2
    assert manifest["group"].nunique() == 7470
    assert manifest.groupby("group")["split"].nunique().max() == 1
    test = manifest[manifest["split"] == "test"]
    assert set(test["label"]) == {"akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"}


def test_a_lesion_across_splits_is_refused(shared_data: Path, tmp_path: Path) -> None:
    native = pd.read_csv(shared_data / "ham10000" / "labels.csv")
    lesion = native["lesion_id"].value_counts().index[0]  # a lesion with 2+ images
    rows = native[native["lesion_id"] == lesion].head(2)
    manifest = pd.DataFrame(
        {
            "image": [str(shared_data / "ham10000" / p) for p in rows["image"]],
            "label": rows["dx"].tolist(),
            "group": rows["lesion_id"].tolist(),
            "split": ["train", "test"],
        }
    )
    with pytest.raises(ManifestError, match="more than one split"):
        ensure_splits(manifest, {}, 0, "hand-made manifest")


def test_hold_out_validation_moves_whole_groups_from_train_only() -> None:
    frame = pd.DataFrame(
        {
            "image": [f"{i}.png" for i in range(60)],
            "label": ["a", "b"] * 30,
            "group": [f"g{i // 2}" for i in range(60)],
            "split": ["train"] * 40 + ["test"] * 20,
        }
    )
    out = hold_out_validation(frame, 0.25, seed=0)
    assert (out["split"][40:] == "test").all()  # the published test split is untouched
    assert (out["split"] == "val").sum() == 10
    assert out.groupby("group")["split"].nunique().max() == 1
    assert set(out.loc[out["split"] == "val", "label"]) == {"a", "b"}
    with pytest.raises(ValueError, match="share"):
        hold_out_validation(frame, 1.0)


def test_azh_keeps_the_training_copy_of_the_cross_split_duplicate(shared_data: Path) -> None:
    cfg = compose(["task=wound_type", f"data.root={shared_data}"])
    with pytest.warns(DuplicateImageWarning, match=r"train/S/10_0\.jpg.*test/S/99_0\.jpg"):
        manifest = build_datamodule(cfg, card_of(cfg)).prepare_manifest()
    names = manifest["image"].str.split("azh_wound/").str[1]
    assert "images/train/S/10_0.jpg" in set(names)
    assert "images/test/S/99_0.jpg" not in set(names)
    assert manifest.groupby("split").size().to_dict() == {"test": 208, "train": 532, "val": 89}
    assert "background" not in set(manifest["label"])


def test_fuseg_tests_on_the_challenge_validation_masks(shared_data: Path) -> None:
    cfg = compose(["task=wound_area", f"data.root={shared_data}"])
    with pytest.warns(DuplicateImageWarning, match="conflicting labels"):
        manifest = build_datamodule(cfg, card_of(cfg)).prepare_manifest()
    test = manifest[manifest["split"] == "test"]
    assert test["image"].str.contains("/images/validation/").all()
    assert (manifest["mask"] != "").all()  # the challenge test photos (no masks) are not used
    assert manifest.groupby("split").size().to_dict() == {"test": 191, "train": 660, "val": 111}


# --- DESIGN-R multi-item grading ------------------------------------------------------------

ITEMS = {"depth": ["d0", "d1", "d2"], "pocket": ["p0", "P6"]}


def test_item_outputs_round_trip_and_labels_parse() -> None:
    names = output_names(ITEMS)
    assert names == ["depth=d0", "depth=d1", "depth=d2", "pocket=p0", "pocket=P6"]
    assert items_of(names) == ITEMS
    assert item_slices(names) == {"depth": slice(0, 3), "pocket": slice(3, 5)}
    assert parse_grades("pocket=P6; depth=d1", ITEMS) == [1, 1]
    for bad, message in [
        ("depth=d1", "missing"),
        ("depth=d1;pocket=p0;size=s3", "unknown"),
        ("depth=d9;pocket=p0", "not one of"),
        ("depth=d1;depth=d2;pocket=p0", "twice"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_grades(bad, ITEMS)


def test_item_figures_equal_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 80)
    predicted = np.where(rng.random(80) < 0.7, y, rng.integers(0, 3, 80))
    figures = item_figures(y, predicted, 3)
    assert figures["accuracy"] == pytest.approx(np.mean(y == predicted))
    assert figures["weighted_kappa"] == pytest.approx(
        cohen_kappa_score(y, predicted, weights="quadratic")
    )
    assert np.isnan(item_figures(np.zeros(5, int), np.zeros(5, int), 3)["weighted_kappa"])


def test_items_document_scores_the_most_probable_grade() -> None:
    names = output_names(ITEMS)
    y = np.array([[0, 0], [1, 1], [2, 1], [2, 0]])
    probs = np.array(
        [
            [0.8, 0.1, 0.1, 0.9, 0.1],
            [0.1, 0.8, 0.1, 0.2, 0.8],
            [0.1, 0.6, 0.3, 0.4, 0.6],  # depth wrong (d1 for d2)
            [0.1, 0.1, 0.8, 0.3, 0.7],  # pocket wrong (P6 for p0)
        ]
    )
    doc = items_document(names, y, probs, BootstrapSpec(50, 0))
    assert doc["per_item"]["depth"]["accuracy"]["value"] == 0.75
    assert doc["per_item"]["depth"]["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert doc["per_item"]["pocket"]["n_per_grade"] == [2, 2]
    assert doc["mean_accuracy"] == pytest.approx(0.75)


def test_a_label_that_skips_an_item_is_rejected(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    frame = pd.DataFrame({"image": [str(image)], "label": ["depth=d1"], "group": ["a"]})
    with pytest.raises(ManifestError, match=r"a\.png: items missing \['pocket'\]"):
        validate_items(frame, output_names(ITEMS), "hand-made manifest")


def test_card_items_match_the_phantom() -> None:
    card = medzoo.get_card("wound_designr")
    assert {k: list(v) for k, v in card.items.items()} == {
        k: list(v) for k, v in DESIGN_R_ITEMS.items()
    }
    assert card.class_names[0] == "depth=d0"


@pytest.fixture(scope="module")
def designr_run(tmp_path_factory: pytest.TempPathFactory):
    overrides = [
        "task=wound_designr",
        "data.params.n_images=240",
        "data.params.n_val=40",
        "data.params.n_test=60",
        "data.params.size=64",
        "data.image_size=64",
        "trainer.max_epochs=8",
        "trainer.enable_progress_bar=false",
        "metrics.n_bootstrap=100",
        f"output_dir={tmp_path_factory.mktemp('designr')}",
    ]
    return run_training(compose(overrides))


def test_multi_item_head_learns(designr_run) -> None:
    metrics = designr_run.read_json("metrics.json")
    per_item = metrics["per_item"]
    assert list(per_item) == list(DESIGN_R_ITEMS)
    # Uniform grades: chance kappa is 0. Measured on two runs: size 0.76, mean 0.48-0.51.
    assert per_item["size"]["weighted_kappa"]["value"] > 0.5
    assert metrics["mean_weighted_kappa"] > 0.3
    predictions = pd.read_csv(designr_run.path / "predictions.csv")
    probs = predictions.filter(like="prob_depth=")
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert medzoo.load(designr_run.path).predict([predictions["image"][0]]).shape == (1, 35)
