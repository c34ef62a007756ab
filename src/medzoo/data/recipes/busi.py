"""BUSI (Al-Dhabyani et al., Data in Brief 2020): breast ultrasound, benign/malignant/normal.

Reads ``<root>/busi/labels.csv`` in place. BUSI has no patient ids, so each image starts as its
own group; near-duplicate re-crops are then linked into shared groups (``data.near_duplicates``)
and the one byte-identical pair with conflicting labels is removed by manifest validation.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medzoo.data.manifest import normalise_manifest, resolve_paths
from medzoo.data.recipes.native import read_labels


def busi(root: Path) -> pd.DataFrame:
    labels, native = read_labels(root, "busi", "BUSI")
    images = resolve_paths(labels.parent, native["image"])
    frame = pd.DataFrame({"image": images, "label": native["label"]})
    return normalise_manifest(frame, str(labels))
