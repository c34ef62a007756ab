"""The manifest: one row per image, the single description of a dataset medzoo trains on.

Columns: ``image`` (path; relative paths are relative to the manifest file), ``label`` (a class
name; for multi-label tasks ``;``-joined names, empty for none), optional ``group`` (patient,
slide or lesion id: splits never separate a group) and optional ``split`` (train/val/test).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

REQUIRED_COLUMNS = ("image", "label")
SPLITS = ("train", "val", "test")


class ManifestError(ValueError):
    """A manifest that cannot be trained on; the message names the file and the fix."""


def listing(items: Sequence[str], limit: int = 20) -> str:
    """Indented lines naming the offending files in an error or warning, at most ``limit``."""
    shown = "\n".join(f"  {item}" for item in items[:limit])
    more = len(items) - limit
    return shown + (f"\n  ... and {more} more" if more > 0 else "")


def has_split(frame: pd.DataFrame) -> bool:
    """Whether the manifest brings its own train/val/test assignment."""
    return "split" in frame.columns and bool((frame["split"] != "").any())


def normalise_manifest(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check the columns and fill defaults: ``group`` = the image itself, labels as strings."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ManifestError(
            f"{source}: missing column(s) {missing}; a manifest needs 'image' and 'label' "
            "(optional: 'group', 'split')"
        )
    out = frame.copy()
    out["image"] = out["image"].astype(str)
    out["label"] = out["label"].fillna("").astype(str).str.strip()
    if "group" not in out.columns:
        out["group"] = out["image"]
    out["group"] = out["group"].fillna(out["image"]).astype(str)
    if "split" in out.columns:
        out["split"] = out["split"].fillna("").astype(str).str.strip()
        bad = sorted(set(out["split"]) - set(SPLITS))
        if bad:
            raise ManifestError(f"{source}: unknown split value(s) {bad}; use {list(SPLITS)}")
    return out.reset_index(drop=True)


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest CSV and resolve its image paths against the CSV's folder."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ManifestError(
            f"manifest {path} does not exist; pass data.params.manifest=<path to a CSV with "
            "columns image,label[,group,split]>"
        )
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ManifestError(f"manifest {path} is not a readable CSV: {err}") from err
    frame = normalise_manifest(frame, str(path))
    frame["image"] = [str((path.parent / p).resolve()) for p in frame["image"]]
    return frame


def write_manifest(frame: pd.DataFrame, path: str | Path) -> None:
    frame.to_csv(path, index=False)
