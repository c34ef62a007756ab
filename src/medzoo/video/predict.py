"""Frame-by-frame prediction on a video or a folder of frames (``medzoo.predict`` with a
stream input).

- Detection runs: detector + verifier on every frame, optional k-of-n persistence, writes
  ``frames.csv`` (every proposal with both scores and what kept it), ``boxes.json`` (the
  reported boxes per frame) and, with ``annotate=true``, ``annotated.mp4``.
- Classification runs: class probabilities per frame (``frames.csv``) and, with
  ``integrate=10s``, one decision per window (``windows.csv``).
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from medzoo.errors import UsageError
from medzoo.heads import head_of, load_module, locate
from medzoo.heads.detection.inference import TwoStagePipeline, proposal_records
from medzoo.metrics.detection import PersistenceFilter
from medzoo.predictor import Predictor
from medzoo.reporting.report import markdown_table
from medzoo.rundir import RunDirectory
from medzoo.tasks.card import TaskCard, card_of
from medzoo.video.stream import FrameStream, write_video
from medzoo.video.temporal import (
    Decision,
    check_rule,
    integrate_windows,
    parse_persistence,
    parse_window,
)

KEPT, REMOVED = (0, 255, 0), (255, 0, 0)


def _draw(image: np.ndarray, kept: np.ndarray, removed: np.ndarray) -> np.ndarray:
    canvas = image.copy()
    for boxes, colour, width in ((removed, REMOVED, 1), (kept, KEPT, 2)):
        for x1, y1, x2, y2 in np.asarray(boxes).reshape(-1, 4).round().astype(int):
            cv2.rectangle(canvas, (x1, y1), (x2 - 1, y2 - 1), colour, width)
    return canvas


def _members(boxes: np.ndarray, of: np.ndarray) -> np.ndarray:
    """Which of ``boxes`` are among ``of`` (the filters keep boxes, never move them)."""
    if not len(of):
        return np.zeros(len(boxes), dtype=bool)
    return (boxes[:, None, :] == of[None, :, :]).all(axis=2).any(axis=1)


def detection_stream(
    run: RunDirectory,
    out: RunDirectory,
    stream: FrameStream,
    persist: str | None = None,
    annotate: bool = False,
    use_verifier: bool = True,
) -> str:
    pipeline = TwoStagePipeline.from_run(run.path, use_verifier)
    persistence = PersistenceFilter(*parse_persistence(persist)) if persist else None
    rows, reported, drawn = [], [], []
    started = time.perf_counter()
    for frame in stream:
        result = pipeline(frame.image)
        kept = persistence(result.kept) if persistence else result.kept
        verified = _members(result.proposals.boxes, result.kept.boxes)
        shown = _members(result.proposals.boxes, kept.boxes)
        for record, was_verified, was_shown in zip(
            proposal_records(result.proposals, result.lesion_probability),
            verified,
            shown,
            strict=True,
        ):
            rows.append(
                {
                    "frame": frame.index,
                    "time_s": round(frame.time_s, 3),
                    **record,
                    "verified": bool(was_verified),
                    "reported": bool(was_shown),
                }
            )
        reported.append(
            {
                "frame": frame.index,
                "time_s": round(frame.time_s, 3),
                "boxes": [
                    [*map(float, b), float(s)] for b, s in zip(kept.boxes, kept.scores, strict=True)
                ],
            }
        )
        if annotate:
            drawn.append(_draw(frame.image, kept.boxes, result.proposals.boxes[~shown]))
    elapsed = time.perf_counter() - started
    pd.DataFrame(rows).to_csv(out.file("frames.csv"), index=False)
    out.write_json("boxes.json", reported)
    if annotate and drawn:
        write_video(out.file("annotated.mp4"), drawn, stream.fps)
    times = pipeline.times
    total = times.detector_s + times.verifier_s
    lines = [
        f"- frames: {times.frames} at {stream.fps:g} fps; frames with a reported box: "
        f"{sum(1 for r in reported if r['boxes'])}",
        f"- pipeline: detector{' + verifier' if use_verifier else ' alone'}"
        + (f", persistence {persist} (k/n frames)" if persist else ""),
        f"- speed: {times.frames / elapsed:.1f} frames/s end to end "
        f"(detector {100 * times.detector_s / max(total, 1e-9):.0f}% of model time, "
        f"verifier {100 * times.verifier_s / max(total, 1e-9):.0f}%)",
    ]
    return "\n".join(lines)


def classification_stream(
    run: RunDirectory,
    checkpoint: Path,
    card: TaskCard,
    out: RunDirectory,
    stream: FrameStream,
    integrate: str | None = None,
    rule: str = "mean",
) -> str:
    predictor = Predictor(load_module(checkpoint))
    frames, times, probs = [], [], []
    for frame in stream:
        frames.append(frame.index)
        times.append(frame.time_s)
        probs.append(np.asarray(predictor.predict([frame.image]))[0])
    if not probs:
        raise UsageError(f"{stream.source} holds no frames")
    probabilities = np.stack(probs)
    names = [f"prob_{c}" for c in card.class_names]
    table = pd.DataFrame(probabilities, columns=names)
    table.insert(0, "time_s", np.round(times, 3))
    table.insert(0, "frame", frames)
    decide = Decision.of_run(run.read_json("metrics.json"))
    table["decision"] = [card.class_names[k] for k in decide(probabilities)]
    table.to_csv(out.file("frames.csv"), index=False)
    lines = [f"- frames: {len(frames)} at {stream.fps:g} fps"]
    if integrate:
        window_s = parse_window(integrate)
        windows = integrate_windows(np.asarray(times), probabilities, window_s, rule, decide)
        frame = pd.DataFrame(
            [
                {
                    "window": w.index,
                    "start_s": w.start_s,
                    "end_s": w.end_s,
                    "frames": len(w.frames),
                    **dict(zip(names, w.probabilities, strict=True)),
                    "decision": card.class_names[w.decision],
                }
                for w in windows
            ]
        )
        frame.to_csv(out.file("windows.csv"), index=False)
        rows = [
            (
                f"{w.start_s:g}–{w.end_s:g} s",
                str(len(w.frames)),
                card.class_names[w.decision],
                f"{w.probabilities[w.decision]:.3f}",
            )
            for w in windows
        ]
        lines += [
            f"- integration: {window_s:g} s windows, rule {rule}",
            "",
            markdown_table(("window", "frames", "decision", "score"), rows),
        ]
    return "\n".join(lines)


def locate_stream_run(target: str | Path) -> tuple[RunDirectory, Path | None]:
    """The run and, for a classification run, its checkpoint. A detection run is named by its
    folder or by one of its checkpoints (``detector.pt``, ``verifier.ckpt``)."""
    path = Path(target).expanduser()
    if path.is_file() and path.parent.name == "checkpoints":
        run = RunDirectory.open(path.parent.parent).require_finished()
    elif path.is_file():
        return locate(path)  # the registry's: a checkpoint outside a run's checkpoints/
    else:
        run = RunDirectory.open(path).require_finished()
    if head_of(card_of(run.read_config())).streams == "boxes":
        return run, None
    return locate(path)


def write_summary(out: RunDirectory, title: str, body: str) -> str:
    text = f"# {title}\n\n{body}\n"
    out.write_text("summary.md", text)
    return text


def run_stream(
    target: str,
    source: str,
    fps: float | None = None,
    integrate: str | None = None,
    rule: str = "mean",
    persist: str | None = None,
    annotate: bool = False,
    use_verifier: bool = True,
) -> RunDirectory:
    run, checkpoint = locate_stream_run(target)
    card = card_of(run.read_config())
    stream = FrameStream(source, fps)
    boxes = head_of(card).streams == "boxes"
    if boxes and integrate:
        raise UsageError("integrate= is for classification runs; detection runs take persist=k/n")
    if not boxes and persist:
        raise UsageError("persist= is for detection runs; classification runs take integrate=10s")
    try:  # a malformed setting fails before anything is written
        if persist:
            parse_persistence(persist)
        if integrate:
            parse_window(integrate)
        check_rule(rule)
    except ValueError as err:
        raise UsageError(str(err)) from err
    out = RunDirectory.create(run.path, "predictions")
    with out.attempt():
        if boxes:
            body = detection_stream(run, out, stream, persist, annotate, use_verifier)
        else:
            body = classification_stream(run, checkpoint, card, out, stream, integrate, rule)
        text = write_summary(
            out, f"{card.name}: frames of {stream.source}", f"- run: {run.path}\n{body}"
        )
    print(text + f"\npredictions written to {out.path}")
    return out
