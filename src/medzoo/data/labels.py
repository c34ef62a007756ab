"""How a manifest's ``label`` column becomes training targets, and which figures must be
defined on the splits (``coverage``): each head hands its own ``LabelCoding`` to the data
module, so the data layer never needs to know which head it serves."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from medzoo.data.validate import split_labels


def class_indices(labels: Sequence[str], class_names: Sequence[str]) -> np.ndarray:
    """One class index per image (binary, multiclass)."""
    index = {name: k for k, name in enumerate(class_names)}
    return np.array([index[label] for label in labels], dtype=np.int64)


def multi_hot(labels: Sequence[str], class_names: Sequence[str]) -> np.ndarray:
    """An (n, classes) 0/1 float matrix from ';'-joined names (multi-label)."""
    index = {name: k for k, name in enumerate(class_names)}
    out = np.zeros((len(labels), len(class_names)), dtype=np.float32)
    for row, label in enumerate(labels):
        for name in split_labels(label):
            out[row, index[name]] = 1.0
    return out


@dataclass(frozen=True)
class Coverage:
    """What the head reports, so ``coverage.check_coverage`` can tell before training whether
    each figure will be defined: binary ``views`` (name → positive classes) that need both
    sides in val and test; ``multi_hot`` labels; ``per_class`` figures (recall, one-vs-rest
    AUC) that are only null when their class is absent."""

    views: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    multi_hot: bool = False
    per_class: bool = False


@dataclass(frozen=True)
class LabelCoding:
    """A head's reading of the ``label`` column."""

    encode: Callable[[Sequence[str], Sequence[str]], np.ndarray] = class_indices
    token_lists: bool = False  # labels are ';'-joined names (multi-label, graded items)
    # extra checks of every label (e.g. graded items: each item graded once); raises
    validate: Callable[[pd.DataFrame, Sequence[str], str], None] | None = None
    coverage: Coverage | None = None  # None: no per-split class check (grades, masks, boxes)
    count_by_label: bool = True  # log images per split and label (not per grade combination)
