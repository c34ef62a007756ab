"""Head CT haemorrhage (Kitamura, Kaggle 2018): 200 windowed slices, haemorrhage 100 / normal 100.

No patient ids: each slice is its own group, so slices of one patient may be split apart
(stated on the task card). Twelve of the PNGs are RGBA; images are read as grey.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medzoo.data.manifest import normalise_manifest
from medzoo.data.recipes.native import read_labels, resolve


def head_ct(root: Path) -> pd.DataFrame:
    labels, native = read_labels(root, "head_ct_hemorrhage", "Head CT haemorrhage")
    frame = pd.DataFrame({"image": resolve(labels, native["image"]), "label": native["label"]})
    return normalise_manifest(frame, str(labels))
