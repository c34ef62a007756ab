"""Pixel-level segmentation figures, scored inside a region (e.g. the fundus field of view)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from medzoo.metrics.areas import area_measures
from medzoo.metrics.bootstrap import bootstrap_ci, resampling
from medzoo.metrics.classification import safe_ratio
from medzoo.metrics.points import count_measures, mask_points, match_points, pooled_detection
from medzoo.metrics.protocol import BootstrapSpec, ThresholdRule, clean_number, figure
from medzoo.metrics.vessels import vessel_measures

# What a task measures on each binary map (``quantify.measure`` in its task YAML).
QUANTIFIERS: dict[str, Callable[[np.ndarray, np.ndarray], dict[str, float]]] = {
    "vessels": vessel_measures,
    "area": area_measures,
    "points": count_measures,
}

AGREEMENT_FIGURES = ("dice", "iou", "sensitivity", "specificity", "accuracy")
SEGMENTATION_FIGURES = (*AGREEMENT_FIGURES, "auc")


def pixel_agreement(truth: np.ndarray, predicted: np.ndarray, region: np.ndarray) -> dict:
    """Dice, IoU (Jaccard), sensitivity, specificity and accuracy of a binary ``predicted``
    mask inside ``region``; all arrays share one shape."""
    t = np.asarray(truth, bool)[region]
    p = np.asarray(predicted, bool)[region]
    tp = np.count_nonzero(t & p)
    fp = np.count_nonzero(~t & p)
    fn = np.count_nonzero(t & ~p)
    tn = t.size - tp - fp - fn
    return {
        "dice": safe_ratio(2 * tp, 2 * tp + fp + fn),
        "iou": safe_ratio(tp, tp + fp + fn),
        "sensitivity": safe_ratio(tp, tp + fn),
        "specificity": safe_ratio(tn, tn + fp),
        "accuracy": safe_ratio(tp + tn, t.size),
    }


def pixel_metrics(
    truth: np.ndarray, probability: np.ndarray, region: np.ndarray, threshold: float
) -> dict:
    """``pixel_agreement`` at ``threshold`` plus the pixel AUC of the probability map."""
    t = np.asarray(truth, bool)[region]
    scores = np.asarray(probability, float)[region]
    auc = roc_auc_score(t, scores) if 0 < t.sum() < t.size else float("nan")
    return {**pixel_agreement(truth, probability >= threshold, region), "auc": float(auc)}


def dice_threshold(
    truths: Sequence[np.ndarray], probabilities: Sequence[np.ndarray], regions: Sequence[np.ndarray]
) -> float:
    """The probability threshold (on a 0.01 grid) that maximises Dice pooled over all pixels
    of the given images; chosen on validation, never on test."""
    grid = np.linspace(0.0, 1.0, 101)
    positives = np.zeros(grid.size - 1)
    negatives = np.zeros(grid.size - 1)
    for truth, prob, region in zip(truths, probabilities, regions, strict=True):
        t, p = np.asarray(truth, bool)[region], np.asarray(prob, float)[region]
        positives += np.histogram(p[t], bins=grid)[0]
        negatives += np.histogram(p[~t], bins=grid)[0]
    # Predicting positive from bin k upwards: TP / FP are the tail sums from k.
    tp = np.cumsum(positives[::-1])[::-1]
    fp = np.cumsum(negatives[::-1])[::-1]
    fn = positives.sum() - tp
    dice = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    return float(grid[int(np.argmax(dice))])


@dataclass(frozen=True)
class MaskSet:
    """One split's masks: truth, predicted probability, scoring region, optionally a second
    human observer's mask (the human reference). Lists of same-shaped 2-D arrays. ``groups``
    (one id per image, e.g. the video sequence of a frame): where an id repeats, CIs
    resample whole groups, since frames of one sequence are not independent."""

    truths: Sequence[np.ndarray]
    probabilities: Sequence[np.ndarray]
    regions: Sequence[np.ndarray]
    second: Sequence[np.ndarray] | None = None
    groups: Sequence[str] | None = None


def _mean_figures(
    rows: Sequence[Mapping[str, float]],
    names: Sequence[str],
    boot: BootstrapSpec,
    clusters: np.ndarray | None = None,
) -> dict[str, dict]:
    """Mean of each per-image figure with a bootstrap CI over images (over ``clusters`` of
    images where one repeats)."""
    table = {name: np.array([row[name] for row in rows], dtype=float) for name in names}

    def mean(idx: np.ndarray) -> dict[str, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a figure undefined on every image
            return {name: float(np.nanmean(values[idx])) for name, values in table.items()}

    point = mean(np.arange(len(rows)))
    ci = bootstrap_ci(
        mean, strata=np.zeros(len(rows)), n_boot=boot.n, seed=boot.seed, clusters=clusters
    )
    return {name: figure(point[name], ci[name]) for name in names}


def _quantification(
    truth_rows: Sequence[Mapping[str, float]],
    predicted_rows: Sequence[Mapping[str, float]],
    boot: BootstrapSpec,
    clusters: np.ndarray | None = None,
) -> dict[str, dict]:
    """Per measure: mean of the manual and the predicted maps, MAE and Pearson r across images."""
    out = {}
    for name in truth_rows[0] if truth_rows else ():
        truth = np.array([row[name] for row in truth_rows], dtype=float)
        predicted = np.array([row[name] for row in predicted_rows], dtype=float)
        keep = np.isfinite(truth) & np.isfinite(predicted)
        truth, predicted = truth[keep], predicted[keep]
        kept_clusters = None if clusters is None else np.asarray(clusters)[keep]

        def stats(idx: np.ndarray, t: np.ndarray = truth, p: np.ndarray = predicted) -> dict:
            constant = np.ptp(t[idx]) == 0 or np.ptp(p[idx]) == 0
            return {
                "mae": float(np.mean(np.abs(p[idx] - t[idx]))),
                "pearson_r": float("nan") if constant else float(np.corrcoef(t[idx], p[idx])[0, 1]),
            }

        if truth.size < 2:
            out[name] = {"n": int(truth.size)}
            continue
        point = stats(np.arange(truth.size))
        ci = bootstrap_ci(
            stats,
            strata=np.zeros(truth.size),
            n_boot=boot.n,
            seed=boot.seed,
            clusters=kept_clusters,
        )
        out[name] = {
            "n": int(truth.size),
            "manual_mean": clean_number(float(truth.mean())),
            "predicted_mean": clean_number(float(predicted.mean())),
            "mae": figure(point["mae"], ci["mae"]),
            "pearson_r": figure(point["pearson_r"], ci["pearson_r"]),
        }
    return out


def _point_detection(
    sets: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    threshold: float,
    max_distance: float,
    boot: BootstrapSpec,
    clusters: np.ndarray | None = None,
) -> tuple[dict[str, object], list[dict[str, int]]]:
    """F1 of matched points (blob centroids of the manual and the thresholded maps), pooled
    over test images with a bootstrap CI over images; and each image's match counts."""
    matches = [
        match_points(mask_points(t & r), mask_points((p >= threshold) & r), max_distance)
        for t, p, r in sets
    ]
    point = pooled_detection(matches)
    ci = bootstrap_ci(
        lambda idx: pooled_detection([matches[i] for i in idx]),
        strata=np.zeros(len(matches)),
        n_boot=boot.n,
        seed=boot.seed,
        clusters=clusters,
    )
    totals = {key: int(sum(m[key] for m in matches)) for key in ("tp", "fp", "fn")}
    block = {
        "max_distance_px": max_distance,
        **totals,
        **{name: figure(point[name], ci[name]) for name in point},
    }
    return block, matches


