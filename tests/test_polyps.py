"""Colonoscopy polyps: the Kvasir-SEG / CVC-ClinicDB recipe, sequence-level detection scoring,
persistence within sequences, and external-site evaluation that keeps the run's thresholds."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from medzoo.config import compose
from medzoo.data.manifest import ManifestError
from medzoo.data.recipes import build_manifest
from medzoo.errors import UsageError
from medzoo.evaluate import run_evaluation
from medzoo.metrics.detection import (
    Detections,
    counts,
    persistent,
    persistent_by_sequence,
    sequence_detection,
)
from medzoo.train import run_training

SHARED = Path(os.environ.get("MEDZOO_DATA", "../shared/data"))


def _polyp_image(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A pink frame with one darker disc (the polyp) and its mask."""
    height, width = size
    image = np.full((height, width, 3), (120, 110, 200), np.uint8)
    image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    mask = np.zeros((height, width), np.uint8)
    centre = (int(rng.integers(12, width - 12)), int(rng.integers(12, height - 12)))
    radius = int(rng.integers(6, 11))
    cv2.circle(mask, centre, radius, 255, -1)
    image[mask > 0] = (60, 60, 150)
    return image, mask


def make_polyp_datasets(root: Path, n_kvasir: int = 24, n_cvc: int = 12) -> Path:
    """A tiny Kvasir-SEG and CVC-ClinicDB in their packed layouts (labels.csv, masks, boxes)."""
    rng = np.random.default_rng(0)
    kvasir, cvc = root / "kvasir_seg", root / "cvc_clinicdb"
    for folder in (kvasir, cvc):
        (folder / "images").mkdir(parents=True)
        (folder / "masks").mkdir()
    rows, boxes = [], []
    for i in range(n_kvasir):
        image, mask = _polyp_image(rng, (40, 48))
        name = f"k{i:03d}"
        cv2.imwrite(str(kvasir / "images" / f"{name}.jpg"), image)
        cv2.imwrite(str(kvasir / "masks" / f"{name}.png"), mask)
        split = "val" if i >= n_kvasir - 6 else "train"
        rows.append((f"images/{name}.jpg", "polyp", f"masks/{name}.png", split))
        ys, xs = np.nonzero(mask)
        boxes.append(
            (f"images/{name}.jpg", "polyp", xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        )
    boxes.append(("images/k000.jpg", "polyp", 5, 5, 6, 5))  # a published sliver: dropped
    pd.DataFrame(rows, columns=["image", "label", "mask", "split"]).to_csv(
        kvasir / "labels.csv", index=False
    )
    pd.DataFrame(boxes, columns=["image", "label", "xmin", "ymin", "xmax", "ymax"]).assign(
        width=48, height=40
    ).to_csv(kvasir / "bboxes.csv", index=False)
    rows = []
    for i in range(n_cvc):
        image, mask = _polyp_image(rng, (36, 48))
        cv2.imwrite(str(cvc / "images" / f"{i + 1}.jpg"), image)
        cv2.imwrite(str(cvc / "masks" / f"{i + 1}.png"), mask)
        rows.append((f"images/{i + 1}.jpg", "polyp", f"masks/{i + 1}.png", "", i // 4 + 1))
    pd.DataFrame(rows, columns=["image", "label", "mask", "split", "sequence"]).to_csv(
        cvc / "labels.csv", index=False
    )
    return root


@pytest.fixture(scope="module")
def polyp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_polyp_datasets(tmp_path_factory.mktemp("polyps"))


def test_kvasir_keeps_the_authors_split_and_cvc_replaces_only_the_test_set(
    polyp_root: Path,
) -> None:
    own = build_manifest("kvasir_seg", polyp_root, val_share=0.2)
    labels = pd.read_csv(polyp_root / "kvasir_seg" / "labels.csv")
    authors_val = {
        str((polyp_root / "kvasir_seg" / p).resolve())
        for p in labels.query("split == 'val'")["image"]
    }
    assert set(own.loc[own["split"] == "test", "image"]) == authors_val
    assert own["split"].value_counts()["val"] > 0  # held out of the authors' train images
    assert not set(own.loc[own["split"] != "test", "image"]) & authors_val

    external = build_manifest("kvasir_seg", polyp_root, val_share=0.2, test_site="cvc_clinicdb")
    for split in ("train", "val"):  # the model's data and thresholds stay the same
        assert (
            external.loc[external["split"] == split, "image"].tolist()
            == own.loc[own["split"] == split, "image"].tolist()
        )
    test = external[external["split"] == "test"]
    assert all("cvc_clinicdb" in p for p in test["image"])
    assert test["group"].nunique() == 3  # frames grouped by their video sequence
    with pytest.raises(ManifestError, match="test_site"):
        build_manifest("kvasir_seg", polyp_root, test_site="elsewhere")


def test_boxes_come_from_the_box_file_without_slivers_and_from_cvc_masks(polyp_root: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = build_manifest("kvasir_seg", polyp_root, boxes=True, test_site="cvc_clinicdb")
    assert any("narrower than" in str(w.message) for w in caught)
    kvasir = frame[frame["split"] != "test"]
    assert (kvasir["boxes"].str.count(";") == 0).all()  # one box each, the sliver gone
    cvc = frame[frame["split"] == "test"].iloc[0]
    mask = cv2.imread(cvc["mask"], cv2.IMREAD_GRAYSCALE) > 0
    ys, xs = np.nonzero(mask)
    assert [float(v) for v in cvc["boxes"].split()] == [
        xs.min(),
        ys.min(),
        xs.max() + 1,
        ys.max() + 1,
    ]


def _boxes(*rows: tuple[float, float, float, float]) -> Detections:
    boxes = np.asarray(rows, float).reshape(-1, 4)
    return Detections(boxes, np.ones(len(boxes)))


def test_a_sequence_is_found_when_k_of_its_frames_hold_a_true_box() -> None:
    truth = np.array([[10.0, 10.0, 20.0, 20.0]])
    hit, miss, false = _boxes((10, 10, 20, 20)), _boxes(), _boxes((40, 40, 50, 50))
    # Sequence a: hits in 3 frames; b: one hit and one false box; c: nothing.
    frames = [hit, hit, hit, miss, hit, false, miss, miss]
    sequences = ["a", "a", "a", "b", "b", "b", "c", "c"]
    truths = [truth] * len(frames)
    once = sequence_detection(frames, truths, sequences, k=1, n_boot=50)
    thrice = sequence_detection(frames, truths, sequences, k=3, n_boot=50)
    assert (once["sequences_found"], thrice["sequences_found"]) == (2, 1)
    assert once["found"]["value"] == pytest.approx(2 / 3)
    assert once["false_boxes_per_sequence"]["value"] == pytest.approx(1 / 3)
    assert once["false_boxes_per_frame"]["value"] == pytest.approx(1 / 8)
    assert counts(frames, truths)[:, 1].sum() == 1
    with pytest.raises(ValueError, match="k must"):
        sequence_detection(frames, truths, sequences, k=0)


def test_persistence_starts_afresh_in_every_sequence() -> None:
    box = _boxes((10, 10, 20, 20))
    frames = [box, box, box, box, box]
    # One stream of five: from the third frame on the box has 3 of the last 5.
    assert [len(f.scores) for f in persistent(frames, 3, 5)] == [0, 0, 1, 1, 1]
    # Split after the second frame, the second sequence must build its own support.
    split = persistent_by_sequence(frames, ["a", "a", "b", "b", "b"], 3, 5)
    assert [len(f.scores) for f in split] == [0, 0, 0, 0, 1]


def test_external_site_evaluation_keeps_the_runs_threshold_and_resamples_sequences(
    polyp_root: Path, tmp_path: Path
) -> None:
    run = run_training(
        compose(
            [
                "task=polyp_seg",
                f"data.root={polyp_root}",
                "data.params.val_share=0.25",
                "data.image_size=48",
                "data.crop_size=32",
                "data.near_duplicates=null",
                "trainer.max_epochs=1",
                "trainer.enable_progress_bar=false",
                "metrics.n_bootstrap=50",
                "model.pretrained=false",
                f"output_dir={tmp_path}",
            ]
        )
    )
    trained = json.loads((run.path / "metrics.json").read_text())
    assert "iou" in trained and trained["bootstrap"]["unit"] == "image"
    out, document = run_evaluation(str(run.path), test_site="cvc_clinicdb")
    assert document["threshold"] == trained["threshold"]  # never re-chosen on the new site
    assert document["n"] == 12
    assert (document["bootstrap"]["unit"], document["bootstrap"]["n_units"]) == (
        "video sequence",
        3,
    )
    assert "bootstrap over 3 video sequences" in (out.path / "report.md").read_text()
    with pytest.raises(UsageError, match="no other test site"):
        run_evaluation(str(_copy_without_site(run.path, tmp_path)), test_site="cvc_clinicdb")


def _copy_without_site(run: Path, tmp_path: Path) -> Path:
    """A copy of ``run`` whose saved data config has no test_site parameter."""
    import shutil

    from omegaconf import OmegaConf

    copy = tmp_path / "no_site"
    shutil.copytree(run, copy)
    cfg = OmegaConf.load(copy / "config.yaml")
    del cfg.data.params["test_site"]
    OmegaConf.save(cfg, copy / "config.yaml")
    return copy


@pytest.mark.skipif(not (SHARED / "kvasir_seg").is_dir(), reason="Kvasir-SEG not in shared data")
def test_real_kvasir_and_cvc_manifests() -> None:
    own = build_manifest("kvasir_seg", SHARED)
    authors = pd.read_csv(SHARED / "kvasir_seg" / "labels.csv")["split"].value_counts()
    counts_now = own["split"].value_counts()
    assert counts_now["test"] == authors["val"]
    assert counts_now["train"] + counts_now["val"] == authors["train"]
    if (SHARED / "cvc_clinicdb").is_dir():
        external = build_manifest("kvasir_seg", SHARED, test_site="cvc_clinicdb")
        test = external[external["split"] == "test"]
        assert len(test) == 612 and test["group"].nunique() == 29
