"""Synthetic images rendered once into the cache folder, then read like any other dataset."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from medzoo.data.boxes import boxes_from_mask, format_boxes
from medzoo.data.manifest import read_manifest
from medzoo.data.phantom_drawing import (
    BREAST_US_CLASSES,
    DESIGN_R_ITEMS,
    breast_ultrasound_scene,
    fundus_scene,
    histology_field,
    pressure_ulcer,
    render_phantom,
)
from medzoo.paths import cache_dir

PHANTOM_VERSION = 3


def _write_png(path: Path, image: np.ndarray) -> None:
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)  # phantoms draw RGB; OpenCV writes BGR
    cv2.imwrite(str(path), image)


def _rendered(
    spec: dict, render: Callable[[Path], pd.DataFrame], required: tuple[str, ...]
) -> pd.DataFrame:
    """The manifest of the phantom described by ``spec``, rendering it on first use."""
    key = hashlib.sha256(json.dumps({"v": PHANTOM_VERSION, **spec}, sort_keys=True).encode())
    folder = cache_dir() / "phantoms" / f"{spec['kind']}-{key.hexdigest()[:16]}"
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        # Rendered in a private folder, then renamed into place in one step: a concurrent
        # process (e.g. parallel multirun jobs) never reads a half-written image, and the
        # loser of a race discards its own copy.
        partial = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        render(partial).to_csv(partial / "manifest.csv", index=False)
        try:
            partial.rename(folder)
        except OSError:
            if not manifest.is_file():
                raise
            shutil.rmtree(partial, ignore_errors=True)
    return read_manifest(manifest, required)


def phantom(
    root: Path,
    kind: str = "breast_ultrasound",
    n_per_class: int = 200,
    size: int = 64,
    seed: int = 0,
    classes: list[str] | None = None,
) -> pd.DataFrame:
    """``root`` is unused: phantoms need no data. Images land in ``<cache>/phantoms/<key>/``."""
    classes = list(classes) if classes else None
    spec = {"kind": kind, "n": n_per_class, "size": size, "seed": seed, "classes": classes}

    def render(folder: Path) -> pd.DataFrame:
        images, labels = render_phantom(kind, n_per_class, size, seed, tuple(classes or ()) or None)
        names = [f"{label}_{i:05d}.png" for i, label in enumerate(labels)]
        for name, image in zip(names, images, strict=True):
            _write_png(folder / name, image)
        return pd.DataFrame({"image": names, "label": labels})

    return _rendered(spec, render, ("image", "label"))


def _presplit(index: int, n_images: int, n_val: int, n_test: int) -> str:
    """Image ``index``'s split: the last ``n_test`` are test, the ``n_val`` before them val."""
    if index >= n_images - n_test:
        return "test"
    return "val" if index >= n_images - n_test - n_val else "train"


def _check_counts(recipe: str, n_images: int, n_val: int, n_test: int) -> None:
    if n_images <= n_val + n_test:
        raise ValueError(f"{recipe}: n_images={n_images} leaves no training images")


def _presplit_phantom(
    recipe: str,
    spec: dict,
    n_val: int,
    n_test: int,
    draw: Callable[[Path, int, np.random.Generator], dict],
    required: tuple[str, ...],
) -> pd.DataFrame:
    """The manifest of ``spec["n"]`` images, image ``i`` drawn by ``draw(folder, i, rng)``
    (which writes its files and returns its row) from a generator seeded with (seed, i); the
    last ``n_test`` are test, the ``n_val`` before them validation."""
    n_images = spec["n"]
    _check_counts(recipe, n_images, n_val, n_test)

    def render(folder: Path) -> pd.DataFrame:
        rows = []
        for index in range(n_images):
            row = draw(folder, index, np.random.default_rng([spec["seed"], index]))
            rows.append({**row, "split": _presplit(index, n_images, n_val, n_test)})
        return pd.DataFrame(rows)

    return _rendered(spec, render, required)


