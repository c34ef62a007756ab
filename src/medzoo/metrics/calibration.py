"""Calibration: expected calibration error (ECE), reliability bins and temperature scaling.

ECE here is the top-label ECE with equal-width confidence bins: for every prediction the
confidence is the probability of the class it predicts, and ECE is the bin-weighted mean of
|accuracy − mean confidence|. A binary head predicts the positive class when P ≥ 0.5; a
multi-label head counts every (image, label) pair as one binary prediction.

Temperature scaling divides the logits by one scalar T fitted on validation by negative
log-likelihood; it never changes the predicted class (nor a binary or per-label AUC).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from medzoo.metrics.bootstrap import bootstrap_ci

EPS = 1e-7


def top_label(head: str, y: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, correct) of every prediction: see the module docstring."""
    y, probs = np.asarray(y), np.asarray(probs, dtype=float)
    if head == "multilabel":
        positive, truth = probs.ravel(), y.ravel().astype(int)
        predicted = (positive >= 0.5).astype(int)
        return np.where(predicted == 1, positive, 1.0 - positive), predicted == truth
    predicted = (probs[:, 1] >= 0.5).astype(int) if head == "binary" else probs.argmax(axis=1)
    return probs[np.arange(len(y)), predicted], predicted == y


def reliability_bins(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15
) -> list[dict[str, float]]:
    """Per non-empty equal-width bin: its edges, count, mean confidence and accuracy."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        inside = index == b
        if inside.any():
            bins.append(
                {
                    "lower": float(edges[b]),
                    "upper": float(edges[b + 1]),
                    "n": int(inside.sum()),
                    "confidence": float(confidence[inside].mean()),
                    "accuracy": float(correct[inside].mean()),
                }
            )
    return bins


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15
) -> float:
    total = len(confidence)
    if total == 0:
        return float("nan")
    return float(
        sum(
            b["n"] / total * abs(b["accuracy"] - b["confidence"])
            for b in reliability_bins(confidence, correct, n_bins)
        )
    )


def logits_of(head: str, probs: np.ndarray) -> np.ndarray:
    """Logits that give back ``probs`` (up to a per-row constant for softmax heads)."""
    p = np.clip(np.asarray(probs, dtype=float), EPS, 1.0 - EPS)
    if head == "binary":
        return np.log(p[:, 1:] / (1.0 - p[:, 1:]))
    if head == "multilabel":
        return np.log(p / (1.0 - p))
    return np.log(p)


def probabilities_of(head: str, logits: np.ndarray) -> np.ndarray:
    z = torch.as_tensor(logits, dtype=torch.float64)
    if head == "binary":
        positive = torch.sigmoid(z[:, 0])
        return torch.stack([1.0 - positive, positive], dim=1).numpy()
    if head == "multilabel":
        return torch.sigmoid(z).numpy()
    return torch.softmax(z, dim=1).numpy()


def _nll(head: str, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if head == "multiclass":
        return torch.nn.functional.cross_entropy(logits, y.long())
    target = y.double().view_as(logits)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, target)


def fit_temperature(head: str, y: np.ndarray, probs: np.ndarray) -> float:
    """The T > 0 minimising validation NLL of ``logits / T`` (L-BFGS on log T)."""
    logits = torch.as_tensor(logits_of(head, probs), dtype=torch.float64)
    target = torch.as_tensor(np.asarray(y))
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = _nll(head, logits / log_t.exp(), target)
        loss.backward()
        return loss

    optimiser.step(closure)
    return float(log_t.exp().item())


def scaled(head: str, probs: np.ndarray, temperature: float) -> np.ndarray:
    return probabilities_of(head, logits_of(head, probs) / temperature)


def calibration_block(
    head: str,
    val_y: np.ndarray,
    val_probs: np.ndarray,
    test_y: np.ndarray,
    test_probs: np.ndarray,
    n_bins: int = 15,
    temperature: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    clusters: np.ndarray | None = None,
) -> dict[str, object]:
    """metrics.json's ``calibration``: test ECE (bootstrap CI over images, or over
    ``clusters`` where a test unit repeats), its reliability bins, and with ``temperature``
    the T fitted on validation and the test ECE after it."""

    def ece_figure(probs: np.ndarray) -> tuple[dict, list]:
        confidence, correct = top_label(head, test_y, probs)
        per_image = len(confidence) // len(test_y)  # multi-label: labels per image
        conf, corr = confidence.reshape(len(test_y), per_image), correct.reshape(len(test_y), -1)

        def statistic(idx: np.ndarray) -> Mapping[str, float]:
            return {"ece": expected_calibration_error(conf[idx].ravel(), corr[idx].ravel(), n_bins)}

        ci = bootstrap_ci(statistic, np.zeros(len(test_y)), n_boot, seed, clusters=clusters)["ece"]
        value = expected_calibration_error(confidence, correct, n_bins)
        return {"value": value, "ci95": list(ci)}, reliability_bins(confidence, correct, n_bins)

    ece, bins = ece_figure(test_probs)
    block: dict[str, object] = {
        "method": f"top-label ECE, {n_bins} equal-width bins",
        "ece": ece,
        "bins": bins,
    }
    if temperature:
        t = fit_temperature(head, val_y, val_probs)
        after, after_bins = ece_figure(scaled(head, test_probs, t))
        block["temperature"] = {
            "value": t,
            "fitted_on": "val",
            "ece": after,
            "bins": after_bins,
        }
    return block
