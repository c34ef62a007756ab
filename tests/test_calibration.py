"""Calibration figures: ECE by hand, reliability bins, temperature scaling."""

from __future__ import annotations

import numpy as np
import pytest

from medzoo.metrics.calibration import (
    calibration_block,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    scaled,
    top_label,
)


def test_ece_by_hand() -> None:
    confidence = np.array([0.95, 0.95, 0.65, 0.65, 0.65, 0.65])
    correct = np.array([True, False, True, True, True, False])
    # bin (0.9, 1]: acc 0.5, conf 0.95 -> 0.45 × 2/6
    # bin (0.6, 0.7]: acc 0.75, conf 0.65 -> 0.10 × 4/6
    assert expected_calibration_error(confidence, correct, 10) == pytest.approx(
        0.45 * 2 / 6 + 0.10 * 4 / 6
    )
    bins = reliability_bins(confidence, correct, 10)
    assert [b["n"] for b in bins] == [4, 2]
    assert bins[0]["lower"] == pytest.approx(0.6) and bins[0]["accuracy"] == 0.75


def test_top_label_per_head() -> None:
    probs = np.array([[0.2, 0.8], [0.7, 0.3]])
    confidence, correct = top_label("binary", np.array([1, 1]), probs)
    np.testing.assert_allclose(confidence, [0.8, 0.7])
    assert correct.tolist() == [True, False]
    multi = np.array([[0.1, 0.6, 0.3]])
    confidence, correct = top_label("multiclass", np.array([2]), multi)
    assert confidence.tolist() == [0.6] and correct.tolist() == [False]
    confidence, correct = top_label("multilabel", np.array([[1, 0]]), np.array([[0.9, 0.4]]))
    np.testing.assert_allclose(confidence, [0.9, 0.6])
    assert correct.tolist() == [True, True]


def _overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes whose true logits are scaled up 3× in the reported probabilities."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 3))
    truth = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=p) for p in truth])
    sharp = np.exp(3 * logits)
    return y, sharp / sharp.sum(1, keepdims=True)


def test_temperature_recovers_the_overconfidence_and_lowers_ece() -> None:
    y_val, p_val = _overconfident(4000, 0)
    y_test, p_test = _overconfident(4000, 1)
    temperature = fit_temperature("multiclass", y_val, p_val)
    assert temperature == pytest.approx(3.0, rel=0.1)
    np.testing.assert_array_equal(
        scaled("multiclass", p_test, temperature).argmax(1), p_test.argmax(1)
    )
    block = calibration_block(
        "multiclass", y_val, p_val, y_test, p_test, temperature=True, n_boot=50
    )
    before, after = block["ece"], block["temperature"]["ece"]
    assert after["value"] < before["value"] / 3
    assert before["ci95"][0] <= before["value"] <= before["ci95"][1]
    assert block["temperature"]["fitted_on"] == "val"


def test_binary_temperature_keeps_the_ranking() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 500)
    score = np.clip(0.5 + (y - 0.5) * 0.8 + rng.normal(0, 0.3, 500), 0.01, 0.99)
    probs = np.stack([1 - score, score], 1)
    t = fit_temperature("binary", y, probs)
    after = scaled("binary", probs, t)[:, 1]
    assert np.array_equal(np.argsort(after, kind="stable"), np.argsort(score, kind="stable"))
    # The binary block scores the top label of each image: by hand, 15 equal-width bins.
    confidence = np.maximum(score, 1 - score)
    correct = (score >= 0.5) == (y == 1)
    bins = np.clip(np.ceil(confidence * 15) - 1, 0, 14).astype(int)
    by_hand = sum(
        abs(correct[bins == b].mean() - confidence[bins == b].mean()) * (bins == b).mean()
        for b in np.unique(bins)
    )
    block = calibration_block("binary", y, probs, y, probs, n_boot=20)
    assert block["ece"]["value"] == pytest.approx(by_hand)
