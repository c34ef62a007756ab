"""Area of a binary map inside a region (e.g. tumour share of a patch, vessel share of a FOV)."""

from __future__ import annotations

import numpy as np


def area_fraction(mask: np.ndarray, region: np.ndarray) -> float:
    """Share of ``region`` pixels that are on in ``mask``; NaN for an empty region."""
    region = np.asarray(region, bool)
    area = int(np.count_nonzero(region))
    return float(np.count_nonzero(np.asarray(mask, bool) & region) / area) if area else float("nan")


def area_measures(mask: np.ndarray, region: np.ndarray) -> dict[str, float]:
    return {"area_fraction": area_fraction(mask, region)}
