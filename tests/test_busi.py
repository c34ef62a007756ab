"""BUSI through the real recipe (skipped when the public data folder is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from medzoo.config import compose
from medzoo.data.near_duplicates import NearDuplicateWarning
from medzoo.data.recipes import build_manifest
from medzoo.data.validate import DuplicateImageWarning, validate_manifest
from medzoo.heads import build_datamodule
from medzoo.tasks.card import card_of
from medzoo.train import run_training

CLASSES = ["benign", "malignant", "normal"]


def test_busi_manifest_and_the_conflicting_duplicate(shared_data: Path) -> None:
    frame = build_manifest("busi", shared_data)
    assert len(frame) == 780
    assert frame["label"].value_counts().to_dict() == {
        "benign": 437,
        "malignant": 210,
        "normal": 133,
    }
    with pytest.warns(DuplicateImageWarning, match=r"benign \(433\).*malignant \(145\)"):
        clean = validate_manifest(frame, CLASSES, multilabel=False, source="busi")
    names = {Path(p).name for p in clean["image"]}
    assert "benign (433).jpg" not in names and "malignant (145).jpg" not in names
    assert len(clean) == 778


def test_busi_splits_are_grouped_stratified_and_fixed(shared_data: Path) -> None:
    cfg = compose(["task=breast_us", f"data.root={shared_data}"])
    with pytest.warns(
        NearDuplicateWarning, match=r"benign \(42\).jpg \[benign\] ~ .*malignant \(51\)"
    ):
        first = build_datamodule(cfg, card_of(cfg)).prepare_manifest()
    with pytest.warns(DuplicateImageWarning):
        second = build_datamodule(cfg, card_of(cfg)).prepare_manifest()
    names = set(first["image"].map(lambda p: Path(p).name))
    assert "benign (42).jpg" not in names and "malignant (51).jpg" not in names
    assert first["split"].tolist() == second["split"].tolist()
    assert first.groupby("group")["split"].nunique().max() == 1
    # Near-duplicate re-crops (e.g. benign (3) and benign (320)) share a group, hence a split.
    assert first["group"].nunique() < len(first) - 50
    split_of = dict(zip(first["image"].map(lambda p: Path(p).name), first["split"], strict=True))
    assert split_of["benign (3).jpg"] == split_of["benign (320).jpg"]
    share = first.groupby("split")["label"].value_counts(normalize=True).unstack()
    assert (share.max() - share.min()).max() < 0.05  # every split keeps the label mix


def test_busi_smoke_training(shared_data: Path, tmp_path: Path) -> None:
    cfg = compose(
        [
            "task=breast_us",
            f"data.root={shared_data}",
            "model=resnet10t",
            "data.image_size=32",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=3",
            "trainer.enable_progress_bar=false",
            "metrics.n_bootstrap=50",
            f"output_dir={tmp_path}",
        ]
    )
    with pytest.warns(DuplicateImageWarning):
        run = run_training(cfg)
    metrics = run.read_json("metrics.json")
    assert metrics["task"] == "breast_us" and metrics["n"] > 100
    assert "report (U2, private data)" in (run.path / "report.md").read_text()
