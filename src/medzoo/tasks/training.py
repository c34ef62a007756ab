"""What every medzoo LightningModule shares: the optimiser schedule and the loss guard."""

from __future__ import annotations

import lightning as L
import torch


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
