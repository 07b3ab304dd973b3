"""DeepCrack (Zou et al. 2019): SegNet-like encoder-decoder with fused side outputs.

The encoder is VGG-16 (five stages, max-pool with indices after each); the decoder
mirrors it with max-unpooling. At every scale the encoder and decoder features are
concatenated, reduced to one side logit (3x3 conv to 64, ReLU, 3x3 conv to 1),
upsampled to the input size, and the five sides are fused by a 3x3 conv.
Seed 000 reports 30.90M parameters; the default here has 30.91M.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from grainseg_core.nets._base import BoundaryNet, check_width, conv_bn_relu, scaled

__all__ = ["DeepCrack"]

# (in, out) of the decoder convs per scale, deepest first, as in the reference code.
_ENCODER = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
_DECODER = ((512, 512, 512), (512, 512, 256), (256, 256, 128), (128, 64), (64, 64))


class DeepCrack(BoundaryNet):
    """DeepCrack boundary network: (B, 1, H, W) image -> (B, 1, H, W) fused logits.

    Parameters
    ----------
    width : float
        Channel multiplier (1.0 = 30.9M parameters).
    fuse_channels : int
        Channels of the hidden 3x3 conv of each side branch (64 in the paper),
        scaled by ``width``.
    batch_norm : bool
        BatchNorm after each encoder/decoder conv (for training from scratch).

    Notes
    -----
    ``input_divisor`` is 32 (five pools). The reference code upsamples the
    concatenated features before its side convs (a 1024-channel 3x3 conv at full
    resolution); here the side convs run at their native scale and only the
    one-channel side logit is upsampled: same parameters, a fraction of the cost.

    Examples
    --------
    >>> net = DeepCrack(width=0.125)
    >>> net(torch.zeros(1, 1, 64, 64)).shape
    torch.Size([1, 1, 64, 64])
    """

    input_divisor = 32
    has_side_outputs = True

    def __init__(
        self, *, width: float = 1.0, fuse_channels: int = 64, batch_norm: bool = True
    ) -> None:
        super().__init__()
        width = check_width(width)
        bn = bool(batch_norm)
        self.encoder = nn.ModuleList()
        ch = 1
        enc_out = []
        for widths in _ENCODER:
            layers = []
            for w in widths:
                layers.append(conv_bn_relu(ch, scaled(w, width), batch_norm=bn))
                ch = scaled(w, width)
            self.encoder.append(nn.Sequential(*layers))
            enc_out.append(ch)
        self.decoder = nn.ModuleList()
        dec_out = []
        for widths in _DECODER:
            layers = []
            for w in widths:
                layers.append(conv_bn_relu(ch, scaled(w, width), batch_norm=bn))
                ch = scaled(w, width)
            self.decoder.append(nn.Sequential(*layers))
            dec_out.append(ch)
        hidden = scaled(int(fuse_channels), width)
        # Side s (shallowest first) joins encoder stage s with the decoder output at that scale.
        self.sides = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(e + d, hidden, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(hidden, 1, 3, padding=1),
            )
            for e, d in zip(enc_out, reversed(dec_out))
        )
        self.fuse = nn.Conv2d(len(self.sides), 1, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, 2)

    def forward_with_sides(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return the fused logits and the five side logits (shallowest first), each (B, 1, H, W)."""
        self.check_input(x)
        size = x.shape[-2:]
        skips, indices = [], []
        out = x
        for stage in self.encoder:
            out = stage(out)
            skips.append(out)
            out, idx = self.pool(out)
            indices.append(idx)
        ups = []
        for stage, skip, idx in zip(self.decoder, reversed(skips), reversed(indices)):
            out = stage(self.unpool(out, idx, output_size=skip.shape[-2:]))
            ups.append(out)
        sides = []
        for side, skip, up in zip(self.sides, skips, reversed(ups)):
            s = side(torch.cat([skip, up], dim=1))
            if s.shape[-2:] != size:
                s = F.interpolate(s, size=size, mode="bilinear", align_corners=False)
            sides.append(s)
        return self.fuse(torch.cat(sides, dim=1)), sides

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fused boundary logits (B, 1, H, W)."""
        return self.forward_with_sides(x)[0]
