"""HED: holistically-nested edge detection (Xie & Tu 2015), one gray channel in.

A VGG-16 trunk with a 1x1 side output after each of its five stages; the side
logits are upsampled to the input size and fused by a learned 1x1 conv.
Seed 000 reports 14.72M parameters; the default here has 14.72M.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from grainseg_core.nets._base import VGG16_STAGES, BoundaryNet, VGGTrunk, check_width, scaled

__all__ = ["HED"]


class HED(BoundaryNet):
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
    has_side_outputs = True

    def __init__(self, *, width: float = 1.0, batch_norm: bool = True) -> None:
        super().__init__()
        width = check_width(width)
        stages = [[scaled(c, width) for c in s] for s in VGG16_STAGES]
        self.trunk = VGGTrunk(stages=stages, batch_norm=bool(batch_norm))
        self.sides = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in self.trunk.out_channels)
        self.fuse = nn.Conv2d(len(self.sides), 1, 1)
        # Start the fusion as the mean of the sides, as the paper does.
        nn.init.constant_(self.fuse.weight, 1.0 / len(self.sides))
        nn.init.zeros_(self.fuse.bias)

    def forward_with_sides(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return the fused logits and the five side logits, each (B, 1, H, W)."""
        self.check_input(x)
        size = x.shape[-2:]
        sides = [
            F.interpolate(conv(f), size=size, mode="bilinear", align_corners=False)
            if f.shape[-2:] != size
            else conv(f)
            for conv, f in zip(self.sides, self.trunk(x))
        ]
        return self.fuse(torch.cat(sides, dim=1)), sides

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fused boundary logits (B, 1, H, W)."""
        return self.forward_with_sides(x)[0]
