"""Manifest validation, run before any training.

Missing or unreadable images and unknown labels are errors (listed with file names). Exact
duplicate images (same bytes) are resolved: copies with conflicting labels are all dropped, as
nobody can tell which label is right; copies with the same label keep one row. Each is a warning.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from PIL import Image, UnidentifiedImageError

from medzoo.data.manifest import ManifestError, listing
from medzoo.metrics.grading import items_of, parse_grades


class DuplicateImageWarning(UserWarning):
    """Exact-duplicate images were found in a manifest and some rows were dropped."""


def split_labels(label: str) -> list[str]:
    return [part.strip() for part in label.split(";") if part.strip()]


def _scan_files(images: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """One read per file: missing files, undecodable files, and every file's SHA-256."""
    missing, unreadable, hashes = [], [], []
    for image in images:
        path = Path(image)
        if not path.is_file():
            missing.append(image)
            hashes.append("")
            continue
        data = path.read_bytes()
        hashes.append(hashlib.sha256(data).hexdigest())
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.verify()
        except (OSError, UnidentifiedImageError) as err:
            unreadable.append(f"{image} ({err})")
    return missing, unreadable, hashes


def _file_problems(missing: Sequence[str], unreadable: Sequence[str]) -> list[str]:
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} file(s) do not exist (check the paths or the data root "
            f"— data.root or $MEDZOO_DATA):\n{listing(missing)}"
        )
    if unreadable:
        problems.append(
            f"{len(unreadable)} file(s) cannot be decoded (re-export them or remove "
            f"their rows):\n{listing(unreadable)}"
        )
    return problems


def _resolve_duplicates(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    drop: list[int] = []
    messages: list[str] = []
    for _, rows in frame.groupby("sha256", sort=False):
        if len(rows) < 2:
            continue
        names = ", ".join(f"{r.image} [{r.label}]" for r in rows.itertuples())
        if rows["label"].nunique() > 1:
            drop.extend(rows.index)
            messages.append(f"conflicting labels, all dropped: {names}")
        else:
            drop.extend(rows.index[1:])
            messages.append(f"same label, kept the first: {names}")
    if messages:
        text = f"{source}: {len(messages)} set(s) of byte-identical images:\n" + listing(messages)
        warnings.warn(text, DuplicateImageWarning, stacklevel=3)
    return frame.drop(index=drop).reset_index(drop=True)


def validate_manifest(
    frame: pd.DataFrame, class_names: Sequence[str], multilabel: bool, source: str
) -> pd.DataFrame:
    """Return the manifest with duplicates resolved, or raise ``ManifestError`` listing problems."""
    missing, unreadable, hashes = _scan_files(frame["image"].tolist())
    problems = _file_problems(missing, unreadable)
    known = set(class_names)
    bad_rows = []
    for row in frame.itertuples():
        names = split_labels(row.label) if multilabel else [row.label]
        if any(name not in known for name in names):
            bad_rows.append(f"{row.image}: {row.label!r}")
    if bad_rows:
        problems.append(
            f"{len(bad_rows)} row(s) have labels outside the task's classes {sorted(known)} "
            f"(fix the label or the task card):\n{listing(bad_rows)}"
        )
    if problems:
        raise ManifestError(f"{source} failed validation:\n" + "\n".join(problems))
    return _resolve_duplicates(frame.assign(sha256=hashes), source)


def validate_items(frame: pd.DataFrame, class_names: Sequence[str], source: str) -> None:
    """Every label of an items task grades each item exactly once, with a known grade."""
    items = items_of(class_names)
    bad_rows = []
    for row in frame.itertuples():
        try:
            parse_grades(row.label, items)
        except ValueError as err:
            bad_rows.append(f"{row.image}: {err}")
    if bad_rows:
        example = ";".join(f"{item}={grades[0]}" for item, grades in items.items())
        raise ManifestError(
            f"{source}: {len(bad_rows)} label(s) do not grade every item once, e.g. "
            f"'{example}':\n{listing(bad_rows)}"
        )


MASK_COLUMNS = ("mask", "fov", "mask_2nd")


def validate_segmentation_manifest(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Images and their masks (``mask``; optional ``fov`` and ``mask_2nd``) must all decode.

    Byte-identical images are resolved as for classification, with the vessel mask standing
    in for the label: copies with different masks are all dropped.
    """
    problems = []
    image_missing, image_unreadable, image_hashes = _scan_files(frame["image"].tolist())
    missing, unreadable = list(image_missing), list(image_unreadable)
    mask_hashes: list[str] = []
    for column in MASK_COLUMNS:
        if column not in frame.columns:
            continue
        present = [p for p in frame[column] if p]
        if column == "mask" and len(present) < len(frame):
            problems.append(f"{len(frame) - len(present)} row(s) have no 'mask'")
        col_missing, col_unreadable, hashes = _scan_files(present)
        missing += col_missing
        unreadable += col_unreadable
        if column == "mask":
            mask_hashes = hashes
    problems += _file_problems(missing, unreadable)
    if problems:
        raise ManifestError(f"{source} failed validation:\n" + "\n".join(problems))
    labelled = frame.assign(sha256=image_hashes, label=[f"mask {h[:12]}" for h in mask_hashes])
    return _resolve_duplicates(labelled, source).assign(label="")
