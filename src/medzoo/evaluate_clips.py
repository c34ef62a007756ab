"""``python -m medzoo.evaluate_clips run=<run> [clips=20] [seconds=5] [fps=10]``.

No public ultrasound or smartphone video is available, so a run's streaming behaviour is
measured on clips animated from its **test-split** stills (``medzoo.video.clips``: probe pan,
zoom and speckle for ultrasound; tremor, motion blur and exposure for hand-held photographs).
Each clip keeps its still's label and moves its boxes with the image.

- Detection runs: recall / precision / F1 per frame at IoU 0.5 for the detector alone and with
  the verifier, each without and with k-of-n persistence (``persist=[2/3,3/5]``).
- Classification runs: accuracy of single frames, of windows integrated over
  ``integrate`` seconds (mean probability and majority vote), and of the stills themselves.

CIs resample clips, not frames (frames of one clip are not independent). Writes
``<run>/clip_evaluations/<timestamp>/`` with ``metrics.json``, ``report.md`` and one example
clip (``example.mp4``) to try ``medzoo.predict`` on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import hydra
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from medzoo.commands import UsageError, user_errors
from medzoo.data.boxes import parse_boxes
from medzoo.data.images import read_image
from medzoo.heads import HEADS, checkpoint_of, head_of, load_module
from medzoo.heads.detection.inference import TwoStagePipeline
from medzoo.heads.detection.verifier import two_stage
from medzoo.metrics.bootstrap import bootstrap_ci
from medzoo.metrics.detection import Detections, detection_block, persistent
from medzoo.paths import config_dir
from medzoo.predictor import Predictor
from medzoo.reporting.report import format_figure, markdown_table
from medzoo.rundir import RunDirectory
from medzoo.tasks.card import TaskCard, card_of
from medzoo.video.clips import animate
from medzoo.video.stream import write_video
from medzoo.video.temporal import Decision, integrate_windows, parse_persistence, parse_window


def test_stills(run: RunDirectory, clips: int, seed: int, with_boxes: bool) -> pd.DataFrame:
    """``clips`` test-split rows of the run's manifest, sampled evenly over labels."""
    manifest = pd.read_csv(run.path / "manifest.csv", dtype=str, keep_default_na=False)
    test = manifest[manifest["split"] == "test"]
    if test.empty:
        raise UsageError(f"{run.path}/manifest.csv has no test rows to animate")
    if with_boxes:  # detection: clips of lesion and lesion-free stills alike
        test = test.assign(label=np.where(test["boxes"] != "", "lesion", "none"))
    rng = np.random.default_rng(seed)
    labels = sorted(test["label"].unique())
    picks = []
    for k in range(clips):
        pool = test[test["label"] == labels[k % len(labels)]]
        picks.append(pool.iloc[int(rng.integers(len(pool)))])
    return pd.DataFrame(picks).reset_index(drop=True)


def _style(card: TaskCard) -> str:
    return "ultrasound" if card.modality == "ultrasound" else "handheld"


def _accuracy_block(correct: np.ndarray, clip_of: np.ndarray, boot: Mapping) -> dict:
    """Share correct with a CI from resampling clips."""
    correct, clip_of = np.asarray(correct, dtype=float), np.asarray(clip_of)
    keys, inverse = np.unique(clip_of, return_inverse=True)
    hits = np.bincount(inverse, weights=correct, minlength=len(keys))
    totals = np.bincount(inverse, minlength=len(keys)).astype(float)
    interval = bootstrap_ci(
        lambda idx: {"a": hits[idx].sum() / totals[idx].sum()},
        np.zeros(len(keys)),
        boot["n"],
        boot["seed"],
    )["a"]
    return {"value": float(correct.mean()), "ci95": list(interval), "n": int(correct.size)}


def classification_clips(
    run: RunDirectory, card: TaskCard, stills: pd.DataFrame, cfg: DictConfig, boot: Mapping
) -> tuple[dict, list[tuple[str, ...]], list[np.ndarray]]:
    predictor = Predictor(load_module(checkpoint_of(run)))
    # the run's own decision (its threshold, its decision rule), as on its test split
    decide = Decision.of_run(run.read_json("metrics.json"))
    window_s = parse_window(cfg.integrate)
    names = list(card.class_names)
    n_frames = round(cfg.seconds * cfg.fps)
    frame_rows, window_rows, still_rows, example = [], [], [], []
    for k, row in stills.iterrows():
        still = read_image(row["image"], 3)
        clip = animate(
            still, n_frames, seed=int(cfg.seed) * 10_000 + k, style=_style(card), fps=cfg.fps
        )
        probs = np.asarray(predictor.predict(clip.frames))
        truth = names.index(row["label"])
        still_rows.append((k, int(decide(predictor.predict([still]))[0] == truth)))
        frame_rows += [(k, int(d == truth)) for d in decide(probs)]
        times = np.arange(n_frames) / cfg.fps
        for rule in ("mean", "vote"):
            window_rows += [
                (rule, k, int(w.decision == truth))
                for w in integrate_windows(times, probs, window_s, rule, decide)
            ]
        if k == 0:
            example = clip.frames
    frames = np.array(frame_rows)
    windows = pd.DataFrame(window_rows, columns=["rule", "clip", "correct"])
    stills_arr = np.array(still_rows)
    document = {
        "single_frame": _accuracy_block(frames[:, 1], frames[:, 0], boot),
        "still_image": _accuracy_block(stills_arr[:, 1], stills_arr[:, 0], boot),
        **{
            f"window_{rule}": _accuracy_block(part["correct"], part["clip"], boot)
            for rule, part in windows.groupby("rule")
        },
        "window_s": window_s,
        "decision": decide.record(),
    }
    rows = [
        ("still image (no motion)", format_figure(document["still_image"]), str(len(stills))),
        ("single frame", format_figure(document["single_frame"]), str(len(frames))),
        (
            f"{window_s:g} s window, mean probability",
            format_figure(document["window_mean"]),
            str(document["window_mean"]["n"]),
        ),
        (
            f"{window_s:g} s window, majority vote",
            format_figure(document["window_vote"]),
            str(document["window_vote"]["n"]),
        ),
    ]
    return document, [("decision", "accuracy (95% CI over clips)", "decisions"), *rows], example


