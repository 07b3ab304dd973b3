"""HED: holistically-nested edge detection (Xie & Tu 2015), one gray channel in.

A VGG-16 trunk with a 1x1 side output after each of its five stages; the side
logits are upsampled to the input size and fused by a learned 1x1 conv.
Seed 000 reports 14.72M parameters; the default here has 14.72M.
"""

from __future__ import annotations

import torch
from torch import nn

from grainseg_core.nets._base import (
    VGG16_STAGES,
    SideOutputNet,
    VGGTrunk,
    check_width,
    mean_fusion,
    scaled,
)

__all__ = ["HED"]


class HED(SideOutputNet):
    """HED boundary network: (B, 1, H, W) image -> (B, 1, H, W) fused logits.

    Parameters
    ----------
    width : float
        Channel multiplier of the VGG-16 trunk (1.0 = 14.7M parameters).
    batch_norm : bool
        BatchNorm after every conv. The original had none because it started from
        ImageNet weights; grainseg trains from scratch, where BatchNorm is what
        makes a 13-conv trunk train at all.

    Notes
    -----
    ``input_divisor`` is 16 (four 2x2 pools). ``forward_with_sides`` returns the
    fused logits and the five side logits, all (B, 1, H, W), so a trainer can apply
    the loss to each (deep supervision, as in the paper).

    Examples
    --------
    >>> net = HED(width=0.125)
    >>> net(torch.zeros(1, 1, 32, 32)).shape
    torch.Size([1, 1, 32, 32])
    """

    input_divisor = 16

    def __init__(self, *, width: float = 1.0, batch_norm: bool = True) -> None:
        super().__init__()
        width = check_width(width)
        stages = [[scaled(c, width) for c in s] for s in VGG16_STAGES]
        self.trunk = VGGTrunk(stages=stages, batch_norm=bool(batch_norm))
        self.sides = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in self.trunk.out_channels)
        self.fuse = mean_fusion(len(self.sides))

    def side_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """A 1x1 conv of the last feature map of each of the five stages."""
        return [conv(f) for conv, f in zip(self.sides, self.trunk(x))]
