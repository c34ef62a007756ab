"""EBHI-Seg (Shi et al., Front. Med. 2023): 2,228 colorectal biopsy H&E patches from 524
slides, six histological classes, with lesion masks.

Every patch is grouped by its ``slide_id`` so that no slide straddles splits. The upstream
repository's random split puts patches of 321 slides in more than one split; asking for it
(``split=upstream``) is refused with that count.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medzoo.data.manifest import ManifestError, normalise_manifest, resolve_paths
from medzoo.data.recipes.native import read_labels

SPLITS = ("slide", "upstream")
NEOPLASTIC = ("Adenocarcinoma", "High-grade_IN", "Low-grade_IN", "Serrated_adenoma")


def _read(root: Path, split: str) -> tuple[Path, pd.DataFrame]:
    if split not in SPLITS:
        raise ManifestError(f"ebhi_seg: split must be one of {SPLITS}, not {split!r}")
    labels, native = read_labels(root, "ebhi_seg", "EBHI-Seg")
    if split == "upstream":
        spans = native.groupby("slide_id")["repo_split"].nunique()
        raise ManifestError(
            f"ebhi_seg: the upstream split in {labels} (column repo_split) is random per patch: "
            f"{int((spans > 1).sum())} of {spans.size} slides have patches in more than one "
            "split, so test patches share slides with training patches. Use "
            "data.params.split=slide (the default): medzoo splits by slide."
        )
    return labels, native


def ebhi_seg(root: Path, split: str = "slide") -> pd.DataFrame:
    """Patch classification manifest: label = the six-class diagnosis, group = slide."""
    labels, native = _read(root, split)
    frame = pd.DataFrame(
        {
            "image": resolve_paths(labels.parent, native["image"]),
            "label": native["label"],
            "group": native["slide_id"],
        }
    )
    return normalise_manifest(frame, str(labels))


def ebhi_tumour(
    root: Path, split: str = "slide", classes: list[str] | tuple[str, ...] = NEOPLASTIC
) -> pd.DataFrame:
    """Segmentation manifest of the patches of ``classes`` (the neoplastic ones by default),
    whose masks outline the lesion: mask area / patch area is the tumour-area fraction.
    Patches without a mask (two upstream) are left out."""
    labels, native = _read(root, split)
    unknown = sorted(set(classes) - set(native["label"]))
    if unknown:
        raise ManifestError(
            f"ebhi_tumour: unknown classes {unknown}; {labels} has {sorted(set(native['label']))}"
        )
    keep = native[native["label"].isin(classes) & (native["mask"] != "")]
    frame = pd.DataFrame(
        {
            "image": resolve_paths(labels.parent, keep["image"]),
            "mask": resolve_paths(labels.parent, keep["mask"]),
            "group": keep["slide_id"].to_numpy(),
        }
    )
    return normalise_manifest(frame, str(labels), ("image", "mask"))
