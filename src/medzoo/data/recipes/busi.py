"""Ultrasound datasets read in place.

BUSI (Al-Dhabyani et al., Data in Brief 2020): breast ultrasound, benign/malignant/normal.

Reads ``<root>/busi/labels.csv`` in place. BUSI has no patient ids, so each image starts as its
own group; near-duplicate re-crops are then linked into shared groups (``data.near_duplicates``)
and the one byte-identical pair with conflicting labels is removed by manifest validation.
``boxes=True`` adds the lesion boxes (``boxes.csv``, one per mask component) for detection.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medzoo.data.boxes import attach_boxes
from medzoo.data.manifest import normalise_manifest, resolve_paths
from medzoo.data.recipes.native import read_labels


def busi(root: Path, boxes: bool = False) -> pd.DataFrame:
    labels, native = read_labels(root, "busi", "BUSI")
    images = resolve_paths(labels.parent, native["image"])
    frame = normalise_manifest(
        pd.DataFrame({"image": images, "label": native["label"]}), str(labels)
    )
    return attach_boxes(frame, labels.parent / "boxes.csv") if boxes else frame


def aul_liver(root: Path, boxes: bool = False) -> pd.DataFrame:
    """AUL mini-test (Xu et al. 2023): 36 liver ultrasound images, benign / malignant focal
    mass, one image per patient; ``boxes=True`` adds the mass boxes."""
    labels, native = read_labels(root, "aul_liver_mini", "AUL liver mini-test")
    images = resolve_paths(labels.parent, native["image"])
    frame = normalise_manifest(
        pd.DataFrame({"image": images, "label": native["label"]}), str(labels)
    )
    return attach_boxes(frame, labels.parent / "boxes.csv") if boxes else frame
