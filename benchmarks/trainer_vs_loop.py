"""Training throughput: medzoo's Lightning path against a plain PyTorch loop.

Both train the same model (same init, optimiser, schedule) on the same cached phantom data for
the same number of steps, in one process, alternating A/B/A/B; steady-state images/s is timed
after warm-up steps. Prints both figures and their ratio (goal: ratio >= 0.95).

Checkpoint writing is left out of both: it is disk I/O once per epoch, not training
throughput, and with this benchmark's 10-step epochs it would dominate the difference.

    python benchmarks/trainer_vs_loop.py [--steps 60] [--warmup 5] [--size 64] \
        [--backbone resnet10t] [--rounds 7]
"""

from __future__ import annotations

import tempfile
import time

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger

from medzoo.heads import build_datamodule, build_module
from medzoo.tasks.card import card_of
from timing import loader_rate, paired_ratio, rounds_line, training_setup


class SteadyStateTimer(Callback):
    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end, self.images = warmup, 0.0, 0.0, 0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.global_step > self.warmup:
            self.images += len(batch[0])
            self.end = time.perf_counter()


def lightning_path(cfg, steps: int, warmup: int) -> float:
    card = card_of(cfg)
    L.seed_everything(0, verbose=False)
    datamodule = build_datamodule(cfg, card)
    module = build_module(cfg, card)
    timer = SteadyStateTimer(warmup)
    with tempfile.TemporaryDirectory() as out:
        trainer = L.Trainer(
            max_steps=steps + warmup,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            accelerator="cpu",
            devices=1,
            log_every_n_steps=5,
            enable_progress_bar=False,
            enable_model_summary=False,
            logger=CSVLogger(out, name="logs"),
            callbacks=[timer],
            enable_checkpointing=False,
        )
        trainer.fit(module, datamodule=datamodule)
    return timer.images / (timer.end - timer.start)


def main() -> None:
    args, cfg = training_setup(__doc__.split("\n")[0], rounds=7)
    lightning_rates, loop_rates = [], []
    for _ in range(args.rounds):
        lightning_rates.append(lightning_path(cfg, args.steps, args.warmup))
        loop_rates.append(loader_rate(cfg, args.steps, args.warmup))
    print(f"machine: {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(
        f"model {args.backbone}, {args.size} px, batch {cfg.data.batch_size}, "
        f"{args.steps} timed steps after {args.warmup} warm-up, {args.rounds} alternating rounds"
    )
    print(rounds_line("medzoo Lightning path:", lightning_rates))
    print(rounds_line("plain PyTorch loop:   ", loop_rates))
    print(f"ratio (Lightning / plain): {paired_ratio(lightning_rates, loop_rates)}  (goal >= 0.95)")


if __name__ == "__main__":
    main()
