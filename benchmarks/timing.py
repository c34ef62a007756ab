"""What the benchmarks share: steady-state training throughput of a module over any batches."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import torch


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
    return (
        f"{label} {max(rates):7.1f} img/s  (rounds: " + ", ".join(f"{r:.1f}" for r in rates) + ")"
    )
