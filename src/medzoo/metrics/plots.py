"""ROC curves, confusion matrices, reliability diagrams and segmentation examples as PNG files.

Figures are built with ``matplotlib.figure.Figure`` directly, not pyplot: no display is needed
and the process's matplotlib backend (e.g. a notebook's inline one) is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve


def _subplots(nrows: int = 1, ncols: int = 1, **kwargs):
    figsize, dpi = kwargs.pop("figsize", None), kwargs.pop("dpi", 100)
    fig = Figure(figsize=figsize, dpi=dpi)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def roc_marks(document: Mapping, names: Sequence[str]) -> dict[str, Mapping]:
    """Each curve's block of figures in a classification metrics document: its AUC with CI
    and, where a threshold was chosen on validation, that threshold's sensitivity and
    specificity on test. A curve is named as ``roc_curves`` names it: ``"<class> vs rest"``
    (a one-class group of ``groups`` where there is one, else ``per_class``), a class group
    (``groups``), a label (``per_label``) or, for a binary document, its positive class (the
    document itself)."""
    marks = {}
    groups = document.get("groups") or {}
    for name in names:
        single = name.removesuffix(" vs rest")
        # A one-class group (e.g. malignant_vs_rest) is that class's curve, with a threshold.
        same = [g for g in groups.values() if list(g.get("positive") or ()) == [single]]
        for block in (
            groups.get(name),
            same[0] if same else None,
            (document.get("per_label") or {}).get(name),
            (document.get("per_class") or {}).get(single),
            document if document.get("head") == "binary" else None,
        ):
            if block and "auc" in block:
                marks[name] = block
                break
    return marks


def _value(block: Mapping, name: str) -> float | None:
    entry = block.get(name)
    value = entry.get("value") if isinstance(entry, Mapping) else entry
    return None if value is None or not np.isfinite(value) else float(value)


def plot_roc(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: Path,
    title: str,
    marks: Mapping[str, Mapping] | None = None,
) -> None:
    """One ROC curve per entry of ``curves`` (name -> (binary labels, scores)). With ``marks``
    (see ``roc_marks``) each legend entry carries the curve's AUC and 95% CI, and a dot marks
    the validation-chosen threshold's (1 − specificity, sensitivity) on the test curve."""
    fig, ax = _subplots(figsize=(5.2, 5.2), dpi=120)
    for name, (y, score) in curves.items():
        if len(np.unique(y)) < 2:
            continue
        fpr, tpr, _ = roc_curve(y, score)
        block = (marks or {}).get(name) or {}
        label = name
        auc = block.get("auc") if isinstance(block.get("auc"), Mapping) else None
        if auc is not None and auc.get("value") is not None:
            low, high = auc.get("ci95") or (np.nan, np.nan)
            label += f" — AUC {auc['value']:.3f} ({low:.3f}–{high:.3f})"
        (line,) = ax.plot(fpr, tpr, label=label)
        sensitivity, specificity = _value(block, "sensitivity"), _value(block, "specificity")
        if sensitivity is not None and specificity is not None:
            ax.plot(
                1 - specificity,
                sensitivity,
                "o",
                color=line.get_color(),
                markersize=6,
                markeredgecolor="black",
            )
    if marks and any("sensitivity" in block for block in marks.values()):
        ax.plot(
            [], [], "o", color="white", markeredgecolor="black", label="threshold chosen on val"
        )
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="1 − specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def plot_confusion(
    matrix: Sequence[Sequence[int]], class_names: Sequence[str], path: Path, title: str
) -> None:
    cm = np.asarray(matrix)
    fig, ax = _subplots(figsize=(1.2 * len(class_names) + 2, 1.2 * len(class_names) + 1.5), dpi=120)
    ax.imshow(cm, cmap="Blues")
    for (i, j), value in np.ndenumerate(cm):
        colour = "white" if value > cm.max() / 2 else "black"
        ax.text(j, i, str(value), ha="center", va="center", color=colour)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=30, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    fig.savefig(path)


def plot_segmentation_examples(
    images: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    predicted: Sequence[np.ndarray],
    path: Path,
    title: str,
) -> None:
    """One row per image: the image, the manual mask, the predicted mask, and their overlay
    (green: both, red: predicted only, blue: missed)."""
    rows = len(images)
    fig, axes = _subplots(rows, 4, figsize=(12, 3 * rows), dpi=100, squeeze=False)
    for row, (image, truth, pred) in enumerate(zip(images, truths, predicted, strict=True)):
        overlay = np.zeros((*truth.shape, 3))
        overlay[truth & pred] = (0, 1, 0)
        overlay[~truth & pred] = (1, 0, 0)
        overlay[truth & ~pred] = (0, 0.4, 1)
        panels = (image.squeeze(), truth, pred, overlay)
        for ax, panel, name in zip(
            axes[row], panels, ("image", "manual", "predicted", "overlay"), strict=True
        ):
            ax.imshow(panel, cmap="gray" if panel.ndim == 2 else None)
            ax.set_title(name, fontsize=9)
            ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)


def plot_reliability(calibration: Mapping, path: Path, title: str) -> None:
    """Reliability diagram of a ``calibration`` block: accuracy against mean confidence per
    bin (marker area ∝ images), before and, where fitted, after temperature scaling."""
    fig, ax = _subplots(figsize=(4.5, 4.5), dpi=120)
    curves = [("model", calibration["bins"], calibration["ece"])]
    scaled = calibration.get("temperature")
    if scaled:
        curves.append((f"T = {scaled['value']:.2f}", scaled["bins"], scaled["ece"]))
    total = sum(b["n"] for b in calibration["bins"]) or 1
    for name, bins, ece in curves:
        confidence = [b["confidence"] for b in bins]
        accuracy = [b["accuracy"] for b in bins]
        ax.plot(confidence, accuracy, marker="", linewidth=1)
        ax.scatter(
            confidence,
            accuracy,
            s=[20 + 300 * b["n"] / total for b in bins],
            label=f"{name}: ECE {ece['value']:.3f}",
        )
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(
        xlabel="confidence (predicted class)",
        ylabel="accuracy",
        title=title,
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
