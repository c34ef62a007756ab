"""A user's own dataset: any manifest CSV (columns image,label[,group,split])."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medzoo.data.manifest import ManifestError, read_manifest


def manifest_path(root: Path, manifest: str) -> Path:
    """The manifest file: as given when absolute, else inside the data root."""
    path = Path(manifest).expanduser()
    return (path if path.is_absolute() else Path(root) / path).resolve()


def csv(root: Path, manifest: str | None = None) -> pd.DataFrame:
    if not manifest:
        raise ManifestError(
            "data recipe 'csv' needs a manifest: data.params.manifest=<path to a CSV with "
            "columns image,label[,group,split]>"
        )
    return read_manifest(manifest_path(root, manifest))
