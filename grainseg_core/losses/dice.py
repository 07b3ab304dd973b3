"""Soft Dice loss (seed 004)."""

from __future__ import annotations

import torch
from torch import nn

from grainseg_core.losses._functional import check_logits_target, soft_dice_loss
from grainseg_core.losses._params import as_float

__all__ = ["DiceLoss"]


class DiceLoss(nn.Module):
    """Soft Dice loss on sigmoid probabilities, pooled over the batch.

    Parameters
    ----------
    smooth : float
        Added to numerator and denominator (>= 0); keeps an all-grain batch finite.

    Notes
    -----
    ``forward(logits, target)``: logits (B, 1, H, W) or (B, 1, n), target of the
    same shape in [0, 1] (1 = boundary). Returns
    ``1 - (2 sum(p t) + smooth) / (sum(p) + sum(t) + smooth)``.

    Examples
    --------
    >>> t = torch.tensor([[[[1.0, 0.0]]]])
    >>> float(DiceLoss(smooth=0.0)(torch.tensor([[[[50.0, -50.0]]]]), t)) < 1e-6
    True
    """

    def __init__(self, *, smooth: float = 1.0) -> None:
        super().__init__()
        self.smooth = as_float(smooth, "smooth", low=0.0)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits, target = check_logits_target(logits, target, name="dice", spatial_dims=(1, 2))
        return soft_dice_loss(logits, target, smooth=self.smooth)
