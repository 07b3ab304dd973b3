"""Shared pieces of the boundary networks: the base class and the conv blocks.

Every network in :mod:`grainseg_core.nets` maps a one-channel image batch
(B, 1, H, W) to one-channel boundary logits (B, 1, H, W). ``H`` and ``W`` must be
multiples of the network's ``input_divisor`` (the tiled inference pads to it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from grainseg_core.errors import ConfigError, InputError

__all__ = [
    "BoundaryNet",
    "SideOutputNet",
    "conv_bn_relu",
    "conv_stack",
    "mean_fusion",
    "upsample_to",
    "VGG16_STAGES",
    "VGGTrunk",
    "check_positive_int",
    "check_width",
    "scaled",
    "state_dict_mismatch",
]

#: Channels of the 13 conv layers of VGG-16, per stage (5 stages).
VGG16_STAGES: tuple[tuple[int, ...], ...] = (
    (64, 64),
    (128, 128),
    (256, 256, 256),
    (512, 512, 512),
    (512, 512, 512),
)


class BoundaryNet(nn.Module):
    """Base class of the grainseg networks: (B, 1, H, W) image -> (B, 1, H, W) logits.

    Attributes
    ----------
    input_divisor : int
        ``H`` and ``W`` must be multiples of it; ``forward`` raises
        :class:`~grainseg_core.errors.InputError` otherwise.
    supports_sparse_sampling : bool
        True when the network has ``forward_sampled`` (PixelNet).
    has_side_outputs : bool
        True when the network has ``forward_with_sides`` (deep supervision).
    arch_name : str or None
        Registry name, set by :func:`grainseg_core.nets.build_model`.
    init_kwargs : dict
        Resolved keyword arguments the network was built with, set by ``build_model``;
        :func:`grainseg_core.nets.save_model` writes them to the model card.
    """

    input_divisor: int = 1
    supports_sparse_sampling: bool = False
    has_side_outputs: bool = False

    def __init__(self) -> None:
        super().__init__()
        self.arch_name: str | None = None
        self.init_kwargs: dict[str, Any] = {}

    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`InputError` unless ``x`` is (B, 1, H, W) with H, W multiples of the divisor."""
        if not isinstance(x, torch.Tensor):
            raise InputError(f"x must be a torch.Tensor (B, 1, H, W); got {type(x).__name__}.")
        if x.ndim != 4 or x.shape[1] != 1:
            raise InputError(
                f"x must have shape (B, 1, H, W) (one gray channel); got {tuple(x.shape)}."
            )
        h, w = int(x.shape[-2]), int(x.shape[-1])
        d = int(self.input_divisor)
        if h % d or w % d:
            raise InputError(
                f"{type(self).__name__} needs H and W to be multiples of {d}; got {h}x{w}. "
                f"Pad the input to {-(-h // d) * d}x{-(-w // d) * d} (the tiled inference does this)."
            )


class SideOutputNet(BoundaryNet):
    """Base of the deeply supervised networks (HED, RCF, DeepCrack).

    A subclass computes one-channel side logits at several scales
    (:meth:`side_logits`) and has a ``fuse`` module mapping the stacked sides
    (B, n_sides, H, W) to the fused logits (B, 1, H, W). The sides are upsampled
    (bilinear) to the input size before fusing; the trainer may apply the loss to each
    (deep supervision).
    """

    has_side_outputs = True
    fuse: nn.Module

    def side_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One-channel side logits (B, 1, h_s, w_s) at their own scales, shallowest first."""
        raise NotImplementedError

    def forward_with_sides(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return the fused logits and the side logits (shallowest first), each (B, 1, H, W)."""
        self.check_input(x)
        size = x.shape[-2:]
        sides = [upsample_to(s, size) for s in self.side_logits(x)]
        return self.fuse(torch.cat(sides, dim=1)), sides

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fused boundary logits (B, 1, H, W)."""
        return self.forward_with_sides(x)[0]


def upsample_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of (B, C, h, w) to ``size`` = (H, W); ``x`` itself when already that size."""
    if x.shape[-2:] == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def mean_fusion(n_sides: int) -> nn.Conv2d:
    """A 1x1 conv (n_sides -> 1) that starts as the mean of the sides, as HED does."""
    fuse = nn.Conv2d(n_sides, 1, 1)
    nn.init.constant_(fuse.weight, 1.0 / n_sides)
    nn.init.zeros_(fuse.bias)
    return fuse


