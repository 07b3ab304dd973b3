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
        self.check_input(x)
        skips = []
        out = x
        for i, block in enumerate(self.downs):
            if i > 0:
                out = self.pool(out)
            out = block(out)
            skips.append(out)
        skips.pop()
        for up, block in zip(self.ups, self.up_convs):
            skip = skips.pop()
            if self.upsample_mode == "transpose":
                out = up(out)
            else:
                out = F.interpolate(up(out), size=skip.shape[-2:], mode="bilinear", align_corners=False)
            out = block(torch.cat([out, skip], dim=1))
        return self.head(out)

    def fused_for_inference(self) -> "SlimUNet":
        """Return an eval-mode copy with each BatchNorm folded into the conv before it.

        Same outputs as ``self.eval()`` (to float rounding), fewer passes over memory:
        use it for CPU inference only (the copy cannot be trained or saved).

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
        return fused
