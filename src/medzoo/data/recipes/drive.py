"""DRIVE (Staal et al., IEEE TMI 2004): 40 colour fundi with manual vessel masks.

The official split is kept: images 21–40 train, 01–20 test. The last ``n_val`` training images
(by id) are held out for validation (model selection and the threshold). Test images carry the
second observer's masks (``mask_2nd``), the human reference.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medzoo.data.manifest import ManifestError, normalise_manifest, resolve_paths
from medzoo.data.recipes.native import read_labels

SEGMENTATION_COLUMNS = ("image", "mask")


def drive(root: Path, n_val: int = 4) -> pd.DataFrame:
    labels, native = read_labels(root, "drive", "DRIVE")
    train = native.index[native["split"] == "train"]
    if not 0 < n_val < len(train):
        raise ManifestError(
            f"drive recipe: n_val={n_val} must leave training images; {len(train)} exist "
            "(data.params.n_val=...)"
        )
    split = native["split"].copy()
    held_out = native.loc[train].sort_values("image").index[-n_val:]
    split.loc[held_out] = "val"
    frame = pd.DataFrame(
        {
            "image": resolve_paths(labels.parent, native["image"]),
            "mask": resolve_paths(labels.parent, native["mask"]),
            "fov": resolve_paths(labels.parent, native["fov"]),
            "mask_2nd": resolve_paths(labels.parent, native["mask_2nd"]),
            "split": split,
        }
    )
    return normalise_manifest(frame, str(labels), SEGMENTATION_COLUMNS)
