"""The LightningModule for binary segmentation: a U-Net (segmentation-models-pytorch) on a timm
encoder, trained on crops, scored on whole images inside their region of interest."""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import segmentation_models_pytorch as smp
import timm
import torch
import torch.nn.functional as F

from medzoo.heads.modules import adamw_one_cycle, finite_loss
from medzoo.models.views import check_views
from medzoo.models.weights import load_pretrained_encoder, pretrained_state_dict

STRIDE = 32  # the U-Net's total downsampling; inputs are padded to a multiple of it


def pooled_dice(overlap: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Dice of summed counts: 2·|P∩T| / (|P|+|T|), 1 where both are empty (nothing to find,
    nothing found)."""
    return torch.where(size > 0, 2.0 * overlap / size.clamp(min=1), torch.ones_like(size)).float()


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    prob = torch.sigmoid(logits)
    overlap = (prob * target).sum(dim=(1, 2, 3))
    total = prob.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3))
    return (1.0 - (2.0 * overlap + 1.0) / (total + 1.0)).mean()


class SegmentationModule(L.LightningModule):
    monitor = "val_dice"  # what the best checkpoint maximises
    per_pixel = True  # predicts a probability map per image (``medzoo.predictor``)

    def __init__(
        self,
        backbone: str,
        in_chans: int,
        image_size: int,
        pretrained: bool = False,
        weights: str | None = None,
        decoder_channels: tuple[int, ...] = (128, 64, 32, 16, 8),
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        task: str = "",
        head: str = "segmentation",
        class_names: tuple[str, ...] = ("vessel",),
        tta: Sequence[str] = (),
    ) -> None:
        super().__init__()
        tta = check_views(tta)
        self.save_hyperparameters()
        self.class_names = list(class_names)
        if backbone not in timm.list_models():
            raise ValueError(f"unknown timm encoder {backbone!r} for the U-Net")
        self.net = smp.Unet(
            f"tu-{backbone}",
            encoder_weights=None,  # smp would download; medzoo resolves weights offline
            in_channels=in_chans,
            classes=1,
            decoder_channels=tuple(decoder_channels),
        )
        if pretrained or weights:
            state = pretrained_state_dict(backbone, weights)
            load_pretrained_encoder(self.net.encoder.model, state)
        cfg = timm.get_pretrained_cfg(backbone)
        mean, std = list(cfg.mean), list(cfg.std)
        if in_chans != len(mean):
            mean, std = [sum(mean) / len(mean)] * in_chans, [sum(std) / len(std)] * in_chans
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        # Validation Dice pooled over every validation pixel (not a mean of per-batch Dice,
        # which weighs a small last batch like a full one): overlap and size sums.
        self._val_sums = torch.zeros(2, dtype=torch.float64)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits with the input's height and width (padded internally to a multiple of 32)."""
        h, w = images.shape[-2:]
        pad_h, pad_w = -h % STRIDE, -w % STRIDE
        x = F.pad((images - self.mean) / self.std, (0, pad_w, 0, pad_h))
        return self.net(x)[..., :h, :w]

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)

    def _loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, target) + soft_dice_loss(logits, target)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, masks = batch
        loss = self._loss(self(images), masks)
        finite_loss(loss, self.global_step)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        images, masks, regions = batch
        logits = self(images)
        predicted = (logits > 0) & regions
        truth = (masks > 0.5) & regions
        sums = torch.stack([(predicted & truth).sum(), predicted.sum() + truth.sum()])
        self._val_sums = self._val_sums.to(sums.device) + sums.double()
        self.log("val_loss", self._loss(logits, masks), prog_bar=True, on_epoch=True)

    def on_validation_epoch_end(self) -> None:
        # Summed over every process first (all_gather returns this rank's sums alone on one).
        overlap, size = self.all_gather(self._val_sums).reshape(-1, 2).sum(dim=0)
        self.log("val_dice", pooled_dice(overlap, size), prog_bar=True)
        self._val_sums = torch.zeros_like(self._val_sums)

    def configure_optimizers(self) -> dict:
        return adamw_one_cycle(self)
