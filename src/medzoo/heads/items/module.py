"""The LightningModule of an items head: one categorical grade per item (e.g. DESIGN-R), from
one backbone with one block of logits per item.

Outputs are named ``item=grade`` (``medzoo.metrics.items``); the loss is the mean over
items of each item's cross-entropy, and the best checkpoint maximises the mean quadratic-
weighted kappa over items on validation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
import torchmetrics

from medzoo.heads.modules import BackboneModule
from medzoo.metrics.items import item_slices
from medzoo.models.views import check_views


class ItemsModule(BackboneModule):
    monitor = "val_kappa"  # mean quadratic-weighted kappa over items

    def __init__(
        self,
        class_names: Sequence[str],
        backbone: str,
        in_chans: int,
        image_size: int,
        pretrained: bool = False,
        weights: str | None = None,
        drop_rate: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        label_smoothing: float = 0.0,
        task: str = "",
        head: str = "items",
        tta: Sequence[str] = (),
    ) -> None:
        super().__init__()
        tta = check_views(tta)
        self.save_hyperparameters()
        self.class_names = list(class_names)
        self.slices = item_slices(self.class_names)
        self._build_backbone(
            backbone, len(self.class_names), in_chans, pretrained, weights, drop_rate
        )
        self.val_kappa = torch.nn.ModuleList(
            torchmetrics.CohenKappa(
                task="multiclass", num_classes=where.stop - where.start, weights="quadratic"
            )
            for where in self.slices.values()
        )

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Each item's grade probabilities (softmax within the item), side by side."""
        return torch.cat(
            [torch.softmax(logits[:, where], dim=1) for where in self.slices.values()], 1
        )

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        losses = [
            F.cross_entropy(
                logits[:, where], targets[:, k], label_smoothing=self.hparams.label_smoothing
            )
            for k, where in enumerate(self.slices.values())
        ]
        return torch.stack(losses).mean()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, targets = batch
        logits = self(images)
        self.log("val_loss", self._loss(logits, targets), prog_bar=True, on_epoch=True)
        for k, (metric, where) in enumerate(zip(self.val_kappa, self.slices.values(), strict=True)):
            metric.update(logits[:, where].argmax(dim=1), targets[:, k])

    def on_validation_epoch_end(self) -> None:
        kappas = torch.stack([metric.compute() for metric in self.val_kappa])
        for metric in self.val_kappa:
            metric.reset()
        self.log("val_kappa", torch.nan_to_num(kappas, nan=0.0).mean(), prog_bar=True)
