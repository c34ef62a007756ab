"""Before training: is every figure the task will report defined on these splits?

A split with one class, or a binary view (the binary positive, each class group) with no
positive or no negative image in validation or test, leaves AUC, sensitivity, specificity and
the validation-chosen threshold undefined: training would run to the end and then have nothing
to report. Those stop the run before anything is written. A class that is simply absent (a
user's subset of a task's classes) only makes its own figures null: that is said, and the run
goes on.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pandas as pd

from medzoo.data.labels import Coverage
from medzoo.data.manifest import SPLITS, ManifestError
from medzoo.data.validate import split_labels

EVALUATED = ("val", "test")  # thresholds are chosen on val, figures measured on test

FIX = (
    "Fix: add images of the missing class, change the split (data.split.fractions, "
    "data.split.seed, or the manifest's 'split' column), or train a card without that class "
    "(task.class_names, task.class_groups)"
)


class CoverageWarning(UserWarning):
    """Some figures will be null: a class has no image in a split that measures it."""


def label_counts(frame: pd.DataFrame, class_names: Sequence[str], multilabel: bool) -> pd.DataFrame:
    """Images per split (rows) and class (columns); multi-label: images carrying each label."""
    table = pd.DataFrame(0, index=list(SPLITS), columns=list(class_names), dtype=int)
    for split, label in zip(frame["split"], frame["label"], strict=True):
        for name in split_labels(label) if multilabel else [label]:
            if name in table.columns and split in table.index:
                table.loc[split, name] += 1
    return table


def check_coverage(
    frame: pd.DataFrame, class_names: Sequence[str], coverage: Coverage | None, source: str
) -> list[str]:
    """Raise ``ManifestError`` (with the counts per split and the fix) when a figure the head
    reports (``coverage``) would be undefined; warn and return the figures that will only be
    null."""
    if coverage is None:
        return []  # graded items, masks and boxes report per-item or per-pixel figures
    multilabel = coverage.multi_hot
    counts = label_counts(frame, class_names, multilabel)
    sizes = frame["split"].value_counts().reindex(list(SPLITS), fill_value=0)
    fatal: list[str] = []
    null: list[str] = []
    if multilabel:
        for name in class_names:
            if not counts.loc["train", name] and counts.loc[list(EVALUATED), name].any():
                fatal.append(f"label {name!r} has no training image but is measured on val/test")
            for split in EVALUATED:
                carried = int(counts.loc[split, name])
                if carried in (0, sizes[split]):
                    which = "no" if carried == 0 else "every"
                    null.append(f"label {name!r}: all its figures ({which} {split} image has it)")
                    break
        if len(null) == len(class_names):
            fatal.append("no label has images with and without it in both val and test")
    else:
        for split in SPLITS:
            present = [name for name in class_names if counts.loc[split, name]]
            if len(present) < 2:
                held = f"only {present[0]!r}" if present else "no image"
                fatal.append(f"the {split} split holds {held}: a model needs two classes")
        for name in class_names:
            if not counts.loc["train", name] and counts.loc[list(EVALUATED), name].any():
                fatal.append(f"class {name!r} has no training image but is measured on val/test")
        for view, members in coverage.views.items():
            for split in EVALUATED:
                positives = int(counts.loc[split, list(members)].sum())
                if positives == 0 or positives == sizes[split]:
                    side = "no" if positives == 0 else "only"
                    fatal.append(
                        f"{view!r}: the {split} split has {side} {'/'.join(members)} images, so "
                        "its AUC, sensitivity, specificity and threshold are undefined"
                    )
        if coverage.per_class and not fatal:
            for name in class_names:
                if not counts.loc["test", name]:
                    null.append(f"class {name!r}: its test recall and one-vs-rest AUC")
    table = counts.to_string()
    if fatal:
        raise ManifestError(
            f"{source}: the figures this task reports cannot be computed on these splits:\n"
            + "\n".join(f"  {line}" for line in fatal)
            + f"\nimages per split and {'label' if multilabel else 'class'}:\n{table}\n{FIX}"
        )
    if null:
        warnings.warn(
            f"{source}: some classes are absent where they would be measured; these figures "
            "will be null:\n"
            + "\n".join(f"  {line}" for line in null)
            + f"\nimages per split and {'label' if multilabel else 'class'}:\n{table}",
            CoverageWarning,
            stacklevel=2,
        )
    return null
