"""Reading a packed public dataset's ``<root>/<folder>/labels.csv`` in place."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medzoo.data.manifest import ManifestError


def read_labels(
    root: Path, folder: str, dataset: str, name: str = "labels.csv"
) -> tuple[Path, pd.DataFrame]:
    """The labels file's path and its rows (all strings); a clear error when it is absent."""
    labels = Path(root) / folder / name
    if not labels.is_file():
        raise ManifestError(
            f"{dataset} not found: {labels} does not exist. Point medzoo at the folder holding "
            f"'{folder}/{name}' with MEDZOO_DATA=<folder> or data.root=<folder>."
        )
    return labels, pd.read_csv(labels, dtype=str, keep_default_na=False)
