"""What every medzoo LightningModule shares: the optimiser schedule and the loss guard; and the
base of the image-level heads (classification, graded items)."""

from __future__ import annotations

import lightning as L
import torch

from medzoo.models.backbones import create_backbone, input_normalisation


def finite_loss(loss: torch.Tensor, step: int) -> torch.Tensor:
    """``loss`` itself, or a clear error when it is NaN or infinite (training cannot recover)."""
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"training loss became {loss.item()} at step {step}; lower model.lr "
            "or check the input data"
        )
    return loss


def adamw_one_cycle(module: L.LightningModule) -> dict:
    """AdamW with a one-cycle learning rate over the whole run, stepped every batch; reads
    ``lr`` and ``weight_decay`` from the module's hyperparameters."""
    optimizer = torch.optim.AdamW(
        module.parameters(), lr=module.hparams.lr, weight_decay=module.hparams.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=module.hparams.lr,
        total_steps=max(1, int(module.trainer.estimated_stepping_batches)),
        pct_start=0.15,
    )
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class BackboneModule(L.LightningModule):
    """A timm backbone that normalises its own input (images arrive as floats in [0, 1]),
    trained by ``_loss`` (defined by each head) with AdamW one-cycle."""

    def _build_backbone(
        self,
        backbone: str,
        outputs: int,
        in_chans: int,
        pretrained: bool,
        weights: str | None,
        drop_rate: float,
    ) -> None:
        self.net = create_backbone(backbone, outputs, in_chans, pretrained, weights, drop_rate)
        mean, std = input_normalisation(self.net, in_chans)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net((images - self.mean) / self.std)

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        images, targets = batch
        loss = self._loss(self(images), targets)
        finite_loss(loss, self.global_step)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def configure_optimizers(self) -> dict:
        return adamw_one_cycle(self)
