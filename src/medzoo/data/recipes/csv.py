"""A user's own dataset: any manifest CSV (columns image,label[,group,split])."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medzoo.data.manifest import ManifestError, read_manifest


def csv(root: Path, manifest: str | None = None) -> pd.DataFrame:
    if not manifest:
        raise ManifestError(
            "data recipe 'csv' needs a manifest: data.params.manifest=<path to a CSV with "
            "columns image,label[,group,split]>"
        )
    path = Path(manifest).expanduser()
    return read_manifest(path if path.is_absolute() else Path(root) / path)
