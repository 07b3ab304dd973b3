"""A saved network made ready for inference: :class:`LoadedModel` and :func:`load_model`.

Private module of :mod:`grainseg_core.inference`; import from there.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from grainseg_core.errors import ConfigError, InputError, ModelError, unknown_name_error
from grainseg_core.nets.serialization import load_model_file
from grainseg_core.patching import InputNormalization

__all__ = ["DEVICES", "PRECISIONS", "LoadedModel", "load_model", "resolve_device"]

#: Accepted values of ``device``.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
#: Accepted values of ``precision``.
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16")


def resolve_device(device: Any) -> torch.device:
    """``"auto"`` -> CUDA when present, else CPU; ``"cuda"`` without a GPU raises."""
    if isinstance(device, torch.device):
        device = device.type
    if device not in DEVICES:
        raise unknown_name_error("device", str(device), DEVICES, InputError)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError(
            "device='cuda' was asked for but no CUDA GPU is available; use 'cpu' or 'auto'."
        )
    return torch.device(device)


def _resolve_precision(precision: Any, device: torch.device) -> str:
    if precision not in PRECISIONS:
        raise unknown_name_error("precision", str(precision), PRECISIONS, InputError)
    if precision != "auto":
        return str(precision)
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    # oneDNN runs bfloat16 convolutions about twice as fast as float32 on CPUs with native
    # bf16 instructions (AVX512-BF16, AMX); elsewhere it would emulate them, slower.
    supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return "bfloat16" if supported is not None and bool(supported()) else "float32"


class LoadedModel:
    """A trained network with its card, ready to predict boundary probabilities.

    Use :func:`load_model` to build one. It is read-only after construction and may be
    shared between threads that only call :meth:`predict` (the dashboard caches one per
    file with ``st.cache_resource``).

    Attributes
    ----------
    module : torch.nn.Module
        The network in eval mode, on ``device``.
    card : dict
        The model card (architecture, init kwargs, training record, metrics, ...).
    name : str
        ``card["name"]`` if given, else the file's stem.
    path : Path or None
        The ``.safetensors`` file it came from.
    normalization : InputNormalization
        How images were scaled at training (``card["input_normalization"]``; the
        percentile method when the card says nothing); :meth:`prepare` applies it.
    device : torch.device
    precision : {"float32", "bfloat16"}
        Compute type of the forward pass (outputs are float32 either way).
    divisor : int
        Tile sides must be multiples of it (``module.input_divisor``).

    Examples
    --------
    >>> # model = load_model("models/default.safetensors")
    >>> # prob = predict_tiled(model.prepare(image), model.predict, divisor=model.divisor)
    """

    def __init__(
        self,
        module: nn.Module,
        card: Mapping[str, Any],
        *,
        name: str,
        path: Path | None = None,
        device: str | torch.device = "cpu",
        precision: str = "float32",
    ) -> None:
        if not isinstance(module, nn.Module):
            raise InputError(f"module must be a torch.nn.Module; got {type(module).__name__}.")
        self.device = resolve_device(device)
        self.precision = _resolve_precision(precision, self.device)
        try:
            self.normalization = InputNormalization.from_card(card)
        except ConfigError as exc:
            where = f"model card of {path.name}" if path is not None else "model card"
            raise ModelError(f"{where}: {exc}") from exc
        self.card = dict(card)
        self.name = str(name)
        self.path = path
        self.divisor = int(getattr(module, "input_divisor", 1))
        self.module = module.eval().to(self.device)
        # Folding BatchNorm into the convs saves a pass over every activation; the fused
        # copy is for inference only, the module itself stays as loaded.
        fused = getattr(self.module, "fused_for_inference", None)
        runner = fused() if callable(fused) else self.module
        if self.device.type == "cpu":
            runner = runner.to(memory_format=torch.channels_last)
        self._runner = runner.eval()
        self._channels_last = self.device.type == "cpu"

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The network input of a whole image: preprocessing + scaling of the card.

        Parameters
        ----------
        image : np.ndarray, shape (M, N)
            Native dtype, as :func:`grainseg_core.io.read_image` returns it.

        Returns
        -------
        np.ndarray, shape (M, N), float32 in [0, 1]
        """
        return self.normalization.apply(image)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "bfloat16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def predict(self, batch: np.ndarray | torch.Tensor) -> np.ndarray:
        """Boundary probabilities of a batch of normalised tiles.

        Parameters
        ----------
        batch : array, shape (B, 1, h, w), float32 in [0, 1]
            ``h`` and ``w`` multiples of :attr:`divisor` (numpy or torch).

        Returns
        -------
        np.ndarray, shape (B, 1, h, w), float32
            ``sigmoid`` of the network's logits.
        """
        if isinstance(batch, torch.Tensor):
            x = batch.detach().to(torch.float32)
        else:
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        if x.ndim != 4 or x.shape[1] != 1:
            raise InputError(f"batch must have shape (B, 1, h, w); got {tuple(x.shape)}.")
        memory = torch.channels_last if self._channels_last else torch.contiguous_format
        x = x.to(self.device).contiguous(memory_format=memory)
        with torch.inference_mode(), self._autocast():
            logits = self._runner(x)
        return torch.sigmoid(logits.float()).contiguous().cpu().numpy()

    __call__ = predict

    def describe(self) -> dict[str, Any]:
        """A short JSON-ready record: name, file, architecture, weights hash, settings."""
        return {
            "name": self.name,
            "path": str(self.path) if self.path is not None else None,
            "architecture": self.card.get("architecture"),
            "init_kwargs": self.card.get("init_kwargs"),
            "weights_sha256": self.card.get("weights_sha256"),
            "input_normalization": self.normalization.to_dict(),
            "device": str(self.device),
            "precision": self.precision,
        }

    def __repr__(self) -> str:
        return (
            f"LoadedModel(name={self.name!r}, architecture={self.card.get('architecture')!r}, "
            f"device='{self.device}', precision='{self.precision}')"
        )


