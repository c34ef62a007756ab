"""What the training benchmarks share: their command line, the phantom config, and steady-state
training throughput of a module over any batches."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterable

import lightning as L
import torch
from omegaconf import DictConfig

from medzoo.calibration import measure
from medzoo.config import compose
from medzoo.heads import build_datamodule, build_module
from medzoo.tasks.card import card_of


def training_setup(description: str, rounds: int) -> tuple[argparse.Namespace, DictConfig]:
    """The common options (--steps --warmup --size --backbone --rounds) and the phantom config
    they describe."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--backbone", default="resnet10t")
    parser.add_argument("--rounds", type=int, default=rounds)
    args = parser.parse_args()
    cfg = compose(
        [
            f"data.image_size={args.size}",
            f"data.params.size={args.size}",
            f"model.backbone={args.backbone}",
        ]
    )
    return args, cfg


def loader_rate(cfg: DictConfig, steps: int, warmup: int) -> float:
    """Images/s of a plain PyTorch loop over the training loader ``medzoo.train`` uses."""
    card = card_of(cfg)
    datamodule = build_datamodule(cfg, card)
    datamodule.setup()
    L.seed_everything(0, verbose=False)
    module = build_module(cfg, card)
    return train_rate(module, datamodule.train_dataloader, steps, warmup)


def train_rate(
    module: torch.nn.Module,
    epochs: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]],
    steps: int,
    warmup: int,
) -> float:
    """Images/s of ``steps`` AdamW + one-cycle steps after ``warmup`` untimed ones; ``epochs()``
    yields one pass of (images, targets) batches and is called again when a pass ends."""
    optimizer = torch.optim.AdamW(
        module.parameters(), lr=module.hparams.lr, weight_decay=module.hparams.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=module.hparams.lr, total_steps=steps + warmup, pct_start=0.15
    )
    module.train()
    step, images, start = 0, 0, 0.0
    while step < steps + warmup:
        for x, y in epochs():
            if step == warmup:
                start = time.perf_counter()
            loss = module._loss(module(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if step > warmup:
                images += len(x)
            if step == steps + warmup:
                break
    return images / (time.perf_counter() - start)


def rounds_line(label: str, rates: list[float]) -> str:
    """The median of the rounds with their range: on a shared machine the best round is noise."""
    return (
        f"{label} {statistics.median(rates):7.1f} img/s median  (range {min(rates):.1f}–"
        f"{max(rates):.1f}; rounds: " + ", ".join(f"{r:.1f}" for r in rates) + ")"
    )


def paired_ratio(numerator: list[float], denominator: list[float]) -> str:
    """The median of the per-round ratios (the two paths ran back to back in each round, so
    a slow spell of the machine slows both) and their range."""
    ratios = [a / b for a, b in zip(numerator, denominator, strict=True)]
    return (
        f"{statistics.median(ratios):.3f} (median of {len(ratios)} rounds; range "
        f"{min(ratios):.3f}–{max(ratios):.3f})"
    )


def calibration_line() -> str:
    """The machine's calibration figure (``medzoo.calibration``), measured in this process."""
    return measure().line()
