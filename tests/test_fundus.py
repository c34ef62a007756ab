"""Ophthalmology data: the fundus phantom's grades, the rahim_dr / airogs / drive recipes
(real-data tests skip when the public folder is absent) and patient-level splits."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from medzoo.config import compose
from medzoo.data.manifest import ManifestError
from medzoo.data.phantom_drawing import CUP_TO_DISC, fundus, fundus_scene
from medzoo.data.recipes import build_manifest
from medzoo.data.recipes.rahim_dr import findings
from medzoo.data.splits import check_no_leakage
from medzoo.data.validate import (
    DuplicateImageWarning,
    validate_manifest,
    validate_segmentation_manifest,
)
from medzoo.heads import build_datamodule
from medzoo.tasks.card import card_of
from medzoo.train import run_training

FINDINGS = ["any_dr", "referable_dr", "maculopathy", "severe_or_worse"]


@pytest.mark.parametrize(
    ("class_id", "maculopathy", "expected"),
    [
        (1, False, []),
        (2, False, ["any_dr"]),
        (3, True, ["any_dr", "referable_dr", "maculopathy"]),  # mild DR with maculopathy
        (4, False, ["any_dr", "referable_dr"]),
        (7, True, ["any_dr", "referable_dr", "maculopathy", "severe_or_worse"]),
        (10, False, ["any_dr", "referable_dr", "severe_or_worse"]),
    ],
)
def test_rahim_classes_become_findings(class_id: int, maculopathy: bool, expected) -> None:
    assert findings(class_id, maculopathy) == expected


def test_fundus_phantom_draws_the_grade_it_is_asked_for() -> None:
    image, vessels, fov = fundus_scene(np.random.default_rng(0), 96, 0.5)
    assert image.shape == (96, 96, 3) and image.dtype == np.uint8
    assert not image[~fov].any()  # black outside the field of view
    assert 0.02 < vessels[fov].mean() < 0.2 and not vessels[~fov].any()
    # The pale cup grows with the grade: count near-white pixels.
    pale = {
        label: np.mean(
            [
                (fundus(np.random.default_rng([1, i]), 96, label).min(axis=2) > 170).sum()
                for i in range(20)
            ]
        )
        for label in CUP_TO_DISC
    }
    assert pale["normal"] < pale["mild"] < pale["glaucoma"]
    with pytest.raises(ValueError, match="unknown phantom label"):
        fundus(np.random.default_rng(0), 64, "severe")


def test_fundus_phantom_grades_are_learnable(tmp_path: Path) -> None:
    run = run_training(
        compose(
            [
                "task=glaucoma",
                "data=fundus_phantom",
                "model=resnet10t",
                "task.head=multiclass",
                "task.class_names=[normal,mild,glaucoma]",
                "data.params.n_per_class=80",
                "data.params.size=64",
                "data.image_size=64",
                "trainer.max_epochs=8",
                "trainer.enable_progress_bar=false",
                "metrics.n_bootstrap=100",
                f"output_dir={tmp_path}",
            ]
        )
    )
    metrics = run.read_json("metrics.json")
    assert metrics["auc_macro_ovr"]["value"] > 0.85
    assert metrics["accuracy"]["value"] > 0.6  # chance is 1/3


def test_rahim_dr_conflict_dropped_and_split_by_patient(shared_data: Path) -> None:
    frame = build_manifest("rahim_dr", shared_data)
    assert len(frame) == 600 and frame["group"].nunique() == 300
    with pytest.warns(DuplicateImageWarning, match=r"Patient299_L.*Patient300_L"):
        clean = validate_manifest(frame, FINDINGS, multilabel=True, source="rahim_dr")
    assert len(clean) == 596
    assert not clean["group"].isin(["Patient299", "Patient300"]).any()
    cfg = compose(["task=fundus_diseases", f"data.root={shared_data}"])
    with pytest.warns(DuplicateImageWarning):
        manifest = build_datamodule(cfg, card_of(cfg)).prepare_manifest()
    assert manifest.groupby("group")["split"].nunique().max() == 1
    # A split that separates one patient's eyes is refused.
    leaky = manifest.copy()
    patient = leaky["group"].iloc[0]
    eyes = leaky.index[leaky["group"] == patient]
    leaky.loc[eyes, "split"] = ["train", "test"][: len(eyes)]
    with pytest.raises(ManifestError, match=patient):
        check_no_leakage(leaky, "rahim_dr")


def test_airogs_recipe(shared_data: Path) -> None:
    main = build_manifest("airogs", shared_data)
    assert main["label"].value_counts().to_dict() == {"glaucoma": 385, "normal": 385}
    both = build_manifest("airogs", shared_data, subsets=["main", "extra"])
    assert len(both) == 799
    with pytest.raises(ManifestError, match="unknown subset"):
        build_manifest("airogs", shared_data, subsets=["beh"])


def test_drive_keeps_the_official_split(shared_data: Path) -> None:
    frame = build_manifest("drive", shared_data)
    counts = frame["split"].value_counts().to_dict()
    assert counts == {"test": 20, "train": 16, "val": 4}
    test = frame[frame["split"] == "test"]
    assert all(Path(p).name.endswith("_test.jpg") for p in test["image"])
    assert (test["mask_2nd"] != "").all()
    assert (frame.loc[frame["split"] != "test", "mask_2nd"] == "").all()
    with pytest.raises(ManifestError, match="n_val"):
        build_manifest("drive", shared_data, n_val=20)


def test_missing_dataset_names_the_folder_and_the_fix(tmp_path: Path) -> None:
    folders = {"rahim_dr": "rahim_dr", "airogs": "airogs_glaucoma", "drive": "drive"}
    for recipe, folder in folders.items():
        with pytest.raises(ManifestError, match=rf"{folder}.*MEDZOO_DATA"):
            build_manifest(recipe, tmp_path)


def test_segmentation_manifest_rejects_a_missing_mask(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((8, 8), np.uint8))
    frame = pd.DataFrame({"image": [str(image)], "mask": [str(tmp_path / "nope.png")]})
    with pytest.raises(ManifestError, match=r"nope\.png"):
        validate_segmentation_manifest(frame, "manifest.csv")
