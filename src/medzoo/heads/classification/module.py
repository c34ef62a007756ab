"""The generic LightningModule for classification heads: binary, multiclass and multilabel.

Tasks differ by card and config only. The module normalises its own input (images arrive as
floats in [0, 1]), so a checkpoint carries everything needed to predict except resizing, whose
size is kept in the hyperparameters too.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
import torchmetrics

from medzoo.heads.modules import BackboneModule
from medzoo.metrics.protocol import HEADS
from medzoo.models.views import check_views, predict


class ClassificationModule(BackboneModule):
    monitor = "val_auc"  # what the best checkpoint maximises

    def __init__(
        self,
        head: str,
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
        tta: Sequence[str] = (),
    ) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; expected one of {HEADS}")
        tta = check_views(tta)
        self.save_hyperparameters()
        self.class_names = list(class_names)
        self.single_logit = head == "binary"  # one logit: the positive class's
        outputs = 1 if self.single_logit else len(self.class_names)
        self._build_backbone(backbone, outputs, in_chans, pretrained, weights, drop_rate)
        self.val_auc = self._auroc()
        self.test_auc = self._auroc()  # trainer.test: gathered over every process under DDP
        self.test_images = torchmetrics.SumMetric()

    def _auroc(self) -> torchmetrics.Metric:
        n = len(self.class_names)
        if self.hparams.head == "binary":
            return torchmetrics.AUROC(task="binary")
        if self.hparams.head == "multiclass":
            return torchmetrics.AUROC(task="multiclass", num_classes=n)
        return torchmetrics.AUROC(task="multilabel", num_labels=n)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """(n, classes) probabilities; a binary head gives [P(negative), P(positive)]."""
        if self.hparams.head == "binary":
            positive = torch.sigmoid(logits[:, 0])
            return torch.stack([1.0 - positive, positive], dim=1)
        if self.hparams.head == "multiclass":
            return torch.softmax(logits, dim=1)
        return torch.sigmoid(logits)

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.hparams.head == "binary":
            return F.binary_cross_entropy_with_logits(logits[:, 0], targets.float())
        if self.hparams.head == "multiclass":
            return F.cross_entropy(logits, targets, label_smoothing=self.hparams.label_smoothing)
        return F.binary_cross_entropy_with_logits(logits, targets.float())

    def _auroc_input(self, logits: torch.Tensor) -> torch.Tensor:
        probs = self.probabilities(logits)
        return probs[:, 1] if self.hparams.head == "binary" else probs

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, targets = batch
        logits = self(images)
        self.log("val_loss", self._loss(logits, targets), prog_bar=True, on_epoch=True)
        target = targets.long() if self.hparams.head != "multilabel" else targets.int()
        self.val_auc.update(self._auroc_input(logits), target)
        self.log("val_auc", self.val_auc, prog_bar=True, on_epoch=True)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, targets = batch
        target = targets.long() if self.hparams.head != "multilabel" else targets.int()
        self.test_auc.update(self._auroc_input(self(images)), target)
        self.test_images.update(torch.tensor(float(len(images)), device=images.device))
        self.log("test_auc", self.test_auc, on_epoch=True)
        self.log("test_images", self.test_images, on_epoch=True)

    def predict_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        return predict(self, images)
