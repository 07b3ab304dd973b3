"""Binary focal loss (Lin et al. 2017; seed 003 used gamma 2)."""

from __future__ import annotations

import torch
from torch import nn

from grainseg_core.losses._functional import check_logits_target, focal_loss
from grainseg_core.losses._params import as_float

__all__ = ["FocalLoss"]


class FocalLoss(nn.Module):
    """Focal loss ``-alpha_t (1 - p_t)^gamma log(p_t)`` for boundary maps.

    Parameters
    ----------
    gamma : float
        Focusing parameter (>= 0); 0 gives (weighted) BCE.
    alpha : float or None
        Weight of the boundary class in [0, 1] (grains get ``1 - alpha``); seed 003
        set it from inverse class frequency, e.g. 0.9 for 10 % boundary pixels.
        ``None``: no class weight.

    Notes
    -----
    ``forward(logits, target)``: logits (B, 1, H, W) or (B, 1, n), target of the
    same shape in [0, 1] (1 = boundary); mean over pixels.

    Examples
    --------
    >>> loss = FocalLoss(gamma=2.0, alpha=0.75)
    >>> float(loss(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2))) > 0
    True
    """

    def __init__(self, *, gamma: float = 2.0, alpha: float | None = None) -> None:
        super().__init__()
        self.gamma = as_float(gamma, "gamma", low=0.0)
        self.alpha = None if alpha is None else as_float(alpha, "alpha", low=0.0, high=1.0)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits, target = check_logits_target(logits, target, name="focal", spatial_dims=(1, 2))
        return focal_loss(logits, target, gamma=self.gamma, alpha=self.alpha)
