"""segmentation-models-pytorch networks (U-Net, UNet++, FPN, DeepLabV3+), one channel in and out.

Never downloads: smp is always called with ``encoder_weights=None`` (random
initialisation; for ``tu-`` timm encoders this means ``pretrained=False``), so no
code path reaches ``hf_hub_download``. Pretrained encoder weights (ImageNet,
MicroNet, ...) come only from a local file the user gives as
``encoder_weights_path``, loaded by :func:`load_encoder_weights`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from grainseg_core.errors import ConfigError, ModelError, unknown_name_error
from grainseg_core.nets._base import BoundaryNet, check_positive_int, state_dict_mismatch

__all__ = ["SmpBoundaryNet", "SMP_ARCHITECTURES", "load_encoder_weights"]

#: Registry name -> smp architecture name.
SMP_ARCHITECTURES: dict[str, str] = {
    "unet": "unet",
    "unetplusplus": "unetplusplus",
    "fpn": "fpn",
    "deeplabv3plus": "deeplabv3plus",
}

# Keys of classification heads that a full ImageNet checkpoint carries and an
# encoder does not: dropped silently when loading encoder weights.
_HEAD_PREFIXES = ("fc.", "classifier.", "last_linear.", "head.", "_fc.")


def _encoder_names() -> list[str]:
    import segmentation_models_pytorch as smp

    return smp.encoders.get_encoder_names()


class SmpBoundaryNet(BoundaryNet):
    """An smp segmentation model with one input channel and one boundary-logit channel.

    Parameters
    ----------
    arch : {"unet", "unetplusplus", "fpn", "deeplabv3plus"}
        smp architecture.
    encoder_name : str
        Any smp encoder (``smp.encoders.get_encoder_names()``) or a ``tu-<timm name>``.
    encoder_depth : int
        Encoder stages (3..5); ``input_divisor`` is the encoder's output stride.
    decoder_channels : sequence of int or int, optional
        U-Net/UNet++: one width per decoder stage (``encoder_depth`` of them);
        FPN and DeepLabV3+: a single int. ``None``: smp's default (for U-Net/UNet++
        with ``encoder_depth < 5`` its last ``encoder_depth`` entries).
    encoder_weights_path : str or Path, optional
        Local safetensors or ``torch.save``-d state dict of the encoder (e.g. ImageNet
        or MicroNet weights); see :func:`load_encoder_weights`. Never downloaded.

    Examples
    --------
    >>> net = SmpBoundaryNet("unet", encoder_name="resnet18", encoder_depth=3,
    ...                      decoder_channels=[32, 16, 8])
    >>> net.input_divisor
    8
    >>> net(torch.zeros(1, 1, 64, 64)).shape
    torch.Size([1, 1, 64, 64])
    """

    def __init__(
        self,
        arch: str,
        *,
        encoder_name: str = "resnet34",
        encoder_depth: int = 5,
        decoder_channels: Sequence[int] | int | None = None,
        encoder_weights_path: str | Path | None = None,
    ) -> None:
        super().__init__()
        import segmentation_models_pytorch as smp

        if arch not in SMP_ARCHITECTURES:
            raise ConfigError(f"arch must be one of {', '.join(SMP_ARCHITECTURES)}; got {arch!r}.")
        if not isinstance(encoder_name, str):
            raise ConfigError(f"encoder_name must be a string; got {encoder_name!r}.")
        if not encoder_name.startswith("tu-") and encoder_name not in _encoder_names():
            raise unknown_name_error("smp encoder", encoder_name, _encoder_names())
        depth = check_positive_int(encoder_depth, "encoder_depth", low=3, high=5)
        kwargs: dict[str, Any] = {"encoder_depth": depth}
        if arch == "fpn":
            # smp's FPN head always upsamples by 4, which is right only for depth 5:
            # its decoder output has stride 2 ** (depth - 3).
            kwargs["upsampling"] = 2 ** (depth - 3)
        if decoder_channels is None and arch in ("unet", "unetplusplus"):
            # smp's default (256, 128, 64, 32, 16) fits depth 5 only; keep the same
            # width per output stride for shallower encoders.
            decoder_channels = [256, 128, 64, 32, 16][5 - depth :]
        if decoder_channels is not None:
            kwargs.update(_decoder_kwargs(arch, decoder_channels, depth))
        try:
            # encoder_weights=None: random init, the one smp path with no download.
            self.net = smp.create_model(
                SMP_ARCHITECTURES[arch],
                encoder_name=encoder_name,
                encoder_weights=None,
                in_channels=1,
                classes=1,
                **kwargs,
            )
        except (ValueError, KeyError, RuntimeError, TypeError, AssertionError) as exc:
            raise ConfigError(
                f"segmentation-models-pytorch could not build {arch} with encoder "
                f"{encoder_name!r} and {kwargs}: {exc}"
            ) from exc
        # smp's U-Net would accept any size by resizing its skips; asking for the
        # encoder's stride everywhere keeps every skip pixel-aligned (inference pads).
        self.input_divisor = int(self.net.encoder.output_stride)
        self.encoder_weights_source: dict[str, str] | None = None
        if encoder_weights_path is not None:
            self.encoder_weights_source = load_encoder_weights(self.net.encoder, encoder_weights_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Boundary logits (B, 1, H, W)."""
        self.check_input(x)
        return self.net(x)


