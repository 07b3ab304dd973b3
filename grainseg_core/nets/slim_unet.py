"""A slim U-Net built for CPU speed: the candidate for the shipped default model.

Plain U-Net layout (double conv + BatchNorm + ReLU per level, max-pool down, skip
concatenations), with the knobs that set its speed: base width, depth, upsampling
mode and optional depthwise-separable convs. With ``upsample="bilinear"`` the
deeper features are first reduced by a 1x1 conv at low resolution, then upsampled,
so the full-resolution convs see only ``2 * base_width`` channels.
``base_width=64, depth=4, upsample="transpose", max_width=1024`` is the classic
U-Net of Ronneberger et al. with BatchNorm (31.0M parameters).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from grainseg_core.errors import ConfigError
from grainseg_core.nets._base import BoundaryNet, check_positive_int

__all__ = ["SlimUNet"]

_UPSAMPLE_MODES = ("bilinear", "transpose")


def _conv(in_ch: int, out_ch: int, separable: bool) -> nn.Sequential:
    """3x3 conv + BN + ReLU; depthwise 3x3 then pointwise 1x1 when ``separable``."""
    if separable and in_ch > 1:
        return nn.Sequential(
            nn.Conv2d(in_ch, in_ch, 3, padding=1, groups=in_ch, bias=False),
            nn.Conv2d(in_ch, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


def _double(in_ch: int, out_ch: int, separable: bool) -> nn.Sequential:
    return nn.Sequential(_conv(in_ch, out_ch, separable), _conv(out_ch, out_ch, separable))


class SlimUNet(BoundaryNet):
    """Slim U-Net: (B, 1, H, W) image -> (B, 1, H, W) boundary logits.

    Parameters
    ----------
    base_width : int
        Channels at full resolution; level ``i`` has ``base_width * 2**i``
        (capped at ``max_width``).
    depth : int
        Number of 2x downsamplings (1..6); ``input_divisor = 2 ** depth``.
    upsample : {"bilinear", "transpose"}
        Bilinear upsampling after a 1x1 channel reduction, or a 2x2 transposed conv.
    separable : bool
        Depthwise-separable 3x3 convs (except the first, which sees one channel).
    max_width : int
        Upper bound on the channels of any level.

    Examples
    --------
    >>> net = SlimUNet(base_width=8, depth=3)
    >>> net.input_divisor
    8
    >>> net(torch.zeros(1, 1, 64, 40)).shape
    torch.Size([1, 1, 64, 40])
    """

    def __init__(
        self,
        *,
        base_width: int = 16,
        depth: int = 4,
        upsample: str = "bilinear",
        separable: bool = False,
        max_width: int = 512,
    ) -> None:
        super().__init__()
        base = check_positive_int(base_width, "base_width", high=128)
        depth = check_positive_int(depth, "depth", high=6)
        cap = check_positive_int(max_width, "max_width", low=base)
        if upsample not in _UPSAMPLE_MODES:
            raise ConfigError(
                f"upsample must be one of {', '.join(_UPSAMPLE_MODES)}; got {upsample!r}."
            )
        sep = bool(separable)
        self.input_divisor = 2**depth
        widths = [min(base * 2**i, cap) for i in range(depth + 1)]
        self.downs = nn.ModuleList([_double(1, widths[0], sep)])
        for i in range(1, depth + 1):
            self.downs.append(_double(widths[i - 1], widths[i], sep))
        self.pool = nn.MaxPool2d(2, 2)
        self.ups = nn.ModuleList()
        self.up_convs = nn.ModuleList()
        for i in range(depth - 1, -1, -1):
            if upsample == "transpose":
                self.ups.append(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2))
            else:
                self.ups.append(nn.Conv2d(widths[i + 1], widths[i], 1, bias=False))
            self.up_convs.append(_double(2 * widths[i], widths[i], sep))
        self.upsample_mode = upsample
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Boundary logits (B, 1, H, W)."""
        return self._run(
            x, self.pool, lambda level, up, skip: self.up_convs[level](torch.cat([up, skip], dim=1))
        )

    def _run(
        self,
        x: torch.Tensor,
        pool: Callable[[torch.Tensor], torch.Tensor],
        decode: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """The U: ``pool`` between encoder levels; ``decode(level, upsampled, skip)`` is
        decoder level ``level``'s double conv (the inference copy swaps both)."""
        self.check_input(x)
        skips = []
        out = x
        for i, block in enumerate(self.downs):
            if i > 0:
                out = pool(out)
            out = block(out)
            skips.append(out)
        skips.pop()
        for level, up in enumerate(self.ups):
            skip = skips.pop()
            out = up(out)
            if self.upsample_mode != "transpose":
                out = F.interpolate(out, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            out = decode(level, out, skip)
        return self.head(out)

    def fused_for_inference(self) -> nn.Module:
        """Return an eval-mode copy rearranged for fast inference, same outputs.

        Each BatchNorm is folded into the conv before it; the first conv of each
        decoder level is split in two, one half for the upsampled features and one
        for the skip, whose outputs are added (``conv([a, b]) = conv_a(a) + conv_b(b)``:
        no image-sized concatenation); 2x2 max-pooling of channels-last tensors is
        two element-wise maxima of strided views (2-3x faster than ``max_pool2d`` on
        the CPU). Same outputs as ``self.eval()`` to float rounding: use it for
        inference only (the copy cannot be trained or saved).

        Examples
        --------
        >>> net = SlimUNet(base_width=8, depth=2).eval()
        >>> x = torch.rand(1, 1, 16, 16)
        >>> bool(torch.allclose(net(x), net.fused_for_inference()(x), atol=1e-5))
        True
        """
        fused = copy.deepcopy(self).eval()
        for seq in fused.modules():
            if not isinstance(seq, nn.Sequential):
                continue
            mods = list(seq)
            for j in range(len(mods) - 1):
                conv, bn = mods[j], mods[j + 1]
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    seq[j] = torch.nn.utils.fusion.fuse_conv_bn_eval(conv, bn)
                    seq[j + 1] = nn.Identity()
        return _InferenceSlimUNet(fused)


def _max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)``; for channels-last input with even sides, as two maxima."""
    n, c, h, w = x.shape
    if h % 2 or w % 2 or not x.is_contiguous(memory_format=torch.channels_last):
        return F.max_pool2d(x, 2)
    v = x.permute(0, 2, 3, 1).view(n, h // 2, 2, w // 2, 2, c)
    rows = torch.maximum(v[:, :, 0], v[:, :, 1])
    return torch.maximum(rows[:, :, :, 0], rows[:, :, :, 1]).permute(0, 3, 1, 2)


class _SplitConv(nn.Module):
    """The first conv (+ activation) of a decoder level, without the concatenation."""

    def __init__(self, block: nn.Sequential, n_up: int) -> None:
        super().__init__()
        conv = block[0]
        w = conv.weight.detach()
        self.up = nn.Conv2d(n_up, conv.out_channels, conv.kernel_size, padding=conv.padding)
        self.skip = nn.Conv2d(
            w.shape[1] - n_up, conv.out_channels, conv.kernel_size, padding=conv.padding, bias=False
        )
        self.up.weight.data = w[:, :n_up].clone()
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
        self.up.bias.data = bias.clone()
        self.skip.weight.data = w[:, n_up:].clone()
        self.rest = nn.Sequential(*list(block)[1:])

    def forward(self, up: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.rest(self.up(up).add_(self.skip(skip)))


class _ConcatConv(nn.Module):
    """A first decoder conv that cannot be split (depthwise): over the concatenation."""

    def __init__(self, block: nn.Sequential) -> None:
        super().__init__()
        self.block = block

    def forward(self, up: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.block(torch.cat([up, skip], dim=1))


class _InferenceSlimUNet(nn.Module):
    """Inference form of a (BatchNorm-folded) :class:`SlimUNet`; see ``fused_for_inference``."""

    def __init__(self, net: SlimUNet) -> None:
        super().__init__()
        self.net = net
        self.input_divisor = net.input_divisor
        self.first = nn.ModuleList()
        for up, block in zip(net.ups, net.up_convs):
            first = block[0]
            # Separable decoders start with a depthwise conv over the concatenation.
            splittable = isinstance(first[0], nn.Conv2d) and first[0].groups == 1
            self.first.append(_SplitConv(first, up.out_channels) if splittable else _ConcatConv(first))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net._run(
            x, _max_pool_2x2,
            lambda level, up, skip: self.net.up_convs[level][1](self.first[level](up, skip)),
        )
