"""Inference throughput of every registered task's model at its default input size.

For each task (its default model, input size and channels from its config), batches of random
images go through ``module.probabilities(module(x))`` in ``torch.inference_mode``; images/s is
timed after warm-up; the best and the median of ``--rounds`` are printed (rounds vary by up to
2× on a shared 2-core machine). The ratio column compares each task with the main
job's model (``phantom_us``) measured in the same run. Text (``report_text``) has no image
model and detection (``us_detect``) is measured end to end by ``detection_fps.py``.

    python benchmarks/inference.py [--batch 16] [--seconds 2] [--rounds 2] [--tasks a,b]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from medzoo.config import compose
from medzoo.heads import build_module
from medzoo.tasks import list_tasks
from medzoo.tasks.card import card_of

BASELINE = "phantom_us"


def model_of(task: str):
    cfg = compose([f"task={task}", "++model.pretrained=false"])
    card = card_of(cfg)
    if card.head == "detection" or cfg.model.get("kind"):
        return None, cfg
    return build_module(cfg, card).eval(), cfg


@torch.inference_mode()
def images_per_second(module, size: int, channels: int, batch: int, seconds: float) -> float:
    x = torch.rand(batch, channels, size, size)
    module.probabilities(module(x))  # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        module.probabilities(module(x))
        count += batch
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tasks", default="", help="comma-separated; default: every task")
    args = parser.parse_args()
    tasks = [t for t in args.tasks.split(",") if t] or list_tasks()
    tasks = [BASELINE, *(t for t in tasks if t != BASELINE)]
    print(f"machine: {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(f"batch {args.batch}, {args.seconds:g} s per round, best of {args.rounds} rounds")
    print(f"| task | model | input | images/s, best | median | best, ratio to {BASELINE} |")
    print("|---|---|---|---|---|---|")
    baseline = None
    for task in tasks:
        module, cfg = model_of(task)
        if module is None:
            kind = cfg.model.get("kind") or "detector + verifier"
            print(f"| {task} | {kind} | — | not an image classifier: see the docstring | — | — |")
            continue
        size, channels = int(cfg.data.image_size), int(cfg.data.channels)
        rates = [
            images_per_second(module, size, channels, args.batch, args.seconds)
            for _ in range(args.rounds)
        ]
        rate = max(rates)
        baseline = baseline or rate
        print(
            f"| {task} | {cfg.model.backbone} | {size} px × {channels} | {rate:.1f} | "
            f"{statistics.median(rates):.1f} | {rate / baseline:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