def _decoder_kwargs(arch: str, channels: Sequence[int] | int, depth: int) -> dict[str, Any]:
    if arch in ("unet", "unetplusplus"):
        if isinstance(channels, (int, str)) or not isinstance(channels, Sequence):
            raise ConfigError(
                f"decoder_channels for {arch} must be a list of {depth} ints (one per decoder "
                f"stage, e.g. {[2 ** (8 - i) for i in range(depth)]}); got {channels!r}."
            )
        chans = [check_positive_int(c, "decoder_channels entries") for c in channels]
        if len(chans) != depth:
            raise ConfigError(
                f"decoder_channels for {arch} needs encoder_depth={depth} entries; got {len(chans)}."
            )
        return {"decoder_channels": chans}
    value = check_positive_int(channels, "decoder_channels")
    if arch == "fpn":
        # smp's FPN GroupNorm uses 32 groups: segmentation channels stay a multiple
        # of 32 (half the pyramid width, 128 for smp's default 256).
        return {
            "decoder_pyramid_channels": value,
            "decoder_segmentation_channels": max(32, value // 64 * 32),
        }
    return {"decoder_channels": value}


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ModelError(f"encoder_weights_path {path} does not exist or is not a file.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw: Any = load_file(str(path), device="cpu")
        else:
            # weights_only=True: a restricted unpickler that refuses code objects.
            raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes one clear error
        raise ModelError(
            f"encoder_weights_path {path} could not be read as safetensors or a weights-only "
            f"PyTorch state dict: {exc}"
        ) from exc
    # Unwrap the usual checkpoint containers.
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(raw, Mapping) and key in raw and isinstance(raw[key], Mapping):
            raw = raw[key]
    if not isinstance(raw, Mapping) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise ModelError(
            f"encoder_weights_path {path} does not hold a state dict (name -> tensor)."
        )
    state = dict(raw)
    return state


def load_encoder_weights(encoder: nn.Module, path: str | Path) -> dict[str, str]:
    """Load a local encoder state dict into an smp encoder built for one input channel.

    Parameters
    ----------
    encoder : nn.Module
        The smp encoder (``model.net.encoder``).
    path : str or Path
        ``.safetensors`` file, or a state dict saved with ``torch.save`` (read with
        ``torch.load(..., weights_only=True)``). A full ImageNet/MicroNet checkpoint
        works: classifier-head keys are dropped, an ``encoder.`` prefix is removed.

    Returns
    -------
    dict
        ``{"path": ..., "sha256": ...}`` of the file, for the model card.

    Raises
    ------
    ModelError
        Unreadable file, or keys/shapes that do not match the encoder (a few named).

    Notes
    -----
    First convs stored for 3 (RGB) channels are summed over their input channels
    to take one gray channel, as smp does for ``in_channels=1``.
    """
    path = Path(path)
    state = _read_state_dict(path)
    target = encoder.state_dict()
    # A full smp model's state dict (ours or smp's): keep its encoder part.
    for prefix in ("net.encoder.", "encoder."):
        if not any(k in target for k in state) and any(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            break
    adapted: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        ref = target.get(key)
        if (
            ref is not None
            and value.ndim == 4
            and ref.ndim == 4
            and value.shape[1] == 3
            and ref.shape[1] == 1
            and value.shape[0] == ref.shape[0]
        ):
            value = value.sum(dim=1, keepdim=True)
        adapted[key] = value
    diff = state_dict_mismatch(
        target, adapted, expected_name="encoder", ignore_unexpected=_HEAD_PREFIXES
    )
    if diff:
        raise ModelError(
            f"encoder weights in {path} do not fit this encoder: {diff}. "
            "Check that the file was saved for the same encoder_name and encoder_depth."
        )
    filtered = {k: v for k, v in adapted.items() if k in target}
    # strict=True on the filtered dict: every encoder tensor is replaced.
    nn.Module.load_state_dict(encoder, filtered, strict=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"path": str(path), "sha256": digest}
