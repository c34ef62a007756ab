"""HAM10000 (Tschandl et al., Sci Data 2018): 10,015 dermoscopy images of 7,470 lesions,
seven diagnoses, here at 200×150. Grouped by ``lesion_id``: images of one lesion never
straddle splits. Two byte-identical pairs are resolved by manifest validation.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medzoo.data.manifest import normalise_manifest, resolve_paths
from medzoo.data.recipes.native import read_labels


def ham10000(root: Path) -> pd.DataFrame:
    labels, native = read_labels(root, "ham10000", "HAM10000")
    frame = pd.DataFrame(
        {
            "image": resolve_paths(labels.parent, native["image"]),
            "label": native["dx"],
            "group": native["lesion_id"],
        }
    )
    return normalise_manifest(frame, str(labels))
