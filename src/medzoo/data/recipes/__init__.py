"""Recipes turn a dataset's native layout into a manifest (see ``medzoo.data.manifest``).

Each recipe is ``recipe(root: Path, **params) -> DataFrame`` with absolute image paths. ``root``
is the data root (``data.root``, else ``$MEDZOO_DATA``, else ``./data``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from medzoo.data.manifest import ManifestError, PathPolicy, path_policy
from medzoo.data.recipes.airogs import airogs
from medzoo.data.recipes.ami_br import ami_br
from medzoo.data.recipes.busi import aul_liver, busi
from medzoo.data.recipes.csv import csv, manifest_path
from medzoo.data.recipes.drive import drive
from medzoo.data.recipes.ebhi_seg import ebhi_seg, ebhi_tumour
from medzoo.data.recipes.ham10000 import ham10000
from medzoo.data.recipes.head_ct import head_ct
from medzoo.data.recipes.hyperkvasir import hyperkvasir_uc
from medzoo.data.recipes.iu_reports import iu_reports
from medzoo.data.recipes.phantom import (
    designr_phantom,
    detection_phantom,
    mitosis_phantom,
    phantom,
    vessel_phantom,
)
from medzoo.data.recipes.polyps import kvasir_seg
from medzoo.data.recipes.rahim_dr import rahim_dr
from medzoo.data.recipes.wounds import azh_wound, fuseg
from medzoo.paths import data_root

Recipe = Callable[..., pd.DataFrame]

RECIPES: dict[str, Recipe] = {
    "airogs": airogs,
    "aul_liver": aul_liver,
    "ami_br": ami_br,
    "azh_wound": azh_wound,
    "busi": busi,
    "csv": csv,
    "hyperkvasir_uc": hyperkvasir_uc,
    "designr_phantom": designr_phantom,
    "detection_phantom": detection_phantom,
    "drive": drive,
    "ebhi_seg": ebhi_seg,
    "ebhi_tumour": ebhi_tumour,
    "fuseg": fuseg,
    "ham10000": ham10000,
    "head_ct": head_ct,
    "iu_reports": iu_reports,
    "kvasir_seg": kvasir_seg,
    "mitosis_phantom": mitosis_phantom,
    "phantom": phantom,
    "rahim_dr": rahim_dr,
    "vessel_phantom": vessel_phantom,
}


def build_manifest(
    name: str, root: Path, allow_outside_root: bool = False, **params: object
) -> pd.DataFrame:
    """The recipe's manifest; every file it names must lie inside the data root or the folder
    of the CSV that names it, unless ``allow_outside_root`` (``data.allow_outside_root``)."""
    if name not in RECIPES:
        raise ManifestError(
            f"unknown data recipe {name!r} (data.recipe); available: {sorted(RECIPES)}"
        )
    with path_policy(PathPolicy(roots=(Path(root),), allow_outside=bool(allow_outside_root))):
        return RECIPES[name](root, **params)


def manifest_from_config(data: Mapping) -> tuple[pd.DataFrame, str]:
    """The manifest a resolved ``data`` config describes, and how messages name its source."""
    root = data_root(data.get("root"))
    params = data.get("params") or {}
    frame = build_manifest(data["recipe"], root, data.get("allow_outside_root", False), **params)
    return frame, describe_source(data["recipe"], root, params)


def describe_source(name: str, root: Path, params: Mapping[str, object]) -> str:
    """How error messages name where a manifest came from: the CSV a user passed, else the
    recipe and its data root."""
    if name == "csv" and params.get("manifest"):
        return f"manifest {manifest_path(root, str(params['manifest']))}"
    return f"data recipe {name!r} (root {root})"
