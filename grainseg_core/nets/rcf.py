"""RCF: richer convolutional features for edge detection (Liu et al. 2017), one gray channel in.

Unlike HED, which taps only the last conv of each VGG-16 stage, RCF taps *every*
conv: each conv output goes through a 1x1 conv to 21 channels, the taps of a stage
are summed, reduced to one side logit, upsampled and fused. Seed 000 reports 14.80M
parameters; the default here has 14.80M.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from grainseg_core.nets._base import (
    VGG16_STAGES,
    BoundaryNet,
    VGGTrunk,
    check_positive_int,
    check_width,
    scaled,
)

__all__ = ["RCF"]


class RCF(BoundaryNet):
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
    has_side_outputs = True

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
        self.fuse = nn.Conv2d(len(stages), 1, 1)
        nn.init.constant_(self.fuse.weight, 1.0 / len(stages))
        nn.init.zeros_(self.fuse.bias)

    def forward_with_sides(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return the fused logits and the five side logits, each (B, 1, H, W)."""
        self.check_input(x)
        size = x.shape[-2:]
        sides = []
        for taps, side, feats in zip(self.taps, self.sides, self.trunk.forward_all(x)):
            summed = taps[0](feats[0])
            for tap, f in zip(taps[1:], feats[1:]):
                summed = summed + tap(f)
            s = side(summed)
            if s.shape[-2:] != size:
                s = F.interpolate(s, size=size, mode="bilinear", align_corners=False)
            sides.append(s)
        return self.fuse(torch.cat(sides, dim=1)), sides

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fused boundary logits (B, 1, H, W)."""
        return self.forward_with_sides(x)[0]
