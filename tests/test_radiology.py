"""Radiology data: the head CT recipe and its cross-validation folds (skipped without the
public data folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from medzoo.config import compose
from medzoo.data.validate import DuplicateImageWarning
from medzoo.heads import build_datamodule
from medzoo.tasks.card import card_of


def test_head_ct_cross_validation_fold(shared_data: Path) -> None:
    cfg = compose(
        [
            "task=ct_hemorrhage",
            "data.split.cv.fold=2",
            "data.split.cv.repeat=1",
            f"data.root={shared_data}",
        ]
    )
    with pytest.warns(DuplicateImageWarning, match=r"188\.jpg.*189\.jpg"):
        manifest = build_datamodule(cfg, card_of(cfg)).prepare_manifest()
    assert len(manifest) == 199  # one of two byte-identical normal slices kept
    assert (manifest["split"] == "test").sum() == 40
