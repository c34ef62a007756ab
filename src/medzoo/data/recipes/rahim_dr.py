"""Rahim S.S. retinal fundus dataset (DR grade × maculopathy, 10 classes, 300 patients).

The ten upstream classes become the four multi-label findings below, grouped by patient so
that the two eyes of one person never straddle splits. ``Patient299`` (class 5) and
``Patient300`` (class 6) are byte-identical images under two grades; manifest validation
drops all four files as conflicting duplicates.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medzoo.data.manifest import normalise_manifest, resolve_paths
from medzoo.data.recipes.native import read_labels

FINDINGS = ("any_dr", "referable_dr", "maculopathy", "severe_or_worse")

# Upstream class ids: 1 no DR; 2/3 mild; 4/5 moderate; 6/7 severe NPDR; 8/9 PDR (each without /
# with maculopathy); 10 advanced diabetic eye disease.
MODERATE, SEVERE = 4, 6


def findings(class_id: int, maculopathy: bool) -> list[str]:
    """The multi-label findings of one upstream class.

    Referable DR follows the usual screening rule: moderate NPDR or worse, or maculopathy.
    """
    found = []
    if class_id >= 2:
        found.append("any_dr")
    if class_id >= MODERATE or maculopathy:
        found.append("referable_dr")
    if maculopathy:
        found.append("maculopathy")
    if class_id >= SEVERE:
        found.append("severe_or_worse")
    return found


def rahim_dr(root: Path) -> pd.DataFrame:
    labels, native = read_labels(root, "rahim_dr", "Rahim DR fundus dataset")
    frame = pd.DataFrame(
        {
            "image": resolve_paths(labels.parent, native["image"]),
            "label": [
                ";".join(findings(int(c), m == "1"))
                for c, m in zip(native["class_id"], native["maculopathy"], strict=True)
            ],
            "group": native["patient"],
        }
    )
    return normalise_manifest(frame, str(labels))
