"""How much wider are confidence intervals when the bootstrap resamples the unit that repeats?

    python benchmarks/ci_units.py <run directory> [<run directory> ...]

For each finished classification run, the test figures of its metrics document are computed
twice from the run's own ``predictions.csv`` (no retraining): once resampling images one by
one, once resampling the manifest's groups (patients, slides, lesions, source images), as
medzoo does. It prints each headline figure's CI width both ways and their ratio.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

import numpy as np
import pandas as pd

from medzoo.heads import head_of
from medzoo.metrics.protocol import Predictions
from medzoo.reporting.report import lookup
from medzoo.rundir import RunDirectory
from medzoo.tasks.card import card_of


def split_predictions(frame: pd.DataFrame, card, head) -> dict[str, Predictions]:
    coding = head.label_coding(card)
    labels = frame["label"].fillna("").astype(str)  # the head's own coding reads them
    probs = frame[[f"prob_{name}" for name in card.class_names]].to_numpy(float)
    out = {}
    for split in ("val", "test"):
        rows = (frame["split"] == split).to_numpy()
        y = coding.encode(labels[rows].tolist(), card.class_names)
        out[split] = Predictions(np.asarray(y), probs[rows])
    return out


def widths(document: Mapping, names: list[str]) -> dict[str, float]:
    out = {}
    for name in names:
        found = lookup(document, name)
        if isinstance(found, Mapping) and found.get("ci95") and None not in found["ci95"]:
            out[name] = found["ci95"][1] - found["ci95"][0]
    return out


def compare(path: str) -> None:
    run = RunDirectory.open(path).require_finished()
    cfg = run.read_config()
    card = card_of(cfg)
    head = head_of(card)
    frame = pd.read_csv(run.path / "predictions.csv", keep_default_na=False)
    preds = split_predictions(frame, card, head)
    test_groups = frame.loc[frame["split"] == "test", "group"].astype(str).to_numpy()
    grouped = head.metrics_document(card, cfg, preds["val"], preds["test"], None, test_groups)
    by_image = head.metrics_document(card, cfg, preds["val"], preds["test"], None, None)
    names = [figure.metric for figure in card.reference if lookup(grouped, figure.metric)]
    names = list(dict.fromkeys(names)) or ["auc"]
    boot = grouped["bootstrap"]
    print(
        f"\n{card.name} ({run.path}): test {grouped['n']} images, "
        f"{boot['n_units']} {boot['unit']}(s)"
    )
    print(f"{'figure':<40} {'image CI width':>15} {'unit CI width':>15} {'ratio':>7}")
    wide, narrow = widths(grouped, names), widths(by_image, names)
    for name in names:
        if name in wide and name in narrow and narrow[name] > 0:
            ratio = wide[name] / narrow[name]
            print(f"{name:<40} {narrow[name]:>15.3f} {wide[name]:>15.3f} {ratio:>7.2f}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for target in sys.argv[1:]:
        compare(target)
