"""RCF: richer convolutional features for edge detection (Liu et al. 2017), one gray channel in.

Unlike HED, which taps only the last conv of each VGG-16 stage, RCF taps *every*
conv: each conv output goes through a 1x1 conv to 21 channels, the taps of a stage
are summed, reduced to one side logit, upsampled and fused. Seed 000 reports 14.80M
parameters; the default here has 14.80M.
"""

from __future__ import annotations

import torch
from torch import nn

from grainseg_core.nets._base import (
    VGG16_STAGES,
    SideOutputNet,
    VGGTrunk,
    check_positive_int,
    check_width,
    mean_fusion,
    scaled,
)

__all__ = ["RCF"]


class RCF(SideOutputNet):
    """RCF boundary network: (B, 1, H, W) image -> (B, 1, H, W) fused logits.

    Parameters
    ----------
    width : float
        Channel multiplier of the VGG-16 trunk (1.0 = 14.8M parameters).
    tap_channels : int
        Channels of the per-conv 1x1 taps (21 in the paper).
    batch_norm : bool
        BatchNorm after every trunk conv (see :class:`~grainseg_core.nets.HED`).

    Notes
    -----
    ``input_divisor`` is 16. The original RCF removes the stride of pool4 and
    dilates stage 5; this version keeps the plain VGG layout (same parameters).
    ``forward_with_sides`` returns the fused and the five side logits.

    Examples
    --------
    >>> net = RCF(width=0.125)
    >>> net(torch.zeros(2, 1, 32, 48)).shape
    torch.Size([2, 1, 32, 48])
    """

    input_divisor = 16

    def __init__(
        self, *, width: float = 1.0, tap_channels: int = 21, batch_norm: bool = True
    ) -> None:
        super().__init__()
        width = check_width(width)
        tap_channels = check_positive_int(tap_channels, "tap_channels")
        stages = [[scaled(c, width) for c in s] for s in VGG16_STAGES]
        self.trunk = VGGTrunk(stages=stages, batch_norm=bool(batch_norm))
        self.taps = nn.ModuleList(
            nn.ModuleList(nn.Conv2d(c, tap_channels, 1) for c in stage) for stage in stages
        )
        self.sides = nn.ModuleList(nn.Conv2d(tap_channels, 1, 1) for _ in stages)
        self.fuse = mean_fusion(len(stages))

    def side_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per stage: the sum of the 1x1 taps of all its convs, reduced to one channel."""
        sides = []
        for taps, side, feats in zip(self.taps, self.sides, self.trunk.forward_all(x)):
            summed = taps[0](feats[0])
            for tap, f in zip(taps[1:], feats[1:]):
                summed = summed + tap(f)
            sides.append(side(summed))
        return sides
