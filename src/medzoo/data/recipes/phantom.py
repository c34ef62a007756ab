"""Synthetic images rendered once into the cache folder, then read like any other dataset."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import pandas as pd

from medzoo.data.manifest import read_manifest
from medzoo.data.phantoms import render_phantom
from medzoo.paths import cache_dir

PHANTOM_VERSION = 1


def phantom(
    root: Path,
    kind: str = "breast_ultrasound",
    n_per_class: int = 200,
    size: int = 64,
    seed: int = 0,
    classes: list[str] | None = None,
) -> pd.DataFrame:
    """``root`` is unused: phantoms need no data. Images land in ``<cache>/phantoms/<key>/``."""
    spec = {
        "v": PHANTOM_VERSION,
        "kind": kind,
        "n": n_per_class,
        "size": size,
        "seed": seed,
        "classes": list(classes) if classes else None,
    }
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_dir() / "phantoms" / f"{kind}-{key}"
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        images, labels = render_phantom(kind, n_per_class, size, seed, tuple(classes or ()) or None)
        folder.mkdir(parents=True, exist_ok=True)
        names = [f"{label}_{i:05d}.png" for i, label in enumerate(labels)]
        for name, image in zip(names, images, strict=True):
            cv2.imwrite(str(folder / name), image)
        partial = folder / "manifest.tmp.csv"
        pd.DataFrame({"image": names, "label": labels}).to_csv(partial, index=False)
        partial.replace(manifest)
    return read_manifest(manifest)
