"""Manifest validation, run before any training.

Missing images, images that do not decode to their last byte, images above the pixel limit
and unknown labels are errors (listed with file names). Exact
duplicate images (same bytes) are resolved: copies with conflicting labels are all dropped, as
nobody can tell which label is right; copies with the same label keep one row. Each is a warning.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from medzoo.data.images import MAX_PIXELS, TOO_LARGE_FIX, decode_problem
from medzoo.data.manifest import ManifestError, listing
from medzoo.metrics.items import items_of, parse_grades


class DuplicateImageWarning(UserWarning):
    """Exact-duplicate images were found in a manifest and some rows were dropped."""


def split_labels(label: str) -> list[str]:
    return [part.strip() for part in label.split(";") if part.strip()]


@dataclass
class FileScan:
    """What one read of every file found: its SHA-256, and which files cannot be used."""

    hashes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    too_large: list[str] = field(default_factory=list)

    def __iadd__(self, other: FileScan) -> FileScan:
        self.missing += other.missing
        self.unreadable += other.unreadable
        self.too_large += other.too_large
        return self

    def problems(self) -> list[str]:
        problems = []
        if self.missing:
            problems.append(
                f"{len(self.missing)} file(s) do not exist (check the paths: a manifest's are "
                "relative to its folder, a dataset recipe's to the data root — data.root or "
                f"$MEDZOO_DATA):\n{listing(self.missing)}"
            )
        if self.unreadable:
            problems.append(
                f"{len(self.unreadable)} file(s) cannot be decoded (re-export them or remove "
                f"their rows):\n{listing(self.unreadable)}"
            )
        if self.too_large:
            problems.append(
                f"{len(self.too_large)} image(s) are too large to decode ({TOO_LARGE_FIX}):\n"
                f"{listing(self.too_large)}"
            )
        return problems


def scan_files(images: Sequence[str], max_pixels: int = MAX_PIXELS) -> FileScan:
    """One read per file, decoded to its last byte (``images.decode_problem``)."""
    scan = FileScan()
    for image in images:
        path = Path(image)
        if not path.is_file():
            scan.missing.append(image)
            scan.hashes.append("")
            continue
        data = path.read_bytes()
        scan.hashes.append(hashlib.sha256(data).hexdigest())
        problem = decode_problem(data, image, max_pixels)
        if problem is not None:
            kind, detail = problem
            (scan.too_large if kind == "too large" else scan.unreadable).append(
                f"{image} ({detail})"
            )
    return scan


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
    frame: pd.DataFrame,
    class_names: Sequence[str],
    multilabel: bool,
    source: str,
    max_pixels: int = MAX_PIXELS,
) -> pd.DataFrame:
    """Return the manifest with duplicates resolved, or raise ``ManifestError`` listing problems."""
    scan = scan_files(frame["image"].tolist(), max_pixels)
    problems = scan.problems()
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
    return _resolve_duplicates(frame.assign(sha256=scan.hashes), source)


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


def validate_segmentation_manifest(
    frame: pd.DataFrame, source: str, max_pixels: int = MAX_PIXELS
) -> pd.DataFrame:
    """Images and their masks (``mask``; optional ``fov`` and ``mask_2nd``) must all decode.

    Byte-identical images are resolved as for classification, with the vessel mask standing
    in for the label: copies with different masks are all dropped.
    """
    problems = []
    scan = scan_files(frame["image"].tolist(), max_pixels)
    image_hashes = list(scan.hashes)
    mask_hashes: list[str] = []
    for column in MASK_COLUMNS:
        if column not in frame.columns:
            continue
        present = [p for p in frame[column] if p]
        if column == "mask" and len(present) < len(frame):
            problems.append(f"{len(frame) - len(present)} row(s) have no 'mask'")
        masks = scan_files(present, max_pixels)
        scan += masks
        if column == "mask":
            mask_hashes = masks.hashes
    problems += scan.problems()
    if problems:
        raise ManifestError(f"{source} failed validation:\n" + "\n".join(problems))
    labelled = frame.assign(sha256=image_hashes, label=[f"mask {h[:12]}" for h in mask_hashes])
    return _resolve_duplicates(labelled, source).assign(label="")
