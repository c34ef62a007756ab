"""Recipes turn a dataset's native layout into a manifest (see ``medzoo.data.manifest``).

Each recipe is ``recipe(root: Path, **params) -> DataFrame`` with absolute image paths. ``root``
is the data root (``data.root``, else ``$MEDZOO_DATA``, else ``./data``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from medzoo.data.recipes.airogs import airogs
from medzoo.data.recipes.busi import busi
from medzoo.data.recipes.csv import csv
from medzoo.data.recipes.drive import drive
from medzoo.data.recipes.head_ct import head_ct
from medzoo.data.recipes.iu_reports import iu_reports
from medzoo.data.recipes.phantom import phantom, vessel_phantom
from medzoo.data.recipes.rahim_dr import rahim_dr

Recipe = Callable[..., pd.DataFrame]

RECIPES: dict[str, Recipe] = {
    "airogs": airogs,
    "busi": busi,
    "csv": csv,
    "drive": drive,
    "head_ct": head_ct,
    "iu_reports": iu_reports,
    "phantom": phantom,
    "rahim_dr": rahim_dr,
    "vessel_phantom": vessel_phantom,
}


def build_manifest(name: str, root: Path, **params: object) -> pd.DataFrame:
    if name not in RECIPES:
        raise ValueError(f"unknown data recipe {name!r}; available: {sorted(RECIPES)}")
    return RECIPES[name](root, **params)
