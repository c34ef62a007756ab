"""Inference throughput of every registered task's model at its default input size, in
PyTorch eager and through onnxruntime.

For each task (its default model, input size and channels from its config), batches of random
images go through ``module.probabilities(module(x))`` in ``torch.inference_mode``, and through
the same model exported as ``python -m medzoo.export`` exports it (``medzoo.export``), run by
onnxruntime with as many threads as torch has. Rounds of the two alternate, so that a noisy
shared machine slows both alike; images/s is the median of ``--rounds`` rounds (with their
range). Columns: eager and onnxruntime images/s, onnxruntime / eager, and eager relative to
the main job's model (``phantom_us``), all measured in the same run. Text (``report_text``)
has no image model, ``classify`` takes its head from a manifest, and detection (``us_detect``) is
measured end to end by ``detection_fps.py``.

    python benchmarks/inference.py [--batch 16] [--seconds 2] [--rounds 7] [--tasks a,b]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from medzoo.config import compose
from medzoo.export import OnnxRuntimeModule, Probabilities, example_input, export_onnx
from medzoo.heads import build_module
from medzoo.tasks import list_tasks
from medzoo.tasks.card import card_of

BASELINE = "phantom_us"


def model_of(task: str):
    cfg = compose([f"task={task}", "++model.pretrained=false"])
    card = card_of(cfg)
    if card.head in ("detection", "text") or card.classes_from_manifest:
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


def onnx_of(module: torch.nn.Module, folder: Path) -> OnnxRuntimeModule | str:
    """The module through onnxruntime, or why it could not be exported."""
    path = folder / "model.onnx"
    try:
        export_onnx(Probabilities(module), example_input(module), path)
    except Exception as err:  # a benchmark row, not a crash: say what failed
        return f"export failed: {type(err).__name__}"
    return OnnxRuntimeModule(path, module)


def spread(rates: list[float]) -> str:
    return f"{statistics.median(rates):.1f} ({min(rates):.1f}–{max(rates):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tasks", default="", help="comma-separated; default: every task")
    args = parser.parse_args()
    tasks = [t for t in args.tasks.split(",") if t] or list_tasks()
    tasks = [BASELINE, *(t for t in tasks if t != BASELINE)]
    print(f"machine: {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(
        f"batch {args.batch}, {args.seconds:g} s per round, median (range) of {args.rounds} "
        "rounds, eager and onnxruntime alternating"
    )
    print(
        "| task | model | input | eager images/s | onnxruntime images/s | onnxruntime / eager "
        f"| eager, ratio to {BASELINE} |"
    )
    print("|---|---|---|---|---|---|---|")
    baseline = None
    for task in tasks:
        module, cfg = model_of(task)
        if module is None:
            card = card_of(cfg)
            kind = {"detection": "detector + verifier", "text": "TF-IDF + logistic regression"}.get(
                card.head, "the head its manifest's labels choose"
            )
            print(
                f"| {task} | {kind} | — | not an image classifier: see the docstring | — | — | — |"
            )
            continue
        size, channels = int(cfg.data.image_size), int(cfg.data.channels)
        with tempfile.TemporaryDirectory() as folder:
            onnx = onnx_of(module, Path(folder))
            eager, runtime = [], []
            for _ in range(args.rounds):
                eager.append(images_per_second(module, size, channels, args.batch, args.seconds))
                if not isinstance(onnx, str):
                    runtime.append(
                        images_per_second(onnx, size, channels, args.batch, args.seconds)
                    )
        median = statistics.median(eager)
        baseline = baseline or median
        onnx_cell = onnx if isinstance(onnx, str) else spread(runtime)
        ratio = "—" if isinstance(onnx, str) else f"{statistics.median(runtime) / median:.2f}"
        print(
            f"| {task} | {cfg.model.backbone} | {size} px × {channels} | {spread(eager)} | "
            f"{onnx_cell} | {ratio} | {median / baseline:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