def conv_bn_relu(
    in_ch: int, out_ch: int, *, kernel_size: int = 3, batch_norm: bool = True, dilation: int = 1
) -> nn.Sequential:
    """A same-size conv (+ BatchNorm) + ReLU block; the conv has no bias under BatchNorm."""
    pad = dilation * (kernel_size // 2)
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel_size, padding=pad, dilation=dilation, bias=not batch_norm)
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def conv_stack(
    in_ch: int, widths: Sequence[int], *, batch_norm: bool = True
) -> tuple[nn.Sequential, int]:
    """Consecutive :func:`conv_bn_relu` blocks with the given output widths.

    Returns the blocks as one ``nn.Sequential`` and the channels they end with.
    """
    layers = []
    ch = in_ch
    for w in widths:
        layers.append(conv_bn_relu(ch, w, batch_norm=batch_norm))
        ch = w
    return nn.Sequential(*layers), ch


class VGGTrunk(nn.Module):
    """VGG-16 conv stages (13 convs) with a 2x2 max-pool *before* stages 2..5.

    ``forward`` returns the last feature map of every stage: stage ``s`` (0-based)
    has stride ``2**s``. Each stage is a ``ModuleList`` of conv blocks so RCF can tap
    every conv.
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        stages: Sequence[Sequence[int]] = VGG16_STAGES,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.stages = nn.ModuleList()
        ch = in_channels
        for widths in stages:
            blocks = nn.ModuleList()
            for w in widths:
                blocks.append(conv_bn_relu(ch, w, batch_norm=batch_norm))
                ch = w
            self.stages.append(blocks)
        self.out_channels = [int(s[-1]) for s in stages]
        self.pool = nn.MaxPool2d(2, 2)

    def forward_all(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """Return every conv output, grouped per stage."""
        outs: list[list[torch.Tensor]] = []
        for i, blocks in enumerate(self.stages):
            if i > 0:
                x = self.pool(x)
            stage_outs = []
            for block in blocks:
                x = block(x)
                stage_outs.append(x)
            outs.append(stage_outs)
        return outs

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [s[-1] for s in self.forward_all(x)]


def scaled(channels: int, width: float) -> int:
    """Channels scaled by the width multiplier, at least 1."""
    return max(1, int(round(channels * width)))


def check_width(width: Any, name: str = "width") -> float:
    """Return the width multiplier as a float in (0, 4] or raise :class:`ConfigError`."""
    try:
        value = float(width)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number (channel multiplier); got {width!r}.") from exc
    if not 0 < value <= 4:
        raise ConfigError(f"{name} must lie in (0, 4]; got {value}.")
    return value


def check_positive_int(value: Any, name: str, *, low: int = 1, high: int | None = None) -> int:
    """Return ``value`` as an int in [low, high] or raise :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
        isinstance(value, float) and value.is_integer()
    ):
        raise ConfigError(f"{name} must be an integer; got {value!r}.")
    value = int(value)
    if value < low or (high is not None and value > high):
        upper = f" and <= {high}" if high is not None else ""
        raise ConfigError(f"{name} must be >= {low}{upper}; got {value}.")
    return value


def state_dict_mismatch(
    expected: Mapping[str, torch.Tensor],
    loaded: Mapping[str, torch.Tensor],
    *,
    expected_name: str,
    ignore_unexpected: tuple[str, ...] = (),
) -> str:
    """Why ``loaded`` tensors cannot replace ``expected`` ones; ``""`` when they fit.

    Counts the missing keys, the unexpected keys (except those starting with one of
    ``ignore_unexpected``) and the shape mismatches, each with up to three examples;
    ``expected_name`` names the receiving side in the shape messages ("encoder", ...).
    """
    missing = [k for k in expected if k not in loaded]
    unexpected = [
        k for k in loaded if k not in expected and not k.startswith(ignore_unexpected)
    ]
    mismatched = [
        f"{k} (file {tuple(loaded[k].shape)}, {expected_name} {tuple(expected[k].shape)})"
        for k in expected
        if k in loaded and tuple(loaded[k].shape) != tuple(expected[k].shape)
    ]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
    if mismatched:
        parts.append(f"{len(mismatched)} shape mismatches (e.g. {'; '.join(mismatched[:3])})")
    return "; ".join(parts)