def evaluate_segmentation(
    val: MaskSet,
    test: MaskSet,
    threshold: ThresholdRule,
    boot: BootstrapSpec,
    quantify: str = "vessels",
    class_names: Sequence[str] = ("vessel",),
    match_distance: float | None = None,
    unit: str = "group",
) -> dict[str, object]:
    """The metrics document of a segmentation task's test split.

    The threshold maximises pooled validation Dice (``method: dice``) or is given
    (``method: fixed``). Figures are means over test images with bootstrap CIs over images;
    ``pooled`` scores all test pixels at once; ``human_reference`` scores the second observer
    against the first; ``quantification`` compares the ``quantify`` measures (see
    ``QUANTIFIERS``) of predicted and manual maps. ``points`` also matches blob centroids
    within ``match_distance`` pixels (``point_detection``). Where ``test.groups`` repeat, CIs
    resample groups, named ``unit`` (e.g. "video sequence").
    """
    if quantify not in QUANTIFIERS:
        raise ValueError(
            f"unknown quantification {quantify!r}; expected one of {list(QUANTIFIERS)}"
        )
    if quantify == "points" and not match_distance:
        raise ValueError("point quantification needs a match distance in pixels")
    measure = QUANTIFIERS[quantify]
    if threshold.method == "dice":
        value = dice_threshold(val.truths, val.probabilities, val.regions)
    elif threshold.method == "fixed":
        value = 0.5 if threshold.value is None else float(threshold.value)
    else:
        raise ValueError(
            f"segmentation thresholds are 'dice' (chosen on validation) or 'fixed'; "
            f"got {threshold.method!r} (metrics.threshold.method=...)"
        )
    sets = list(zip(test.truths, test.probabilities, test.regions, strict=True))
    clusters = None if test.groups is None else np.asarray(test.groups, dtype=str)
    drawn = resampling(len(sets), clusters)
    per_image = [pixel_metrics(t, p, r, value) for t, p, r in sets]
    pooled = pixel_agreement(
        np.concatenate([t[r] for t, _, r in sets]),
        np.concatenate([p[r] >= value for _, p, r in sets]),
        np.ones(sum(int(r.sum()) for _, _, r in sets), dtype=bool),
    )
    document: dict[str, object] = {
        "split": "test",
        "n": len(sets),
        "head": "segmentation",
        "class_names": list(class_names),
        "bootstrap": {
            "n": boot.n,
            "seed": boot.seed,
            "unit": unit if drawn.clusters else "image",
            "n_units": drawn.units,
            "stratified_by": None,
            "level": 0.95,
        },
        "threshold": {"value": value, "chosen_on": "val", "method": threshold.method},
        **_mean_figures(per_image, SEGMENTATION_FIGURES, boot, clusters),
        "pooled": {name: clean_number(v) for name, v in pooled.items()},
    }
    manual = [measure(t, r) for t, _, r in sets]
    predicted = [measure(p >= value, r) for _, p, r in sets]
    document["quantification"] = _quantification(manual, predicted, boot, clusters)
    matches: list[dict[str, int]] = [{} for _ in sets]
    if quantify == "points":
        document["point_detection"], matches = _point_detection(
            sets, value, match_distance, boot, clusters
        )
    document["per_image"] = [
        {
            **{k: clean_number(v) for k, v in figures.items()},
            **{f"{k}_manual": clean_number(v) for k, v in by_hand.items()},
            **{f"{k}_predicted": clean_number(v) for k, v in by_model.items()},
            **match,
        }
        for figures, by_hand, by_model, match in zip(
            per_image, manual, predicted, matches, strict=True
        )
    ]
    if test.second is not None:
        pairs = [(t, s, r) for (t, _, r), s in zip(sets, test.second, strict=True) if s is not None]
        if pairs:
            human = [pixel_agreement(t, s, r) for t, s, r in pairs]
            document["human_reference"] = {
                "n": len(pairs),
                **_mean_figures(human, AGREEMENT_FIGURES, boot),
            }
            document["quantification_second_observer"] = _quantification(
                [measure(t, r) for t, _, r in pairs],
                [measure(s, r) for _, s, r in pairs],
                boot,
            )
    return document
