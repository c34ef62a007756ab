"""A rank-consistent ordinal classifier (CORAL; Cao, Mirjalili & Raschka, Pattern Recognit.
Lett. 2020): one severity score per image and K−1 ordered cut-points.

The backbone gives one score s(x); the cumulative logits are s(x) − c_k for cut-points
c_1 < … < c_{K−1}, so P(grade > k) = σ(s − c_k) falls with k for every image and the grade
probabilities P(k) = P(> k−1) − P(> k) are never negative. The loss is binary cross-entropy of
each "grade above k" question, so confusing grade 1 with grade 3 costs two questions, grade 1
with grade 2 one. The cut-points are kept ordered by construction (the first, then positive
gaps), not by a penalty.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchmetrics

from medzoo.heads.classification.module import ClassificationModule


class OrdinalModule(ClassificationModule):
    def __init__(self, head: str = "ordinal", **settings) -> None:
        # The evaluation protocol is a multiclass head's; the saved hyperparameters say
        # "ordinal" (Lightning reads them from this frame), so a checkpoint loads as this class.
        super().__init__(head="multiclass", **settings)
        grades = len(self.class_names)
        if grades < 3:
            raise ValueError(f"an ordinal head needs three grades or more, not {grades}")
        self.net.reset_classifier(1)  # one severity score
        # Cut-points start one logit apart, centred on 0 (softplus(0.5413) = 1).
        self.first_cut = torch.nn.Parameter(torch.tensor([-(grades - 2) / 2.0]))
        self.gaps = torch.nn.Parameter(torch.full((grades - 2,), 0.5413))

    def _auroc(self) -> torchmetrics.Metric:
        return torchmetrics.AUROC(task="multiclass", num_classes=len(self.class_names))

    def cut_points(self) -> torch.Tensor:
        steps = F.softplus(self.gaps) + 1e-3
        return torch.cat([self.first_cut, self.first_cut + torch.cumsum(steps, dim=0)])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(n, grades − 1) cumulative logits: logit of P(grade > k)."""
        return super().forward(images) - self.cut_points()

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        above = torch.sigmoid(logits)
        ones, zeros = torch.ones_like(above[:, :1]), torch.zeros_like(above[:, :1])
        return torch.cat([ones, above], dim=1) - torch.cat([above, zeros], dim=1)

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        levels = torch.arange(logits.shape[1], device=logits.device)
        above = (targets.long()[:, None] > levels[None, :]).float()
        return F.binary_cross_entropy_with_logits(logits, above)

    def _auroc_input(self, logits: torch.Tensor) -> torch.Tensor:
        return self.probabilities(logits)
