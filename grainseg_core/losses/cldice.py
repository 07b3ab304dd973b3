"""clDice (Shit et al. 2021): topology through soft skeletons by min/max pooling."""

from __future__ import annotations

import torch
from torch import nn

from grainseg_core.losses._functional import check_logits_target, cldice_loss
from grainseg_core.losses._params import as_float, as_int

__all__ = ["ClDiceLoss"]


class ClDiceLoss(nn.Module):
    """clDice loss on the boundary class: ``1 - 2 Tprec Tsens / (Tprec + Tsens)``.

    Parameters
    ----------
    iterations : int
        Soft-erosion steps of the soft skeleton (>= 1); about half the widest
        boundary in pixels is enough (3 for boundaries up to ~6 px).
    smooth : float
        Added to both ratios (>= 0).

    Notes
    -----
    ``forward(logits, target)``: logits and target (B, 1, H, W), target in [0, 1]
    (1 = boundary). Usually combined with Dice or BCE in :func:`build_loss`. On a
    CPU it is slower than TopoLoss (TOPOLOGY.md); Skeleton Recall is the cheap
    alternative.

    Examples
    --------
    >>> t = torch.zeros(1, 1, 9, 9); t[..., 4, :] = 1
    >>> float(ClDiceLoss()(t * 40 - 20, t)) < 1e-3
    True
    """

    def __init__(self, *, iterations: int = 3, smooth: float = 1.0) -> None:
        super().__init__()
        self.iterations = as_int(iterations, "iterations", low=1, high=100)
        self.smooth = as_float(smooth, "smooth", low=0.0)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits, target = check_logits_target(logits, target, name="cldice")
        return cldice_loss(logits, target, iterations=self.iterations, smooth=self.smooth)
