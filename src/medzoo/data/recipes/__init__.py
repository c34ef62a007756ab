"""Recipes turn a dataset's native layout into a manifest (see ``medzoo.data.manifest``).

Each recipe is ``recipe(root: Path, **params) -> DataFrame`` with absolute image paths. ``root``
is the data root (``data.root``, else ``$MEDZOO_DATA``, else ``./data``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from medzoo.data.recipes.airogs import airogs
from medzoo.data.recipes.ami_br import ami_br
from medzoo.data.recipes.busi import aul_liver, busi
from medzoo.data.recipes.csv import csv
from medzoo.data.recipes.drive import drive
from medzoo.data.recipes.ebhi_seg import ebhi_seg, ebhi_tumour
from medzoo.data.recipes.ham10000 import ham10000
from medzoo.data.recipes.head_ct import head_ct
from medzoo.data.recipes.iu_reports import iu_reports
from medzoo.data.recipes.phantom import (
    designr_phantom,
    detection_phantom,
    mitosis_phantom,
    phantom,
    vessel_phantom,
)
from medzoo.data.recipes.rahim_dr import rahim_dr
from medzoo.data.recipes.wounds import azh_wound, fuseg

Recipe = Callable[..., pd.DataFrame]

RECIPES: dict[str, Recipe] = {
    "airogs": airogs,
    "aul_liver": aul_liver,
    "ami_br": ami_br,
    "azh_wound": azh_wound,
    "busi": busi,
    "csv": csv,
    "designr_phantom": designr_phantom,
    "detection_phantom": detection_phantom,
    "drive": drive,
    "ebhi_seg": ebhi_seg,
    "ebhi_tumour": ebhi_tumour,
    "fuseg": fuseg,
    "ham10000": ham10000,
    "head_ct": head_ct,
    "iu_reports": iu_reports,
    "mitosis_phantom": mitosis_phantom,
    "phantom": phantom,
    "rahim_dr": rahim_dr,
    "vessel_phantom": vessel_phantom,
}


def build_manifest(name: str, root: Path, **params: object) -> pd.DataFrame:
    if name not in RECIPES:
        raise ValueError(f"unknown data recipe {name!r}; available: {sorted(RECIPES)}")
    return RECIPES[name](root, **params)
