"""Head CT haemorrhage (Kitamura, Kaggle 2018): 200 windowed slices, haemorrhage 100 / normal 100.

No patient ids: each slice is its own group, so slices of one patient may be split apart
(stated on the task card). Twelve of the PNGs are RGBA; images are read as grey.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medzoo.data.manifest import normalise_manifest, resolve_paths
from medzoo.data.recipes.native import read_labels


def head_ct(root: Path) -> pd.DataFrame:
    labels, native = read_labels(root, "head_ct_hemorrhage", "Head CT haemorrhage")
    images = resolve_paths(labels.parent, native["image"])
    frame = pd.DataFrame({"image": images, "label": native["label"]})
    return normalise_manifest(frame, str(labels))
