"""Colonoscopy polyps: Kvasir-SEG (Jha et al., MMM 2020) for training, CVC-ClinicDB (Bernal et
al., CMIG 2015) as another hospital's test set.

``kvasir_seg`` keeps the authors' MediaEval-2020 split: their 880 training images train (a
``val_share`` held out for validation: model choice and thresholds), their 120 validation
images are the test set, as published Kvasir-SEG figures use them. There are no patient ids;
each image is its own group, near-copies are linked by the data module
(``data.near_duplicates``).

``test_site=cvc_clinicdb`` keeps training and validation exactly as above and replaces the
test set with all 612 CVC-ClinicDB frames (Hospital Clinic, Barcelona: another site, another
scanner). Its frames come from 29 video sequences: each frame's group is its sequence, so
confidence intervals resample sequences, not frames. This is what
``python -m medzoo.evaluate run=<run> test_site=cvc_clinicdb`` evaluates, without retraining
or re-thresholding.

``boxes=true`` adds the polyp boxes for detection: Kvasir-SEG's own box file, CVC-ClinicDB's
from the connected components of its masks (it ships no boxes).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import pandas as pd

from medzoo.data.boxes import boxes_from_mask, format_boxes
from medzoo.data.manifest import ManifestError, listing, normalise_manifest, resolve_paths
from medzoo.data.recipes.native import read_labels
from medzoo.data.splits import hold_out_validation

TEST_SITES = ("kvasir_seg", "cvc_clinicdb")
MIN_BOX_PX = 2
COLUMNS = ("image", "mask")


def _kvasir_boxes(labels: Path, images: pd.Series) -> list[str]:
    """The ``boxes`` cell of every image from ``bboxes.csv`` (one row per box, x2/y2 as
    given: the box file's maxima are exclusive pixel edges)."""
    path = labels.parent / "bboxes.csv"
    if not path.is_file():
        raise ManifestError(f"{path} does not exist; Kvasir-SEG's boxes are needed for detection")
    table = pd.read_csv(path)
    table["image"] = resolve_paths(labels.parent, table["image"].astype(str), source=str(path))
    # A few of the published boxes are slivers (one is 1 x 0 px beside its image's real box):
    # no detector can match them at IoU 0.5, and a zero-area box is no box.
    sliver = ((table["xmax"] - table["xmin"]) < MIN_BOX_PX) | (
        (table["ymax"] - table["ymin"]) < MIN_BOX_PX
    )
    if sliver.any():
        warnings.warn(
            f"{path}: {int(sliver.sum())} box(es) narrower than {MIN_BOX_PX} px dropped:\n"
            + listing(
                [
                    f"{Path(r.image).name}: {r.xmin} {r.ymin} {r.xmax} {r.ymax}"
                    for r in table[sliver].itertuples()
                ]
            ),
            stacklevel=2,
        )
        table = table[~sliver]
    cells = table.groupby("image")[["xmin", "ymin", "xmax", "ymax"]].apply(
        lambda rows: format_boxes(rows.to_numpy(dtype=float))
    )
    missing = sorted(set(images) - set(cells.index))
    if missing:
        raise ManifestError(f"{path}: {len(missing)} image(s) have no box, e.g. {missing[0]}")
    return [cells[image] for image in images]


def _mask_boxes(masks: pd.Series) -> list[str]:
    """One box per connected component of each mask (CVC-ClinicDB ships no box file)."""
    cells = []
    for path in masks:
        mask = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise ManifestError(f"cannot read the mask {path}; re-export it as PNG")
        cells.append(format_boxes(boxes_from_mask(mask >= 128)))
    return cells


def _cvc_clinicdb(root: Path, boxes: bool) -> pd.DataFrame:
    labels, native = read_labels(root, "cvc_clinicdb", "CVC-ClinicDB")
    if "sequence" not in native.columns or (native["sequence"] == "").any():
        raise ManifestError(f"{labels}: every frame needs its video 'sequence' number")
    frame = pd.DataFrame(
        {
            "image": resolve_paths(labels.parent, native["image"]),
            "mask": resolve_paths(labels.parent, native["mask"], "mask"),
            "label": "polyp",
            "group": [f"cvc_clinicdb/sequence-{int(s):02d}" for s in native["sequence"]],
            "split": "test",
        }
    )
    if boxes:
        frame["boxes"] = _mask_boxes(frame["mask"])
    return frame


def kvasir_seg(
    root: Path,
    val_share: float = 0.1,
    seed: int = 0,
    boxes: bool = False,
    test_site: str = "kvasir_seg",
) -> pd.DataFrame:
    if test_site not in TEST_SITES:
        raise ManifestError(
            f"kvasir_seg: unknown test_site {test_site!r}; use one of {list(TEST_SITES)} "
            "(data.params.test_site=..., or test_site=... for medzoo.evaluate)"
        )
    labels, native = read_labels(root, "kvasir_seg", "Kvasir-SEG")
    bad = sorted(set(native["split"]) - {"train", "val"})
    if bad:
        raise ManifestError(f"{labels}: unknown split value(s) {bad}; Kvasir-SEG has train/val")
    frame = pd.DataFrame(
        {
            "image": resolve_paths(labels.parent, native["image"]),
            "mask": resolve_paths(labels.parent, native["mask"], "mask"),
            "label": "polyp",
            # The authors' val images are the published test set.
            "split": native["split"].replace({"val": "test"}).to_numpy(),
        }
    )
    if boxes:
        frame["boxes"] = _kvasir_boxes(labels, frame["image"])
    frame = hold_out_validation(normalise_manifest(frame, str(labels), COLUMNS), val_share, seed)
    if test_site == "cvc_clinicdb":
        external = normalise_manifest(_cvc_clinicdb(root, boxes), "CVC-ClinicDB", COLUMNS)
        frame = pd.concat([frame[frame["split"] != "test"], external], ignore_index=True)
    return frame
