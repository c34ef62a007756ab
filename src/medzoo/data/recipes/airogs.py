"""EyePACS-AIROGS-light-v2 subset: referable glaucoma vs no referable glaucoma (770 fundi).

``subset=main`` (default) reads the 770 EyePACS images; ``extra`` adds the 29 BEH images kept
apart upstream (a different hospital; useful only as a separate check). There are no patient
ids, so both eyes of one person may fall in different splits: the data's PROVENANCE warns of
it and nothing in the files can prevent it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medzoo.data.manifest import ManifestError, normalise_manifest, resolve_paths
from medzoo.data.recipes.native import read_labels

SUBSETS = ("main", "extra")


def airogs(root: Path, subsets: list[str] | None = None) -> pd.DataFrame:
    subsets = list(subsets or ["main"])
    unknown = sorted(set(subsets) - set(SUBSETS))
    if unknown:
        raise ManifestError(
            f"airogs recipe: unknown subset(s) {unknown}; use data.params.subsets={list(SUBSETS)}"
        )
    labels, native = read_labels(root, "airogs_glaucoma", "AIROGS glaucoma subset")
    native = native[native["subset"].isin(subsets)]
    images = resolve_paths(labels.parent, native["image"])
    frame = pd.DataFrame({"image": images, "label": native["label"]})
    return normalise_manifest(frame, str(labels))
