"""DeepCrack (Zou et al. 2019): SegNet-like encoder-decoder with fused side outputs.

The encoder is VGG-16 (five stages, max-pool with indices after each); the decoder
mirrors it with max-unpooling. At every scale the encoder and decoder features are
concatenated, reduced to one side logit (3x3 conv to 64, ReLU, 3x3 conv to 1),
upsampled to the input size, and the five sides are fused by a 3x3 conv.
Seed 000 reports 30.90M parameters; the default here has 30.91M.
"""

from __future__ import annotations

import torch
from torch import nn

from grainseg_core.nets._base import SideOutputNet, check_width, conv_stack, scaled

__all__ = ["DeepCrack"]

# (in, out) of the decoder convs per scale, deepest first, as in the reference code.
_ENCODER = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
_DECODER = ((512, 512, 512), (512, 512, 256), (256, 256, 128), (128, 64), (64, 64))


def _stages(
    in_ch: int, spec: tuple[tuple[int, ...], ...], width: float, batch_norm: bool
) -> tuple[nn.ModuleList, list[int]]:
    """One conv stack per scale of ``spec`` (channels scaled by ``width``) and their outputs."""
    stages, out_channels = nn.ModuleList(), []
    ch = in_ch
    for widths in spec:
        stage, ch = conv_stack(ch, [scaled(w, width) for w in widths], batch_norm=batch_norm)
        stages.append(stage)
        out_channels.append(ch)
    return stages, out_channels


class DeepCrack(SideOutputNet):
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

    def __init__(
        self, *, width: float = 1.0, fuse_channels: int = 64, batch_norm: bool = True
    ) -> None:
        super().__init__()
        width = check_width(width)
        bn = bool(batch_norm)
        self.encoder, enc_out = _stages(1, _ENCODER, width, bn)
        self.decoder, dec_out = _stages(enc_out[-1], _DECODER, width, bn)
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

    def side_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per scale: encoder and decoder features side by side, through the side branch."""
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
        return [
            side(torch.cat([skip, up], dim=1))
            for side, skip, up in zip(self.sides, skips, reversed(ups))
        ]
