"""The architecture registry: a plain dict from names to builders.

Every registered network maps a one-channel image batch (B, 1, H, W) to
one-channel boundary logits (B, 1, H, W); H and W must be multiples of the
built model's ``input_divisor``.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from grainseg_core.errors import ConfigError, InputError, unknown_name_error
from grainseg_core.nets._base import BoundaryNet
from grainseg_core.nets._smp import SmpBoundaryNet
from grainseg_core.nets.deepcrack import DeepCrack
from grainseg_core.nets.defectsegnet import DefectSegNet
from grainseg_core.nets.hed import HED
from grainseg_core.nets.pixelnet import PixelNet
from grainseg_core.nets.rcf import RCF
from grainseg_core.nets.slim_unet import SlimUNet

__all__ = [
    "ARCHITECTURES",
    "ArchitectureSpec",
    "build_model",
    "list_architectures",
    "architecture_info",
    "count_parameters",
]

# Init kwargs that point at local files: used at build time, never written to a card
# (the weights file carries the result; the path would not exist on another machine).
_BUILD_ONLY_KWARGS = ("encoder_weights_path",)


@dataclass(frozen=True)
class ArchitectureSpec:
    """One registry entry: how to build the network and where it comes from."""

    builder: Callable[..., BoundaryNet]
    description: str
    source: str
    reference_parameters: float | None = None


def _smp_builder(arch: str) -> Callable[..., BoundaryNet]:
    def build(
        *,
        encoder_name: str = "resnet34",
        encoder_depth: int = 5,
        decoder_channels: list[int] | int | None = None,
        encoder_weights_path: str | None = None,
    ) -> BoundaryNet:
        return SmpBoundaryNet(
            arch,
            encoder_name=encoder_name,
            encoder_depth=encoder_depth,
            decoder_channels=decoder_channels,
            encoder_weights_path=encoder_weights_path,
        )

    build.__name__ = f"build_{arch}"
    return build


#: Registry name -> :class:`ArchitectureSpec`.
ARCHITECTURES: dict[str, ArchitectureSpec] = {
    "unet": ArchitectureSpec(
        _smp_builder("unet"), "smp U-Net, any smp encoder", "seed 000 (U-Net 17.3M), seed 001"
    ),
    "unetplusplus": ArchitectureSpec(
        _smp_builder("unetplusplus"), "smp UNet++, any smp encoder", "seed 004"
    ),
    "fpn": ArchitectureSpec(_smp_builder("fpn"), "smp FPN, any smp encoder", "smp"),
    "deeplabv3plus": ArchitectureSpec(
        _smp_builder("deeplabv3plus"), "smp DeepLabV3+, any smp encoder", "smp"
    ),
    "hed": ArchitectureSpec(HED, "HED: VGG-16 side outputs fused", "seed 000", 14.72e6),
    "rcf": ArchitectureSpec(RCF, "RCF: every VGG-16 conv tapped, side outputs fused", "seed 000", 14.803e6),
    "deepcrack": ArchitectureSpec(
        DeepCrack, "DeepCrack: SegNet-like encoder-decoder, fused side outputs", "seed 000", 30.903e6
    ),
    "defectsegnet": ArchitectureSpec(
        DefectSegNet, "DefectSegNet: dense encoder-decoder with skips", "seed 000", 0.35e6
    ),
    "pixelnet": ArchitectureSpec(
        PixelNet, "PixelNet: VGG hypercolumns + per-pixel MLP, sparse training", "seed 003"
    ),
    "slim_unet": ArchitectureSpec(SlimUNet, "slim U-Net tuned for CPU speed", "grainseg"),
}


def list_architectures() -> list[str]:
    """Names of the registered architectures, sorted.

    Examples
    --------
    >>> "unet" in list_architectures()
    True
    """
    return sorted(ARCHITECTURES)


def _spec(name: Any) -> ArchitectureSpec:
    if not isinstance(name, str) or name not in ARCHITECTURES:
        raise unknown_name_error("architecture", str(name), ARCHITECTURES)
    return ARCHITECTURES[name]


def _resolve_kwargs(name: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Bind ``kwargs`` to the builder's signature and fill in its defaults."""
    sig = inspect.signature(_spec(name).builder)
    valid = [p for p in sig.parameters if sig.parameters[p].kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = [k for k in kwargs if k not in valid]
    if unknown:
        raise ConfigError(
            f"architecture '{name}' has no option {', '.join(repr(k) for k in unknown)}; "
            f"valid options: {', '.join(valid)}."
        )
    bound = sig.bind_partial(**kwargs)
    bound.apply_defaults()
    # Tuples become lists so the kwargs survive a JSON round trip unchanged.
    return {k: list(v) if isinstance(v, tuple) else v for k, v in bound.arguments.items()}


def build_model(name: str, **kwargs: Any) -> BoundaryNet:
    """Build a registered network: (B, 1, H, W) image -> (B, 1, H, W) boundary logits.

    Parameters
    ----------
    name : str
        Registry name (:func:`list_architectures`).
    **kwargs
        The architecture's options (see :func:`architecture_info`), e.g.
        ``encoder_name``, ``encoder_depth``, ``decoder_channels`` and
        ``encoder_weights_path`` for the smp networks, ``width`` for HED/RCF/DeepCrack,
        ``base_width``/``depth`` for ``slim_unet``.

    Returns
    -------
    BoundaryNet
        The network, in train mode, with ``arch_name``, ``init_kwargs`` and
        ``input_divisor`` set.

    Raises
    ------
    ConfigError
        Unknown name (the message lists the valid ones and the closest), unknown
        option or out-of-range value.

    Examples
    --------
    >>> net = build_model("slim_unet", base_width=8, depth=3)
    >>> net.arch_name, net.input_divisor
    ('slim_unet', 8)
    >>> net(torch.zeros(1, 1, 32, 32)).shape
    torch.Size([1, 1, 32, 32])
    """
    spec = _spec(name)
    resolved = _resolve_kwargs(name, kwargs)
    model = spec.builder(**resolved)
    model.arch_name = name
    model.init_kwargs = {k: v for k, v in resolved.items() if k not in _BUILD_ONLY_KWARGS}
    return model


@functools.lru_cache(maxsize=None)
def _default_info(name: str) -> dict[str, Any]:
    spec = _spec(name)
    defaults = _resolve_kwargs(name, {})
    # On the meta device no memory is allocated and nothing is initialised for real:
    # counting the 31M parameters of DeepCrack this way takes milliseconds.
    with torch.device("meta"):
        model = spec.builder(**defaults)
    return {
        "name": name,
        "description": spec.description,
        "source": spec.source,
        "defaults": {k: v for k, v in defaults.items() if k not in _BUILD_ONLY_KWARGS},
        "input_divisor": int(model.input_divisor),
        "n_parameters": count_parameters(model),
        "reference_parameters": spec.reference_parameters,
        "supports_sparse_sampling": bool(model.supports_sparse_sampling),
        "has_side_outputs": bool(model.has_side_outputs),
    }


def architecture_info(name: str) -> dict[str, Any]:
    """Describe a registered architecture at its default options.

    Returns
    -------
    dict
        ``name``, ``description``, ``source`` (which seed paper), ``defaults``
        (options and their default values), ``input_divisor``, ``n_parameters``
        (at the defaults), ``reference_parameters`` (the count the seed reports, or
        None), ``supports_sparse_sampling``, ``has_side_outputs``.

    Examples
    --------
    >>> architecture_info("hed")["input_divisor"]
    16
    """
    _spec(name)
    return copy.deepcopy(_default_info(name))


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (all, or only those with ``requires_grad``).

    Examples
    --------
    >>> count_parameters(torch.nn.Conv2d(1, 4, 3))
    40
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    return int(
        sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
    )
