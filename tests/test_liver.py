"""U1 liver: the four-class protocol on the liver phantom with the malignant group derived
from it, and AUL's 36 real images in cross-validation folds (skipped when absent)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import medzoo
from medzoo.config import compose
from medzoo.data.phantom_drawing import LIVER_US_CLASSES, liver_ultrasound
from medzoo.heads import build_datamodule
from medzoo.tasks.card import card_of
from medzoo.train import run_training


def test_liver_phantom_draws_each_lesion_type() -> None:
    images = {c: liver_ultrasound(np.random.default_rng(0), 64, c) for c in LIVER_US_CLASSES}
    assert all(i.shape == (64, 64) and i.dtype == np.uint8 for i in images.values())
    assert np.array_equal(images["cyst"], liver_ultrasound(np.random.default_rng(0), 64, "cyst"))
    with pytest.raises(ValueError):
        liver_ultrasound(np.random.default_rng(0), 64, "adenoma")


def test_liver_card_carries_the_four_class_protocol() -> None:
    card = medzoo.get_card("liver_us")
    # The card's classes are the lesion types the phantom draws, and malignant groups the two
    # malignant ones among them (a benign type there would make every malignant figure wrong).
    assert set(card.class_names) == set(LIVER_US_CLASSES)
    assert set(card.class_groups["malignant"]) == set(LIVER_US_CLASSES) & {"hcc", "metastasis"}
    # The report's U1 figures (sensitivity 0.786, specificity 0.925, accuracy 0.889 of the
    # malignant view, 0.836 four-class accuracy: TASKS.md) are all on the card.
    assert {f.report[0] for f in card.reference if f.report} >= {0.836, 0.889, 0.786, 0.925}


def test_liver_protocol_learns_on_the_phantom(tmp_path: Path) -> None:
    cfg = compose(
        [
            "task=liver_us",
            "trainer.enable_progress_bar=false",
            "metrics.n_bootstrap=200",
            f"output_dir={tmp_path}",
        ]
    )
    run = run_training(cfg)
    document = json.loads((run.path / "metrics.json").read_text())
    assert document["accuracy"]["value"] > 0.6
    card = medzoo.get_card("liver_us")
    assert document["groups"]["malignant"]["positive"] == list(card.class_groups["malignant"])
    assert "0.836" in (run.path / "report.md").read_text()


@pytest.mark.real_data
def test_aul_folds_cover_every_image_once(shared_data: Path) -> None:
    tested = []
    for fold in range(4):
        cfg = compose(
            ["task=liver_us_aul", f"data.root={shared_data}", f"data.split.cv.fold={fold}"]
        )
        frame = build_datamodule(cfg, card_of(cfg)).prepare_manifest()
        assert len(frame) == 36
        tested += frame.loc[frame["split"] == "test", "image"].tolist()
    assert len(tested) == len(set(tested)) == 36
    assert cfg.metrics.proportion_ci == "exact"
