"""Wound photographs from the AZH Wound and Vascular Center (Milwaukee).

- ``azh_wound``: wound-type ROI crops (Anisuzzaman et al., Sci Rep 2022): diabetic, pressure,
  surgical, venous ulcers and normal skin, with the published train/test split. The test
  split's 25 background patches have no training counterpart and are left out.
- ``fuseg``: the FUSeg 2021 foot-ulcer segmentation challenge (Wang et al., Sci Rep 2020):
  512-px photos with wound masks; the challenge's validation set, the last one with masks,
  is medzoo's test set.

Both keep the published test split and hold out a stratified share of the training images
for validation. There are no patient ids, so each image is its own group (stated on the
cards). Byte-identical copies (``test/S/99_0.jpg`` = ``train/S/10_0.jpg`` in AZH; 29 sets in
FUSeg) are resolved by manifest validation, which keeps the first copy: the training one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medzoo.data.manifest import normalise_manifest, resolve_paths
from medzoo.data.recipes.native import read_labels
from medzoo.data.splits import hold_out_validation

WOUND_TYPES = ("diabetic", "pressure", "surgical", "venous", "normal_skin")


def _published_split(
    frame: pd.DataFrame, source: str, required: tuple[str, ...], val_share: float, seed: int
) -> pd.DataFrame:
    """Training rows first (byte-identical copies keep the first, so the training one), then a
    held-out validation share of the training rows."""
    frame = frame.sort_values("split", key=lambda s: s != "train", kind="stable")
    return hold_out_validation(normalise_manifest(frame, source, required), val_share, seed)


def azh_wound(root: Path, val_share: float = 0.15, seed: int = 0) -> pd.DataFrame:
    labels, native = read_labels(root, "azh_wound", "AZH wound-type dataset")
    native = native[native["label"].isin(WOUND_TYPES)]
    frame = pd.DataFrame(
        {
            "image": resolve_paths(labels.parent, native["image"]),
            "label": native["label"].to_numpy(),
            "split": native["split"].to_numpy(),
        }
    )
    return _published_split(frame, str(labels), ("image", "label"), val_share, seed)


def fuseg(root: Path, val_share: float = 0.15, seed: int = 0) -> pd.DataFrame:
    labels, native = read_labels(root, "fuseg_foot_ulcer", "FUSeg foot-ulcer dataset")
    native = native[native["mask"] != ""]  # the challenge's test masks were withheld
    frame = pd.DataFrame(
        {
            "image": resolve_paths(labels.parent, native["image"]),
            "mask": resolve_paths(labels.parent, native["mask"]),
            "split": native["split"].replace({"validation": "test"}).to_numpy(),
        }
    )
    return _published_split(frame, str(labels), ("image", "mask"), val_share, seed)