def detection_clips(
    run: RunDirectory, card: TaskCard, stills: pd.DataFrame, cfg: DictConfig, boot: Mapping
) -> tuple[dict, list[tuple[str, ...]], list[np.ndarray]]:
    pipeline = TwoStagePipeline.from_run(run.path)
    detector_alone = run.read_json("metrics.json")["thresholds"]["detector_alone"]
    n_frames = round(cfg.seconds * cfg.fps)
    sequences: dict[str, list[list[Detections]]] = {"detector alone": [], "detector + verifier": []}
    truths, clip_of, example = [], [], []
    for k, row in stills.iterrows():
        still = read_image(row["image"], 1)[..., 0]
        clip = animate(
            still,
            n_frames,
            seed=int(cfg.seed) * 10_000 + k,
            style=_style(card),
            boxes=parse_boxes(row["boxes"], row["image"]),
            fps=cfg.fps,
        )
        alone, both = [], []
        for frame in clip.frames:
            found = pipeline.detector([frame])[0]
            probability = pipeline.verifier(frame, found)
            alone.append(found.above(detector_alone))
            both.append(
                two_stage(
                    found, probability, pipeline.detector_threshold, pipeline.verifier_threshold
                )
            )
        sequences["detector alone"].append(alone)
        sequences["detector + verifier"].append(both)
        truths += clip.boxes
        clip_of += [k] * n_frames
        if k == 0:
            example = clip.frames
    document, rows = {}, []
    for stage, clips in sequences.items():
        for rule in [None, *cfg.persist]:
            kept = [
                box
                for sequence in clips
                for box in (persistent(sequence, *parse_persistence(rule)) if rule else sequence)
            ]
            block = detection_block(kept, truths, 0.5, boot["n"], boot["seed"], units=clip_of)
            name = f"{stage}" + (f", persistence {rule}" if rule else "")
            document[name] = block
            rows.append(
                (
                    name,
                    *(format_figure(block[f]) for f in ("recall", "precision", "f1")),
                    f"{block['tp']} / {block['fp']} / {block['fn']}",
                )
            )
    header = ("pipeline (per frame, IoU 0.5)", "recall", "precision", "F1", "TP / FP / FN")
    return document, [header, *rows], example


def evaluate_clips(cfg: DictConfig) -> RunDirectory:
    started = time.perf_counter()
    run = RunDirectory.open(cfg.run).require_finished()
    card = card_of(run.read_config())
    clips = head_of(card).clips
    if clips is None:
        covered = ", ".join(name for name, head in HEADS.items() if head.clips)
        raise UsageError(f"clip evaluation covers {covered} runs, not {card.head}")
    boot = {"n": int(cfg.n_bootstrap), "seed": int(cfg.seed)}
    stills = test_stills(run, int(cfg.clips), int(cfg.seed), clips == "boxes")
    evaluate = detection_clips if clips == "boxes" else classification_clips
    document, table, example = evaluate(run, card, stills, cfg, boot)
    document = {
        "clips": len(stills),
        "frames_per_clip": round(cfg.seconds * cfg.fps),
        "fps": cfg.fps,
        "style": _style(card),
        "stills": stills["image"].tolist(),
        "bootstrap": {**boot, "unit": "clip"},
        **document,
    }
    text = "\n".join(
        [
            f"# {card.name}: clips animated from test-split stills",
            "",
            f"- run: {run.path}",
            f"- {len(stills)} clips × {document['frames_per_clip']} frames at {cfg.fps:g} fps, "
            f"style {document['style']} (medzoo.video.clips), seed {cfg.seed}",
            "- synthetic motion, not real video: read the figures as robustness to the simulated "
            "motion, not as clinical video performance",
            f"- wall time: {time.perf_counter() - started:.0f} s",
            "",
            markdown_table(table[0], table[1:]),
        ]
    )
    out = RunDirectory.create(run.path, "clip_evaluations")
    with out.attempt():
        out.write_json("metrics.json", document)
        write_video(out.file("example.mp4"), example, cfg.fps)
        out.write_text("report.md", text + "\n")
    print(text + f"\n\nwritten to {out.path}")
    return out


@hydra.main(config_path=str(config_dir()), config_name="evaluate_clips", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with user_errors():
        if not cfg.get("run"):
            raise UsageError(
                "usage: python -m medzoo.evaluate_clips run=<run directory> [clips=20]"
            )
        evaluate_clips(cfg)


if __name__ == "__main__":
    main()
