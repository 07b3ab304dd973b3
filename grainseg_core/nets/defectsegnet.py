"""DefectSegNet (Roberts et al. 2019): a small dense encoder-decoder for micrographs.

U-Net layout with DenseNet blocks: inside a block every conv sees the concatenation
of the block input and all earlier conv outputs; encoder blocks are joined to the
decoder blocks of the same resolution by skip concatenations. Upsampling by 2x2
transposed convs. Seed 000 reports 0.35M parameters; the default here has 0.35M.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from grainseg_core.errors import ConfigError
from grainseg_core.nets._base import BoundaryNet, check_positive_int, check_width, conv_bn_relu, scaled

__all__ = ["DefectSegNet"]


class _DenseBlock(nn.Module):
    """``n_layers`` conv-BN-ReLU layers, each fed the concatenation of all before it."""

    def __init__(self, in_ch: int, growth: int, n_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            conv_bn_relu(in_ch + i * growth, growth) for i in range(n_layers)
        )
        self.out_channels = in_ch + n_layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for layer in self.layers:
            feats.append(layer(torch.cat(feats, dim=1) if len(feats) > 1 else x))
        return torch.cat(feats, dim=1)


class DefectSegNet(BoundaryNet):
    """DefectSegNet boundary network: (B, 1, H, W) image -> (B, 1, H, W) logits.

    Parameters
    ----------
    growth : sequence of int
        Growth rate of the dense blocks, shallowest first; its length minus one is
        the number of 2x downsamplings (the last entry is the bottleneck block).
    layers_per_block : int
        Convs per dense block.
    width : float
        Multiplier on the growth rates.

    Notes
    -----
    ``input_divisor`` is ``2 ** (len(growth) - 1)`` (8 by default).

    Examples
    --------
    >>> net = DefectSegNet()
    >>> net(torch.zeros(1, 1, 64, 64)).shape
    torch.Size([1, 1, 64, 64])
    """

    def __init__(
        self,
        *,
        growth: Sequence[int] = (8, 12, 18, 24),
        layers_per_block: int = 3,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        width = check_width(width)
        n_layers = check_positive_int(layers_per_block, "layers_per_block", high=8)
        if isinstance(growth, (str, bytes)) or not isinstance(growth, Sequence) or len(growth) < 2:
            raise ConfigError(
                f"growth must be a list of at least 2 growth rates (one per level); got {growth!r}."
            )
        rates = [scaled(check_positive_int(g, "growth entries"), width) for g in growth]
        self.input_divisor = 2 ** (len(rates) - 1)
        self.down_blocks = nn.ModuleList()
        ch = 1
        skip_channels = []
        for g in rates[:-1]:
            block = _DenseBlock(ch, g, n_layers)
            self.down_blocks.append(block)
            ch = block.out_channels
            skip_channels.append(ch)
        self.pool = nn.MaxPool2d(2, 2)
        self.bottleneck = _DenseBlock(ch, rates[-1], n_layers)
        ch = self.bottleneck.out_channels
        self.ups = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for g, skip in zip(reversed(rates[:-1]), reversed(skip_channels)):
            # The transposed conv halves the features it carries up, like U-Net.
            up_ch = max(1, skip // 2)
            self.ups.append(nn.ConvTranspose2d(ch, up_ch, 2, stride=2))
            block = _DenseBlock(up_ch + skip, g, n_layers)
            self.up_blocks.append(block)
            ch = block.out_channels
        self.head = nn.Conv2d(ch, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Boundary logits (B, 1, H, W)."""
        self.check_input(x)
        skips = []
        out = x
        for block in self.down_blocks:
            out = block(out)
            skips.append(out)
            out = self.pool(out)
        out = self.bottleneck(out)
        for up, block, skip in zip(self.ups, self.up_blocks, reversed(skips)):
            out = block(torch.cat([up(out), skip], dim=1))
        return self.head(out)
