"""Training throughput: medzoo's cached data pipeline against batches sliced from tensors
already in memory.

Both train the same model (same init, optimiser, schedule) for the same steps in one process,
alternating rounds. The pipeline path is what ``medzoo.train`` feeds the model: the decoded-image
cache (uint8 arrays), ``ArrayDataset`` (per-image augmentation as configured, uint8 → float),
and a shuffling ``DataLoader``. The baseline slices a float tensor prepared once — no dataset,
no augmentation, no collation — the fastest any data layer could be. Prints both and the ratio
(goal: ratio >= 0.9).

    python benchmarks/pipeline_vs_tensors.py [--steps 60] [--warmup 5] [--size 64] [--rounds 7]
"""

from __future__ import annotations

import lightning as L
import torch

from medzoo.data.datamodule import to_tensor
from medzoo.heads import build_datamodule, build_module
from medzoo.tasks.card import card_of
from timing import loader_rate, paired_ratio, rounds_line, train_rate, training_setup


def tensor_rate(cfg, steps: int, warmup: int) -> float:
    card = card_of(cfg)
    datamodule = build_datamodule(cfg, card)
    datamodule.setup()
    train = datamodule.datasets["train"]
    images, targets = to_tensor(train.images), torch.as_tensor(train.targets)
    batch = int(cfg.data.batch_size)
    L.seed_everything(0, verbose=False)
    module = build_module(cfg, card)

    def epoch():
        order = torch.randperm(len(images))
        for start in range(0, len(order), batch):
            pick = order[start : start + batch]
            yield images[pick], targets[pick]

    return train_rate(module, epoch, steps, warmup)


def main() -> None:
    args, cfg = training_setup(__doc__.split("\n")[0], rounds=7)
    pipeline, tensors = [], []
    for _ in range(args.rounds):
        pipeline.append(loader_rate(cfg, args.steps, args.warmup))
        tensors.append(tensor_rate(cfg, args.steps, args.warmup))
    augment = ", ".join(step["_target_"].split(".")[-1] for step in cfg.data.augment or [])
    print(f"machine: {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(
        f"model {args.backbone}, {args.size} px, batch {cfg.data.batch_size}, augmentation: "
        f"{augment or 'none'}; {args.steps} timed steps after {args.warmup} warm-up, "
        f"{args.rounds} alternating rounds"
    )
    print(rounds_line("cached pipeline (DataLoader):", pipeline))
    print(rounds_line("in-memory tensors:           ", tensors))
    print(f"ratio (pipeline / tensors): {paired_ratio(pipeline, tensors)}  (goal >= 0.9)")


if __name__ == "__main__":
    main()
