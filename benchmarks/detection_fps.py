"""Frames per second of the two-stage detection pipeline (``task=us_detect``) on this machine.

Frames are a clip animated from the run's test stills (``medzoo.video.clips``), written to an
MPEG-4 file and read back through ``medzoo.video.stream.FrameStream``, as ``medzoo.predict`` does.
Per round, the same frames go through the detector alone and through detector + verifier
(alternating, best round of each kept); the clip is decoded once per round too. Prints frames
per second, the share of time per stage, and the ratio two-stage / detector alone.

    python benchmarks/detection_fps.py --run outputs/us_detect/<stamp> [--frames 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from medzoo.data.boxes import parse_boxes
from medzoo.data.images import read_image
from medzoo.heads.detection.inference import TwoStagePipeline
from medzoo.rundir import RunDirectory
from medzoo.video.clips import animate
from medzoo.video.stream import FrameStream, write_video


def clip_frames(run: RunDirectory, n_frames: int) -> list[np.ndarray]:
    manifest = pd.read_csv(run.path / "manifest.csv", dtype=str, keep_default_na=False)
    test = manifest[manifest["split"] == "test"].head(max(1, n_frames // 25))
    frames = []
    for k, row in enumerate(test.itertuples()):
        still = read_image(row.image, 1)[..., 0]
        clip = animate(still, 25, seed=k, boxes=parse_boxes(row.boxes), fps=25)
        frames += clip.frames
    # One video has one frame size: every still is brought to the first one's (stretched).
    height, width = frames[0].shape[:2]
    return [cv2.resize(f, (width, height)) for f in frames[:n_frames]]


def timed(pipeline: TwoStagePipeline, frames: list[np.ndarray]) -> dict[str, float]:
    pipeline.times.__init__()
    started = time.perf_counter()
    boxes = sum(len(pipeline(frame).kept.scores) for frame in frames)
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "detector_s": pipeline.times.detector_s,
        "verifier_s": pipeline.times.verifier_s,
        "boxes": boxes,
    }


def decode_seconds(video: Path) -> float:
    started = time.perf_counter()
    for _ in FrameStream(video):
        pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a us_detect run directory")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run = RunDirectory.open(args.run)
    frames = clip_frames(run, args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        video = write_video(Path(tmp) / "clip.mp4", frames, fps=25)
        decoded = [f.image for f in FrameStream(video)]
        alone = TwoStagePipeline.from_run(run.path, use_verifier=False)
        both = TwoStagePipeline.from_run(run.path)
        timed(alone, decoded[:5]), timed(both, decoded[:5])  # warm-up
        results: dict[str, list[dict]] = {"alone": [], "both": []}
        decode = []
        for _ in range(args.rounds):
            decode.append(decode_seconds(video))
            results["alone"].append(timed(alone, decoded))
            results["both"].append(timed(both, decoded))
    n = len(decoded)
    decode_s = min(decode)
    height, width = decoded[0].shape[:2]
    size = run.read_config().head.detector.image_size
    print(
        f"{n} frames of {width}×{height} px (clip from {run.path.name}'s test stills), detector "
        f"input {size} px, {torch.get_num_threads()} torch threads, best of {args.rounds} rounds"
    )
    print(f"decode (FrameStream, mp4v): {n / decode_s:.1f} frames/s")
    fps = {}
    for name, label in (("alone", "detector alone"), ("both", "detector + verifier")):
        best = min(results[name], key=lambda r: r["seconds"])
        total = best["seconds"] + decode_s
        fps[name] = n / total
        other = best["seconds"] - best["detector_s"] - best["verifier_s"]
        shares = ", ".join(
            f"{stage} {100 * seconds / total:.0f}%"
            for stage, seconds in (
                ("decode", decode_s),
                ("detector", best["detector_s"]),
                ("verifier", best["verifier_s"]),
                ("other", other),
            )
        )
        print(
            f"{label:>20}: {fps[name]:.1f} frames/s end to end (decode included); "
            f"time per stage: {shares}; boxes reported {best['boxes']}"
        )
    print(f"ratio (two-stage / detector alone): {fps['both'] / fps['alone']:.3f}")
    print(f"goal: two-stage >= 15 frames/s -> {'met' if fps['both'] >= 15 else 'NOT met'}")


if __name__ == "__main__":
    main()
