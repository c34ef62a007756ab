"""Time to quality on BUSI: medzoo's default breast_us recipe against a plain timm fine-tune.

Both arms train the same network (timm ``tf_efficientnet_lite0`` with medzoo's offline ImageNet
weights, the task's channels and drop rate) at the same input size, on the same split and the
same training batches (the data module of ``task=breast_us``, its augmentation included), one
after the other in one process:

- **medzoo**: the task's LightningModule and trainer settings (AdamW with the one-cycle
  schedule, label handling, its validation every epoch), as ``python -m medzoo.train
  task=breast_us`` trains it, minus the run folder's files;
- **plain**: the network from ``timm.create_model`` (through medzoo's offline weight loader),
  AdamW at a fixed learning rate (the task's ``model.lr``), cross-entropy, no schedule, no
  warm-up, in a loop written here.

After every epoch a probe scores validation malignant-vs-rest AUC (its own time is not
counted); an arm's time to quality is the training wall time at which that AUC first reaches
``--target``. Each arm's test AUC is that of its best validation epoch. Prints both times, both
test AUCs and the ratio medzoo / plain (goal: at most 0.5, with a test AUC no lower), with the
machine and a calibration figure measured in the same process.

    MEDZOO_DATA=../shared/data python benchmarks/time_to_quality.py [--target 0.90] [--epochs 15]
"""

from __future__ import annotations

import argparse
import copy
import time
from dataclasses import dataclass, field

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from sklearn.metrics import roc_auc_score
from torch.nn import functional as F

from medzoo.config import compose
from medzoo.environment import cpu_model, machine_description
from medzoo.heads import build_datamodule, build_module
from medzoo.models.backbones import create_backbone, input_normalisation
from medzoo.tasks.card import card_of
from timing import calibration_line

POSITIVE = "malignant"


@dataclass
class Progress:
    """One arm's clock (probe time left out), validation AUC per epoch and its best weights."""

    target: float
    started: float = field(default_factory=time.perf_counter)
    probing: float = 0.0
    curve: list[tuple[float, float]] = field(default_factory=list)  # (training s, val AUC)
    reached_s: float | None = None
    best_auc: float = -1.0
    best_state: dict | None = None

    def training_time(self) -> float:
        return time.perf_counter() - self.started - self.probing

    def probe(self, model: torch.nn.Module, forward, loader, positive: int) -> None:
        began = time.perf_counter()
        auc = malignant_auc(forward, loader, positive)
        if auc > self.best_auc:
            self.best_auc, self.best_state = auc, copy.deepcopy(model.state_dict())
        self.probing += time.perf_counter() - began
        elapsed = self.training_time()
        self.curve.append((elapsed, auc))
        if self.reached_s is None and auc >= self.target:
            self.reached_s = elapsed


@torch.inference_mode()
def malignant_auc(forward, loader, positive: int) -> float:
    scores, truth = [], []
    for images, targets in loader:
        scores.append(torch.softmax(forward(images), dim=1)[:, positive])
        truth.append(targets == positive)
    return float(roc_auc_score(torch.cat(truth).numpy(), torch.cat(scores).numpy()))


class Probe(Callback):
    def __init__(self, progress: Progress, loader, positive: int) -> None:
        self.progress, self.loader, self.positive = progress, loader, positive

    def on_train_epoch_end(self, trainer, module) -> None:
        was_training = module.training
        module.eval()
        self.progress.probe(module, module, self.loader, self.positive)
        module.train(was_training)


def medzoo_arm(cfg, card, datamodule, positive: int, target: float) -> tuple[Progress, float]:
    L.seed_everything(0, verbose=False)
    module = build_module(cfg, card)
    progress = Progress(target)
    trainer = L.Trainer(
        max_epochs=int(cfg.trainer.max_epochs),
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Probe(progress, datamodule.val_dataloader(), positive)],
    )
    progress.started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    module.load_state_dict(progress.best_state)
    module.eval()
    return progress, malignant_auc(module, datamodule.test_dataloader(), positive)


def plain_arm(cfg, datamodule, positive: int, target: float, epochs: int) -> tuple[Progress, float]:
    L.seed_everything(0, verbose=False)
    model = cfg.model
    net = create_backbone(
        model.backbone,
        len(cfg.task.class_names),
        int(cfg.data.channels),
        bool(model.pretrained),
        model.get("weights"),
        float(model.get("drop_rate", 0.0)),
    )
    mean, std = (
        torch.tensor(v).view(1, -1, 1, 1) for v in input_normalisation(net, cfg.data.channels)
    )

    def forward(images: torch.Tensor) -> torch.Tensor:
        return net((images - mean) / std)

    optimizer = torch.optim.AdamW(
        net.parameters(), lr=float(model.lr), weight_decay=float(model.weight_decay)
    )
    val = datamodule.val_dataloader()
    progress = Progress(target)
    for _ in range(epochs):
        net.train()
        for images, targets in datamodule.train_dataloader():
            loss = F.cross_entropy(forward(images), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        net.eval()
        progress.probe(net, forward, val, positive)
    net.load_state_dict(progress.best_state)
    net.eval()
    return progress, malignant_auc(forward, datamodule.test_dataloader(), positive)


def describe(name: str, progress: Progress, test_auc: float) -> str:
    reached = f"{progress.reached_s:6.1f} s" if progress.reached_s is not None else "not reached"
    curve = ", ".join(f"{auc:.3f}" for _, auc in progress.curve)
    return (
        f"{name:7s} val AUC >= target after {reached}; {len(progress.curve)} epochs in "
        f"{progress.curve[-1][0]:.1f} s; best val {progress.best_auc:.3f}; test AUC "
        f"{test_auc:.3f}\n        val AUC by epoch: {curve}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.90)
    parser.add_argument("--epochs", type=int, default=None, help="default: the task's")
    args = parser.parse_args()
    overrides = ["task=breast_us", "trainer.enable_progress_bar=false"]
    if args.epochs:
        overrides.append(f"trainer.max_epochs={args.epochs}")
    cfg = compose(overrides)
    card = card_of(cfg)
    positive = list(card.class_names).index(POSITIVE)
    datamodule = build_datamodule(cfg, card)
    datamodule.setup()
    print(f"{cpu_model() or 'unknown CPU'}; {machine_description()}")
    print(calibration_line())
    medzoo, medzoo_test = medzoo_arm(cfg, card, datamodule, positive, args.target)
    plain, plain_test = plain_arm(
        cfg, datamodule, positive, args.target, int(cfg.trainer.max_epochs)
    )
    print(f"target: validation malignant-vs-rest AUC >= {args.target}")
    print(describe("medzoo", medzoo, medzoo_test))
    print(describe("plain", plain, plain_test))
    if medzoo.reached_s is not None and plain.reached_s is not None:
        ratio = medzoo.reached_s / plain.reached_s
        verdict = "goal met" if ratio <= 0.5 and medzoo_test >= plain_test else "goal NOT met"
        print(
            f"time to quality, medzoo / plain: {ratio:.2f} (goal <= 0.5, test AUC no lower): "
            f"{verdict}"
        )
    else:
        print("time to quality ratio: undefined (an arm never reached the target)")
    print(f"test AUC, medzoo - plain: {medzoo_test - plain_test:+.3f}")


if __name__ == "__main__":
    main()
