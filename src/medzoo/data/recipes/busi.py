"""BUSI (Al-Dhabyani et al., Data in Brief 2020): breast ultrasound, benign/malignant/normal.

Reads ``<root>/busi/labels.csv`` in place. BUSI has no patient ids, so each image starts as its
own group; near-duplicate re-crops are then linked into shared groups (``data.near_duplicates``)
and the one byte-identical pair with conflicting labels is removed by manifest validation.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medzoo.data.manifest import ManifestError, normalise_manifest

FOLDER = "busi"


def busi(root: Path) -> pd.DataFrame:
    labels = Path(root) / FOLDER / "labels.csv"
    if not labels.is_file():
        raise ManifestError(
            f"BUSI not found: {labels} does not exist. Point medzoo at the folder holding "
            f"'{FOLDER}/labels.csv' with MEDZOO_DATA=<folder> or data.root=<folder>."
        )
    native = pd.read_csv(labels, dtype=str, keep_default_na=False)
    frame = pd.DataFrame(
        {
            "image": [str((labels.parent / p).resolve()) for p in native["image"]],
            "label": native["label"],
        }
    )
    return normalise_manifest(frame, str(labels))