def vessel_phantom(
    root: Path, n_images: int = 24, size: int = 128, seed: int = 0, n_val: int = 4, n_test: int = 6
) -> pd.DataFrame:
    """Fundus phantoms with their exact vessel and field-of-view masks, pre-split.

    Image ``i`` depends only on (seed, i); the last ``n_test`` are test, the ``n_val`` before
    them validation.
    """
    spec = {"kind": "fundus_vessels", "n": n_images, "size": size, "seed": seed}

    def draw(folder: Path, index: int, rng: np.random.Generator) -> dict:
        image, vessels, fov = fundus_scene(rng, size, rng.uniform(0.2, 0.8))
        names = {c: f"{index:04d}_{c}.png" for c in ("image", "mask", "fov")}
        _write_png(folder / names["image"], image)
        _write_png(folder / names["mask"], vessels.astype(np.uint8) * 255)
        _write_png(folder / names["fov"], fov.astype(np.uint8) * 255)
        return names

    return _presplit_phantom("vessel_phantom", spec, n_val, n_test, draw, ("image", "mask"))


def mitosis_phantom(
    root: Path,
    n_images: int = 120,
    size: int = 128,
    seed: int = 0,
    mean_mitoses: float = 2.0,
    radius: int = 4,
    n_val: int = 20,
    n_test: int = 30,
) -> pd.DataFrame:
    """H&E-like fields (``phantom_drawing.histology_field``) with a Poisson number of mitotic
    figures each (at most 8); the mask is a disc of ``radius`` px on every figure's centre,
    so blob centroids of the mask are the true positions. Pre-split like ``vessel_phantom``.
    """
    spec = {
        "kind": "mitosis_fields",
        "n": n_images,
        "size": size,
        "seed": seed,
        "mean": mean_mitoses,
        "radius": radius,
    }

    def draw(folder: Path, index: int, rng: np.random.Generator) -> dict:
        image, centres = histology_field(rng, size, min(8, int(rng.poisson(mean_mitoses))))
        mask = np.zeros((size, size), dtype=np.uint8)
        for x, y in centres:
            cv2.circle(mask, (round(x), round(y)), radius, 255, -1)
        names = {c: f"{index:04d}_{c}.png" for c in ("image", "mask")}
        _write_png(folder / names["image"], image)
        _write_png(folder / names["mask"], mask)
        return {**names, "n_mitoses": len(centres)}

    return _presplit_phantom("mitosis_phantom", spec, n_val, n_test, draw, ("image", "mask"))


def designr_phantom(
    root: Path,
    n_images: int = 600,
    size: int = 96,
    seed: int = 0,
    n_val: int = 90,
    n_test: int = 90,
) -> pd.DataFrame:
    """Pressure-ulcer photographs (``phantom_drawing.pressure_ulcer``) with every DESIGN-R item
    graded at random (size never s0); the label grades all seven items. Pre-split like
    ``vessel_phantom``."""
    spec = {"kind": "designr", "n": n_images, "size": size, "seed": seed}

    def draw(folder: Path, index: int, rng: np.random.Generator) -> dict:
        grades = {
            item: int(rng.integers(1 if item == "size" else 0, len(levels)))
            for item, levels in DESIGN_R_ITEMS.items()
        }
        name = f"{index:05d}.png"
        _write_png(folder / name, pressure_ulcer(rng, size, grades))
        label = ";".join(f"{item}={DESIGN_R_ITEMS[item][k]}" for item, k in grades.items())
        return {"image": name, "label": label}

    return _presplit_phantom("designr_phantom", spec, n_val, n_test, draw, ("image", "label"))


def detection_phantom(
    root: Path,
    n_images: int = 240,
    size: int = 96,
    seed: int = 0,
    n_val: int = 40,
    n_test: int = 40,
) -> pd.DataFrame:
    """Breast-ultrasound phantoms (``phantom_drawing.breast_ultrasound_scene``) with the box of each
    drawn lesion; classes cycle benign / malignant / normal (normal: no box). Pre-split like
    ``vessel_phantom``."""
    spec = {"kind": "us_detection", "n": n_images, "size": size, "seed": seed}

    def draw(folder: Path, index: int, rng: np.random.Generator) -> dict:
        label = BREAST_US_CLASSES[index % len(BREAST_US_CLASSES)]
        image, mask = breast_ultrasound_scene(rng, size, label)
        name = f"{index:05d}.png"
        _write_png(folder / name, image)
        return {"image": name, "label": label, "boxes": format_boxes(boxes_from_mask(mask))}

    return _presplit_phantom("detection_phantom", spec, n_val, n_test, draw, ("image", "label"))
