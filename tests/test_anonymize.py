"""Burnt-in text masking: rendered text is masked on synthetic frames, little tissue is, and
the anonymizer never writes over its input or keeps the linkage beside the images."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from medzoo.anonymize import anonymize_folder, measure
from medzoo.commands import UsageError
from medzoo.data.burnt_in import masking_figures, overlay_mask, synthetic_frame


def test_rendered_text_is_masked_and_tissue_mostly_kept() -> None:
    result = measure(10, seed=1)
    assert result["text_masked_mean"] > 0.95
    assert result["tissue_masked_mean"] < 0.15


def test_plain_tissue_and_colour_overlays() -> None:
    frame, ink = synthetic_frame(np.random.default_rng(0))
    blank = np.zeros_like(frame)
    assert not overlay_mask(blank).any()
    rgb = np.dstack([frame] * 3)
    cv2.circle(rgb, (200, 200), 6, (255, 255, 0), 1)  # a yellow caliper ring
    mask = overlay_mask(rgb)
    assert mask[200, 194] and mask[194, 200]
    figures = masking_figures(overlay_mask(frame), ink, frame > 0)
    assert figures["text_masked"] > 0.9


def _folder(tmp_path: Path, n: int = 3) -> Path:
    source = tmp_path / "scans"
    (source / "patient_a").mkdir(parents=True)
    for k in range(n):
        frame, _ = synthetic_frame(np.random.default_rng(k))
        cv2.imwrite(str(source / "patient_a" / f"scan_{k}.png"), frame)
    return source


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_anonymizer_writes_a_new_folder_and_a_separate_linkage(tmp_path: Path) -> None:
    source = _folder(tmp_path)
    before = _digest(source)
    table = anonymize_folder(str(source), str(tmp_path / "out"), str(tmp_path / "keys/link.csv"))
    assert _digest(source) == before
    written = sorted(p.stem for p in (tmp_path / "out").iterdir())
    assert written == sorted(table["anonymous_id"]) and len(set(written)) == 3
    linkage = pd.read_csv(tmp_path / "keys/link.csv")
    assert set(linkage["original"]) == {str(p) for p in sorted(source.rglob("*.png"))}
    assert not any("patient" in name or "scan" in name for name in written)
    masked = cv2.imread(str(next((tmp_path / "out").iterdir())), cv2.IMREAD_GRAYSCALE)
    assert masked[:20].max() == 0  # the name line at the top is blacked out


def test_anonymizer_refuses_to_overwrite_or_mix(tmp_path: Path) -> None:
    source = _folder(tmp_path, 1)
    before = _digest(source)
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(FileExistsError):
        anonymize_folder(str(source), str(existing), str(tmp_path / "a.csv"))
    with pytest.raises(UsageError, match="outside the input"):
        anonymize_folder(str(source), str(source / "masked"), str(tmp_path / "b.csv"))
    with pytest.raises(UsageError, match="re-identifies"):
        anonymize_folder(str(source), str(tmp_path / "new"), str(tmp_path / "new" / "c.csv"))
    (tmp_path / "d.csv").write_text("keep me")
    with pytest.raises(FileExistsError):
        anonymize_folder(str(source), str(tmp_path / "new2"), str(tmp_path / "d.csv"))
    assert (tmp_path / "d.csv").read_text() == "keep me"
    assert _digest(source) == before
    assert not (tmp_path / "new").exists() and not (tmp_path / "new2").exists()