def load_model(
    path: str | os.PathLike,
    *,
    device: str = "auto",
    precision: str = "auto",
) -> LoadedModel:
    """Load a saved network (safetensors + JSON card only) for inference.

    Parameters
    ----------
    path : str or path
        ``<name>.safetensors``, ``<name>.json`` or ``<name>``.
    device : {"auto", "cpu", "cuda"}
        ``"auto"`` uses the GPU when there is one.
    precision : {"auto", "float32", "bfloat16"}
        ``"auto"``: bfloat16 where the device computes it natively (CPUs with AVX512-BF16
        or AMX, recent GPUs), about twice as fast on CPU; probabilities then differ from
        float32 by ~1e-3. ``"float32"`` for bit-reproducible maps.

    Returns
    -------
    LoadedModel

    Raises
    ------
    ModelError
        Missing file, a pickled file (never unpickled), truncated or corrupt weights,
        weights of another architecture than the card's, an invalid card or an invalid
        ``input_normalization`` in it.
    InputError
        Unknown device or precision, or CUDA asked for without a GPU.

    Examples
    --------
    >>> import tempfile
    >>> from grainseg_core.nets import build_model, save_model
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = save_model(build_model("slim_unet", base_width=4, depth=2), f"{d}/tiny", card={})
    ...     model = load_model(f"{d}/tiny.safetensors", device="cpu", precision="float32")
    >>> model.name, model.divisor, model.predict(np.zeros((1, 1, 8, 8), np.float32)).shape
    ('tiny', 4, (1, 1, 8, 8))
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"path must be a file path; got {type(path).__name__}.")
    dev = resolve_device(device)
    module, card = load_model_file(path)
    given = Path(path)
    # As nets.serialization names the pair: <name>.safetensors beside <name>.json.
    if given.suffix == ".safetensors":
        weights = given
    elif given.suffix == ".json":
        weights = given.with_suffix(".safetensors")
    else:
        weights = given.with_name(given.name + ".safetensors")
    name = card.get("name") if isinstance(card.get("name"), str) else weights.stem
    return LoadedModel(module, card, name=name, path=weights, device=dev, precision=precision)
