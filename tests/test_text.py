"""The report-text baseline end to end on a small synthetic report set, and the IU recipe on
the real one (skipped without the public data folder)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medzoo.config import compose
from medzoo.data.recipes import build_manifest
from medzoo.evaluate import run_evaluation
from medzoo.heads.text import top_terms
from medzoo.train import run_training

NORMAL = "the lungs are clear. heart size is normal. no acute disease. case {i}."
ABNORMAL = "there is a right basilar opacity and small effusion. cardiomegaly. case {i}."
REPEATED = "the heart is normal in size. the lungs are clear. no acute disease."


def _write_reports(tmp_path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """An IU-style ``indiana_reports.csv`` of (uid, problems, findings) rows under tmp_path."""
    folder = tmp_path / "iu_xray_reports"
    folder.mkdir()
    with (folder / "indiana_reports.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "uid",
                "MeSH",
                "Problems",
                "image",
                "indication",
                "comparison",
                "findings",
                "impression",
            ]
        )
        for uid, problems, text in rows:
            writer.writerow([uid, problems, problems, "chest", "", "", text, ""])
    return tmp_path


@pytest.fixture
def reports_root(tmp_path: Path) -> Path:
    rows = []
    for i in range(160):
        abnormal = i % 2 == 1
        text = (ABNORMAL if abnormal else NORMAL).format(i=i)
        rows.append((str(i), "Opacity;Cardiomegaly" if abnormal else "normal", text))
    rows += [(str(200 + i), "normal", REPEATED) for i in range(12)]  # verbatim repeats
    rows.append(("300", "normal", ""))  # neither findings nor impression
    return _write_reports(tmp_path, rows)


def test_the_baseline_reads_negation_where_both_classes_share_every_word(
    tmp_path: Path,
) -> None:
    """Normal reports deny the very findings abnormal ones assert ("no effusion" vs "small
    effusion"), in sentences drawn from one shared pool: no word tells the classes apart."""
    rng = np.random.default_rng(0)
    shared = [
        "heart size is stable.",
        "the mediastinum is unremarkable.",
        "bony thorax intact.",
        "small calcified granuloma.",
    ]
    findings = ["effusion", "opacity", "pneumothorax", "consolidation"]
    rows, words = [], {"normal": set(), "abnormal": set()}
    for i in range(240):
        label = "abnormal" if i % 2 else "normal"
        sentences = list(rng.choice(shared, size=2, replace=False))
        present = rng.choice(findings, size=2, replace=False)
        for k, finding in enumerate(present):
            asserted = label == "abnormal" and k == 0
            sentences.append(f"{'small' if asserted else 'no'} {finding}.")
        sentences.append("no acute disease." if label == "normal" else "acute disease.")
        rng.shuffle(sentences)
        text = " ".join(sentences)
        words[label] |= set(text.replace(".", "").split())
        rows.append((str(i), "normal" if label == "normal" else "Effusion", text))
    assert words["normal"] == words["abnormal"]  # every word occurs in both classes
    root = _write_reports(tmp_path, rows)
    cfg = compose(
        [
            "task=report_text",
            f"data.root={root}",
            f"output_dir={tmp_path / 'runs'}",
            "metrics.n_bootstrap=50",
        ]
    )
    metrics = run_training(cfg).read_json("metrics.json")
    assert metrics["auc"]["value"] > 0.9


def test_text_baseline_learns_and_writes_a_run(reports_root: Path, tmp_path: Path) -> None:
    cfg_overrides = [
        "task=report_text",
        f"data.root={reports_root}",
        f"output_dir={tmp_path / 'runs'}",
        "metrics.n_bootstrap=100",
    ]
    cfg = compose(cfg_overrides)
    with pytest.warns(UserWarning, match="1 report"):
        run = run_training(cfg)
    metrics = run.read_json("metrics.json")
    assert metrics["head"] == "binary" and metrics["auc"]["value"] > 0.95
    manifest = pd.read_csv(run.path / "manifest.csv", keep_default_na=False)
    assert len(manifest) == 172
    repeated = manifest[manifest["text"] == REPEATED]
    assert len(repeated) == 12 and repeated["split"].nunique() == 1  # never split apart
    # ...yet, written for different patients, they are resampled one by one (resample_groups).
    assert set(repeated["split"]) == {"test"}, "the check below needs the repeats in test"
    assert metrics["bootstrap"]["unit"] == "image"
    assert metrics["bootstrap"]["n_units"] == metrics["n"] == (manifest["split"] == "test").sum()
    grouped_cfg = compose([*cfg_overrides, "data.resample_groups=true"])
    with pytest.warns(UserWarning, match="1 report"):
        grouped = run_training(grouped_cfg).read_json("metrics.json")["bootstrap"]
    assert grouped["unit"] == "identical text" and grouped["n_units"] == metrics["n"] - 11
    for name in (
        "predictions.csv",
        "report.md",
        "model_card.md",
        "roc.png",
        "reliability.png",
        "confusion.png",
        "model.json",
    ):
        assert (run.path / name).is_file(), name
    terms = top_terms(run, k=5)
    assert {"opacity", "effusion", "cardiomegaly"} & set(terms["abnormal"])
    with pytest.raises(FileNotFoundError, match=r"text run.*model\.json"):
        run_evaluation(str(run.path))


def test_an_image_model_is_refused_before_a_run_exists(reports_root: Path, tmp_path: Path) -> None:
    from medzoo.errors import UsageError

    runs = tmp_path / "runs"
    cfg = compose(
        ["task=report_text", "model=resnet18", f"data.root={reports_root}", f"output_dir={runs}"]
    )
    with pytest.raises(UsageError, match="model=tfidf_logreg"):
        run_training(cfg)
    assert not runs.exists()


def test_iu_reports_recipe(shared_data: Path) -> None:
    with pytest.warns(UserWarning, match="25 report"):
        frame = build_manifest("iu_reports", shared_data)
    assert len(frame) == 3826
    assert frame["label"].value_counts().to_dict() == {"abnormal": 2472, "normal": 1354}
    # Verbatim repeats share one group.
    assert frame.groupby("text")["group"].nunique().max() == 1
    assert frame["group"].nunique() < len(frame)


def test_text_task_has_no_lightning_module() -> None:
    import medzoo

    with pytest.raises(ValueError, match="not a LightningModule"):
        medzoo.create_task("report_text")
