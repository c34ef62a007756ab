"""Decisions over time in a frame stream.

- ``PersistenceFilter`` (from ``medzoo.metrics.detection``): a box is reported only when a box
  overlapping it was seen in at least ``k`` of the last ``n`` frames (this one included); it
  only looks back, so it runs live.
- ``integrate_windows``: one decision per time window from per-frame class probabilities, by
  mean probability or by majority vote.
- ``Decision``: a class from probabilities as the run decided its own test split (its
  threshold or its decision rule, from ``metrics.json``), for frames, stills and windows alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

WINDOW_RULES = ("mean", "vote")


def parse_persistence(text: str) -> tuple[int, int]:
    """``"3/5"`` → (3, 5)."""
    try:
        k, n = (int(part) for part in str(text).split("/"))
    except ValueError as err:
        raise ValueError(f"persist={text!r}: write k/n, e.g. persist=3/5") from err
    if not 1 <= k <= n:
        raise ValueError(f"persist={text!r}: needs 1 <= k <= n")
    return k, n


@dataclass(frozen=True)
class Window:
    index: int
    start_s: float
    end_s: float
    frames: np.ndarray  # indices into the frame sequence
    probabilities: np.ndarray  # (classes,), the window's integrated scores
    decision: int


@dataclass(frozen=True)
class Decision:
    """Class indices from (n, classes) probabilities, decided as a run's ``metrics.json`` says
    its test split was: a binary head's positive class at or above its threshold (chosen on
    validation, so not 0.5); a multiclass head's argmax of each probability over its class's
    divisor (``metrics.decision=prior``); else the plain argmax."""

    threshold: float | None = None
    divisors: tuple[float, ...] | None = None

    @classmethod
    def of_run(cls, document: Mapping) -> Decision:
        if document.get("head") == "binary" and document.get("threshold"):
            return cls(threshold=float(document["threshold"]["value"]))
        divisors = (document.get("decision") or {}).get("divisors")
        if document.get("head") == "multiclass" and divisors:
            return cls(divisors=tuple(float(divisors[name]) for name in document["class_names"]))
        return cls()

    def __call__(self, probabilities: np.ndarray) -> np.ndarray:
        p = np.atleast_2d(np.asarray(probabilities, dtype=float))
        if self.threshold is not None:
            return (p[:, 1] >= self.threshold).astype(int)
        return (p if self.divisors is None else p / np.asarray(self.divisors)).argmax(axis=1)

    def record(self) -> dict:
        """What the decision was, for the document of what it decided."""
        if self.threshold is not None:
            return {"rule": "threshold", "threshold": self.threshold}
        if self.divisors is not None:
            return {"rule": "prior", "divisors": list(self.divisors)}
        return {"rule": "argmax"}


def parse_window(text: str | float) -> float:
    """``"10s"`` or ``10`` → 10.0 seconds."""
    value = str(text).strip().removesuffix("s")
    try:
        seconds = float(value)
    except ValueError as err:
        raise ValueError(f"integrate={text!r}: give seconds, e.g. integrate=10s") from err
    if seconds <= 0:
        raise ValueError(f"integrate={text!r}: the window must be longer than 0 s")
    return seconds


def check_rule(rule: str) -> None:
    if rule not in WINDOW_RULES:
        raise ValueError(f"unknown window rule {rule!r}; choose from {WINDOW_RULES}")


def integrate_windows(
    times: np.ndarray,
    probabilities: np.ndarray,
    window_s: float,
    rule: str = "mean",
    decide: Decision = Decision(),
) -> list[Window]:
    """Consecutive windows ``[j·w, (j+1)·w)``; ``mean`` averages probabilities and decides on
    the mean, ``vote`` takes the share of frames whose own decision is each class and the
    largest share (ties: the lower class index)."""
    check_rule(rule)
    times, probabilities = np.asarray(times, dtype=float), np.asarray(probabilities, dtype=float)
    slots = np.floor(times / window_s).astype(int)
    windows = []
    for slot in np.unique(slots):
        members = np.flatnonzero(slots == slot)
        chunk = probabilities[members]
        if rule == "mean":
            scores = chunk.mean(axis=0)
            decision = int(decide(scores)[0])
        else:
            scores = np.bincount(decide(chunk), minlength=chunk.shape[1]) / len(members)
            decision = int(np.argmax(scores))
        windows.append(
            Window(
                index=len(windows),
                start_s=float(slot * window_s),
                end_s=float((slot + 1) * window_s),
                frames=members,
                probabilities=scores,
                decision=decision,
            )
        )
    return windows
