"""The manifest: one row per image, the single description of a dataset medzoo trains on.

Columns: ``image`` (path; relative paths are relative to the manifest file), ``label`` (a class
name; for multi-label tasks ``;``-joined names, empty for none), optional ``group`` (patient,
slide or lesion id: splits never separate a group) and optional ``split`` (train/val/test).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from medzoo.errors import ManifestError

REQUIRED_COLUMNS = ("image", "label")
SPLITS = ("train", "val", "test")


def listing(items: Sequence[str], limit: int = 20) -> str:
    """Indented lines naming the offending files in an error or warning, at most ``limit``."""
    shown = "\n".join(f"  {item}" for item in items[:limit])
    more = len(items) - limit
    return shown + (f"\n  ... and {more} more" if more > 0 else "")


def has_split(frame: pd.DataFrame) -> bool:
    """Whether the manifest brings its own train/val/test assignment."""
    return "split" in frame.columns and bool((frame["split"] != "").any())


def normalise_manifest(
    frame: pd.DataFrame, source: str, required: Sequence[str] = REQUIRED_COLUMNS
) -> pd.DataFrame:
    """Check the columns and fill defaults: ``group`` = the image itself, labels as strings.

    Segmentation manifests require ``image`` and ``mask`` instead; their ``label`` is empty.
    """
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ManifestError(
            f"{source}: missing column(s) {missing}; this manifest needs {list(required)} "
            "(optional: 'group', 'split')"
        )
    out = frame.copy()
    if "label" not in out.columns:
        out["label"] = ""
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


PATH_COLUMNS = ("image", "mask", "fov", "mask_2nd")


@dataclass(frozen=True)
class PathPolicy:
    """Where the files a manifest names may lie: inside the folder its paths are relative to
    or one of ``roots`` (the data root), after following symbolic links; anywhere only with
    ``allow_outside`` (``data.allow_outside_root=true``). Manifests are shared files: one must
    not make medzoo open whatever file it names."""

    roots: tuple[Path, ...] = ()
    allow_outside: bool = False


_POLICY: ContextVar[PathPolicy | None] = ContextVar("medzoo_path_policy", default=None)


@contextmanager
def path_policy(policy: PathPolicy) -> Iterator[None]:
    """``resolve_paths`` inside this block applies ``policy`` (``recipes.build_manifest`` sets
    it around every recipe, so no recipe has to carry it)."""
    token = _POLICY.set(policy)
    try:
        yield
    finally:
        _POLICY.reset(token)


def resolve_paths(
    folder: Path, relative: Iterable[str], column: str = "image", source: str | None = None
) -> list[str]:
    """Absolute paths for paths written relative to ``folder``; blanks stay blank. A path that
    leads outside the places ``PathPolicy`` allows is a ``ManifestError`` naming its row
    (rows are counted as in the CSV, the header being row 1)."""
    folder = Path(folder).resolve()
    policy = _POLICY.get() or PathPolicy()
    allowed = (folder, *(Path(root).expanduser().resolve() for root in policy.roots))
    rows = relative.items() if isinstance(relative, pd.Series) else enumerate(relative)
    out, outside = [], []
    for row, text in rows:
        if not text:
            out.append("")
            continue
        resolved = (folder / text).resolve()
        if not policy.allow_outside and not any(resolved.is_relative_to(a) for a in allowed):
            outside.append(f"row {int(row) + 2}: {column} {text!r} leads to {resolved}")
        out.append(str(resolved))
    if outside:
        places = " or ".join(str(a) for a in dict.fromkeys(allowed))
        raise ManifestError(
            f"{source or f'the manifest in {folder}'}: {len(outside)} path(s) lead outside "
            f"{places} (symbolic links followed):\n{listing(outside)}\nmedzoo reads only files "
            "inside the manifest's folder or the data root; move the files there, or pass "
            "data.allow_outside_root=true if you trust this manifest"
        )
    return out


def read_manifest(path: str | Path, required: Sequence[str] = REQUIRED_COLUMNS) -> pd.DataFrame:
    """Read a manifest CSV and resolve its file paths against the CSV's folder."""
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
    frame = normalise_manifest(frame, str(path), required)
    for column in PATH_COLUMNS:
        if column in frame.columns:
            frame[column] = resolve_paths(path.parent, frame[column], column, f"manifest {path}")
    return frame


def write_manifest(frame: pd.DataFrame, path: str | Path) -> None:
    frame.to_csv(path, index=False)
