"""Indiana University chest X-ray reports (OpenI; Demner-Fushman et al., JAMIA 2016): text only.

One row per report: ``image`` holds the item id ``report:<uid>`` (text tasks have no image
file), ``text`` = findings + impression, ``label`` = ``normal`` when the MeSH problems are
exactly "normal", else ``abnormal``. Reports repeated verbatim (156 texts, 942 reports, up to
51 copies of one sentence set) share a group, so a text never sits in two splits. Reports
with neither findings nor impression are dropped.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import pandas as pd

from medzoo.data.manifest import normalise_manifest
from medzoo.data.recipes.native import read_labels


def report_text(findings: str, impression: str) -> str:
    return " ".join(part.strip() for part in (findings, impression) if part.strip())


def iu_reports(root: Path) -> pd.DataFrame:
    path, native = read_labels(
        root, "iu_xray_reports", "IU chest X-ray reports", "indiana_reports.csv"
    )
    pairs = zip(native["findings"], native["impression"], strict=True)
    texts = [report_text(findings, impression) for findings, impression in pairs]
    problems = native["Problems"].str.strip()
    frame = pd.DataFrame(
        {
            "image": [f"report:{uid}" for uid in native["uid"]],
            "text": texts,
            "label": problems.where(problems == "normal", "abnormal").tolist(),
            "group": [hashlib.sha1(t.lower().encode()).hexdigest()[:16] for t in texts],
        }
    )
    empty = frame["text"] == ""
    if empty.any():
        warnings.warn(
            f"{path}: {int(empty.sum())} report(s) have neither findings nor impression and are "
            "dropped",
            stacklevel=2,
        )
    return normalise_manifest(frame[~empty], str(path))
