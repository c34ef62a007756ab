"""HyperKvasir ulcerative-colitis grades (Borgli et al., Sci Data 2020): 851 colonoscopy images
in six severity grades, 0-1, 1, 1-2, 2, 2-3 and 3, with the dataset's official two-fold split.

One fold is the test set (``test_fold``); a label-stratified share of the other fold is held
out for validation. There are no patient ids, so images are their own groups; near-duplicates
across the folds are reported by the data module (``data.near_duplicates``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medzoo.data.manifest import ManifestError, normalise_manifest, resolve_paths
from medzoo.data.recipes.native import read_labels
from medzoo.data.splits import hold_out_validation

FOLDS = ("fold0", "fold1")


def hyperkvasir_uc(
    root: Path, test_fold: int = 1, val_share: float = 0.15, seed: int = 0
) -> pd.DataFrame:
    labels, native = read_labels(root, "hyperkvasir_uc", "HyperKvasir UC grades")
    if f"fold{test_fold}" not in FOLDS:
        raise ManifestError(f"hyperkvasir_uc: test_fold must be 0 or 1, not {test_fold!r}")
    frame = pd.DataFrame(
        {
            "image": resolve_paths(labels.parent, native["image"]),
            "label": native["label"].str.replace("ulcerative-colitis-", "", regex=False),
            "split": ["test" if f == f"fold{test_fold}" else "train" for f in native["split"]],
        }
    )
    return hold_out_validation(normalise_manifest(frame, str(labels)), val_share, seed)
