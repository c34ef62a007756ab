"""AMi-Br (Bertram et al., BVM 2025): 3,720 128-px crops centred on mitotic figures from
MIDOG21 and TUPAC16 breast cancer images, labelled atypical or normal by a majority of three
experts. Grouped by source image (``<source>/<slide>``: slide names repeat across the two
sources), so crops of one image never straddle splits.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medzoo.data.manifest import normalise_manifest, resolve_paths
from medzoo.data.recipes.native import read_labels


def ami_br(root: Path) -> pd.DataFrame:
    labels, native = read_labels(root, "ami_br_mitosis", "AMi-Br mitotic figures")
    frame = pd.DataFrame(
        {
            "image": resolve_paths(labels.parent, native["image"]),
            "label": native["label"],
            "group": native["source"] + "/" + native["slide"],
        }
    )
    return normalise_manifest(frame, str(labels))
