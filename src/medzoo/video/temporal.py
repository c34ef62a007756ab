"""Decisions over time in a frame stream.

- ``PersistenceFilter`` (from ``medzoo.metrics.detection``): a box is reported only when a box
  overlapping it was seen in at least ``k`` of the last ``n`` frames (this one included); it
  only looks back, so it runs live.
- ``integrate_windows``: one decision per time window from per-frame class probabilities, by
  mean probability or by majority vote.
"""

from __future__ import annotations

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
    times: np.ndarray, probabilities: np.ndarray, window_s: float, rule: str = "mean"
) -> list[Window]:
    """Consecutive windows ``[j·w, (j+1)·w)``; ``mean`` averages probabilities, ``vote`` takes
    the share of frames voting for each class (ties: the lower class index)."""
    check_rule(rule)
    times, probabilities = np.asarray(times, dtype=float), np.asarray(probabilities, dtype=float)
    slots = np.floor(times / window_s).astype(int)
    windows = []
    for slot in np.unique(slots):
        members = np.flatnonzero(slots == slot)
        chunk = probabilities[members]
        if rule == "mean":
            scores = chunk.mean(axis=0)
        else:
            scores = np.bincount(chunk.argmax(axis=1), minlength=chunk.shape[1]) / len(members)
        windows.append(
            Window(
                index=len(windows),
                start_s=float(slot * window_s),
                end_s=float((slot + 1) * window_s),
                frames=members,
                probabilities=scores,
                decision=int(np.argmax(scores)),
            )
        )
    return windows
