"""``python -m medzoo.predict run=<run dir | checkpoint> input=<image file | folder | video>
[backend=torch|onnx]``.

A video input, a detection run, or a streaming option (``integrate=10s``, ``persist=3/5``,
``annotate=true``) predicts frame by frame (``medzoo.video.predict``); otherwise:

Applies a trained run to images it has never seen (e.g. another laboratory's slides) and
writes ``<run>/predictions/<timestamp>/``: ``predictions.csv`` (one row per image, every class
probability and every class-group score) and ``summary.md`` (mean scores per sub-folder, so a
folder-per-class layout reads as a per-class table). Segmentation runs also write each
probability map to ``maps/``. The input is only read. ``backend=onnx`` runs the run's ONNX
export (``python -m medzoo.export run=<run> format=onnx``) through onnxruntime instead of
PyTorch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import hydra
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from medzoo.commands import UsageError, user_errors
from medzoo.export import onnx_module
from medzoo.heads import load_module, locate
from medzoo.paths import config_dir
from medzoo.predictor import Predictor
from medzoo.reporting.report import markdown_table
from medzoo.rundir import RunDirectory
from medzoo.tasks.card import TaskCard, card_of
from medzoo.video.predict import locate_stream_run, run_stream
from medzoo.video.stream import is_video, list_images


def score_table(card: TaskCard, probs: np.ndarray) -> pd.DataFrame:
    """Class probabilities and, for each class group, the summed probability of its classes."""
    table = pd.DataFrame(probs, columns=[f"prob_{name}" for name in card.class_names])
    for group, members in card.class_groups.items():
        table[f"score_{group}"] = table[[f"prob_{m}" for m in members]].sum(axis=1)
    return table


def folder_summary(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """Mean of each score per sub-folder of the input, as a markdown table."""
    folders = frame["image"].map(lambda name: str(Path(name).parent))
    means = frame.groupby(folders)[list(columns)].mean()
    counts = folders.value_counts()
    rows = [
        (folder, str(counts[folder]), *(f"{v:.3f}" for v in means.loc[folder]))
        for folder in means.index
    ]
    return markdown_table(("folder", "images", *columns), rows)


BACKENDS = ("torch", "onnx")


def run_prediction(target: str, input_path: str, backend: str = "torch") -> RunDirectory:
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    run, checkpoint = locate(target)
    card = card_of(run.read_config())
    base, images = list_images(input_path)
    if backend == "onnx":
        module = onnx_module(run, checkpoint)
        predictor = Predictor(module)
        checkpoint = f"{module.path} (onnxruntime, exported from {checkpoint})"
    else:
        predictor = Predictor(load_module(checkpoint))
    out = RunDirectory.create(run.path, "predictions")
    with out.attempt():
        names = [str(p.relative_to(base)) for p in images]
        if predictor.per_pixel:
            maps = out.path / "maps"
            maps.mkdir()
            rows = []
            for name, prob in zip(names, predictor.predict(images), strict=True):
                target_png = maps / (name.replace("/", "__").rsplit(".", 1)[0] + ".png")
                cv2.imwrite(str(target_png), np.rint(prob * 255).astype(np.uint8))
                rows.append({"image": name, "mean_probability": float(prob.mean())})
            frame = pd.DataFrame(rows)
            columns = ["mean_probability"]
        else:
            frame = pd.concat(
                [pd.DataFrame({"image": names}), score_table(card, predictor.predict(images))],
                axis=1,
            )
            columns = [c for c in frame.columns if c.startswith("score_")] or [
                c for c in frame.columns if c.startswith("prob_")
            ]
        frame.to_csv(out.file("predictions.csv"), index=False)
        summary = (
            f"# {card.name}: predictions on {Path(input_path).expanduser()}\n\n"
            f"- run: {run.path}\n- checkpoint: {checkpoint}\n- images: {len(images)}\n\n"
            f"Mean score per folder:\n\n{folder_summary(frame, columns)}\n"
        )
        out.write_text("summary.md", summary)
    print(summary + f"\npredictions written to {out.path}")
    return out


@hydra.main(config_path=str(config_dir()), config_name="predict", version_base="1.3")
def main(cfg: DictConfig) -> None:
    target = cfg.get("run") or cfg.get("ckpt")
    with user_errors():
        if not target or not cfg.get("input"):
            raise UsageError(
                "usage: python -m medzoo.predict run=<run directory or checkpoint> "
                "input=<image file | folder | video> [backend=torch|onnx] [integrate=10s] "
                "[persist=3/5] [annotate=true]"
            )
        if is_stream_request(cfg):
            if cfg.backend != "torch":
                raise UsageError("backend=onnx predicts images and folders; streams run on torch")
            run_stream(
                str(target),
                str(cfg.input),
                fps=cfg.fps,
                integrate=cfg.integrate,
                rule=cfg.rule,
                persist=cfg.persist,
                annotate=bool(cfg.annotate),
                use_verifier=bool(cfg.verifier),
            )
        else:
            run_prediction(str(target), str(cfg.input), str(cfg.backend))


def is_stream_request(cfg: DictConfig) -> bool:
    """A video, any streaming option, or a detection run: frame by frame."""
    if is_video(cfg.input) or cfg.integrate or cfg.persist or cfg.annotate:
        return True
    return locate_stream_run(str(cfg.get("run") or cfg.get("ckpt")))[1] is None


if __name__ == "__main__":
    main()
