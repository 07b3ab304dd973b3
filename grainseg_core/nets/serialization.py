"""Saving and loading trained networks: safetensors weights + a JSON model card.

``<name>.safetensors`` holds the tensors (no code); ``<name>.json`` holds what is
needed to rebuild the network (registry name + init kwargs) and what a user needs
to trust and use it (input normalisation, training record, metrics, grainseg
version, parameter count, sha256 of the weights file). Loading never unpickles:
unpickling a file runs whatever code it carries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from grainseg_core._atomic import write_atomic, write_text_atomic
from grainseg_core.errors import ConfigError, InputError, ModelError, unknown_name_error
from grainseg_core.nets._base import state_dict_mismatch
from grainseg_core.nets.registry import ARCHITECTURES, build_model, count_parameters

__all__ = [
    "CARD_FORMAT_VERSION",
    "save_model",
    "load_model_file",
    "read_model_card",
    "convert_checkpoint",
]

#: Version of the model-card layout written by :func:`save_model`.
CARD_FORMAT_VERSION = 1

# Card keys written by save_model itself; a caller's card may not contradict them.
_RESERVED = (
    "format_version",
    "architecture",
    "init_kwargs",
    "grainseg_version",
    "n_parameters",
    "weights_file",
    "weights_sha256",
    "dtype",
)
_DTYPES = {"float32": torch.float32, "float16": torch.float16}
_PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".tar")


def _paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, card) paths from ``<name>``, ``<name>.safetensors`` or ``<name>.json``."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        stem = p.with_suffix("")
    else:
        stem = p
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _grainseg_version() -> str:
    import grainseg_core

    return str(getattr(grainseg_core, "__version__", "unknown"))


def save_model(
    model: nn.Module,
    path: str | Path,
    *,
    card: Mapping[str, Any],
    dtype: str = "float32",
) -> tuple[Path, Path]:
    """Write ``<name>.safetensors`` and the ``<name>.json`` model card.

    Parameters
    ----------
    model : BoundaryNet
        A network built by :func:`~grainseg_core.nets.build_model` (it carries its
        ``arch_name`` and ``init_kwargs``).
    path : str or Path
        ``<dir>/<name>``; a ``.safetensors`` or ``.json`` suffix is accepted too.
    card : mapping
        Everything else the card should say, JSON-serialisable. Recommended keys:
        ``input_normalization`` (how images were scaled to the network input),
        ``training`` (data, loss, epochs, ...), ``metrics``. The keys
        ``architecture``, ``init_kwargs``, ``grainseg_version``, ``n_parameters``,
        ``weights_file``, ``weights_sha256``, ``dtype`` and ``format_version`` are
        filled in here.
    dtype : {"float32", "float16"}
        Storage type of the floating-point tensors (float16 halves the file; the
        network is rebuilt in float32 on load).

    Returns
    -------
    (Path, Path)
        The weights and card paths.

    Raises
    ------
    InputError
        Model not built with ``build_model``, card not JSON-serialisable or
        contradicting a reserved key, unknown dtype.

    Examples
    --------
    >>> import tempfile
    >>> from grainseg_core.nets import build_model
    >>> net = build_model("slim_unet", base_width=4, depth=2)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     w, c = save_model(net, f"{d}/tiny", card={"input_normalization": "minmax"})
    ...     (w.name, c.name)
    ('tiny.safetensors', 'tiny.json')
    """
    from safetensors.torch import save_file

    if not isinstance(model, nn.Module):
        raise InputError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    arch = getattr(model, "arch_name", None)
    if arch not in ARCHITECTURES:
        raise InputError(
            "model has no registered architecture name (arch_name); build it with "
            "grainseg_core.nets.build_model(name, **kwargs) so its card can rebuild it."
        )
    if dtype not in _DTYPES:
        raise InputError(f"dtype must be one of {', '.join(_DTYPES)}; got {dtype!r}.")
    if not isinstance(card, Mapping):
        raise InputError(f"card must be a dict of JSON-serialisable values; got {type(card).__name__}.")
    init_kwargs = dict(getattr(model, "init_kwargs", {}))
    ours: dict[str, Any] = {
        "format_version": CARD_FORMAT_VERSION,
        "architecture": arch,
        "init_kwargs": init_kwargs,
        "grainseg_version": _grainseg_version(),
        "n_parameters": count_parameters(model),
        "dtype": dtype,
    }
    for key in _RESERVED:
        if key in card and key in ours and card[key] != ours[key]:
            raise InputError(
                f"card[{key!r}] = {card[key]!r} contradicts the model ({ours[key]!r}); "
                "leave it out, save_model fills it in."
            )
    full = {k: v for k, v in card.items() if k not in _RESERVED}
    source = getattr(model, "encoder_weights_source", None)
    if source and "encoder_weights" not in full:
        full["encoder_weights"] = source
    try:
        json.dumps(full)
    except (TypeError, ValueError) as exc:
        raise InputError(f"card must hold only JSON-serialisable values: {exc}") from exc

    weights_path, card_path = _paths(path)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    target = _DTYPES[dtype]
    tensors = {
        k: (v.detach().to("cpu", target) if v.is_floating_point() else v.detach().to("cpu")).contiguous()
        for k, v in model.state_dict().items()
    }
    metadata = {"format": "pt", "architecture": arch}
    write_atomic(weights_path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    ours["weights_file"] = weights_path.name
    ours["weights_sha256"] = _sha256(weights_path)
    write_text_atomic(card_path, json.dumps({**ours, **full}, indent=2) + "\n")
    return weights_path, card_path


def _is_pickle(path: Path) -> bool:
    """True for files written by ``torch.save`` (zip archive) or raw pickles.

    A safetensors file starts with its header length (8 bytes, little-endian) and
    then ``{``; that length's first byte may well be 0x80, the pickle marker, so the
    safetensors layout is ruled out first.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
        size = path.stat().st_size
    except OSError:
        return False
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") <= size:
        return False
    return head.startswith(b"PK\x03\x04") or (head[:1] == b"\x80" and head[1:2] in b"\x02\x03\x04\x05")


def _pickle_error(path: Path) -> ModelError:
    return ModelError(
        f"{path} is a pickled PyTorch file; grainseg only loads safetensors + JSON cards, "
        "because unpickling runs code: convert it once, if you trust its source, with "
        "grainseg_core.nets.convert_checkpoint(path, dest, architecture=..., init_kwargs=...)."
    )


def read_model_card(path: str | Path) -> dict[str, Any]:
    """Read and check the JSON model card of a saved model (no weights loaded).

    Parameters
    ----------
    path : str or Path
        ``<name>``, ``<name>.json`` or ``<name>.safetensors``.

    Raises
    ------
    ModelError
        Card missing, not valid JSON, or without ``architecture``/``init_kwargs``.
    """
    weights_path, card_path = _paths(path)
    if not card_path.is_file():
        raise ModelError(
            f"model card {card_path} is missing; grainseg needs the JSON card beside "
            f"{weights_path.name} to rebuild the network (save models with save_model)."
        )
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ModelError(f"model card {card_path} is not a UTF-8 text file: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ModelError(
            f"model card {card_path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg})."
        ) from exc
    if not isinstance(card, dict):
        raise ModelError(f"model card {card_path} must hold a JSON object; got {type(card).__name__}.")
    if not isinstance(card.get("architecture"), str):
        raise ModelError(f"model card {card_path} has no 'architecture' name.")
    if not isinstance(card.get("init_kwargs", {}), dict):
        raise ModelError(f"model card {card_path}: 'init_kwargs' must be a JSON object.")
    return card


def load_model_file(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a saved network from ``<name>.safetensors`` + ``<name>.json``.

    Parameters
    ----------
    path : str or Path
        ``<name>``, ``<name>.safetensors`` or ``<name>.json``.

    Returns
    -------
    model : BoundaryNet
        The network in eval mode, float32, on the CPU.
    card : dict
        The model card.

    Raises
    ------
    ModelError
        File missing; a pickled PyTorch file (refused: unpickling runs code);
        truncated or corrupt safetensors; missing or invalid card; weights whose
        sha256 differs from the card; unknown architecture; weights that do not fit
        the card's architecture (missing/unexpected keys, shapes; a few named).

    Examples
    --------
    >>> import tempfile
    >>> from grainseg_core.nets import build_model
    >>> net = build_model("slim_unet", base_width=4, depth=2)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = save_model(net, f"{d}/tiny", card={})
    ...     model, card = load_model_file(f"{d}/tiny.safetensors")
    >>> card["architecture"], model.training
    ('slim_unet', False)
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    given = Path(path)
    if given.suffix in _PICKLE_SUFFIXES and given.is_file():
        if _is_pickle(given):
            raise _pickle_error(given)
        raise ModelError(
            f"{given} is not a grainseg model; give the .safetensors file (with its .json card)."
        )
    weights_path, card_path = _paths(given)
    if not weights_path.is_file():
        raise ModelError(
            f"model weights {weights_path} not found (a grainseg model is a .safetensors "
            "file with a .json card of the same name)."
        )
    if _is_pickle(weights_path):
        raise _pickle_error(weights_path)
    card = read_model_card(card_path)
    expected_sha = card.get("weights_sha256")
    if expected_sha is not None and _sha256(weights_path) != expected_sha:
        raise ModelError(
            f"{weights_path.name} does not match the sha256 in {card_path.name}: the weights "
            "file was changed, truncated, or the card belongs to another file."
        )
    try:
        state = load_file(str(weights_path), device="cpu")
        with safe_open(str(weights_path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(
            f"{weights_path} is not a readable safetensors file (truncated or corrupt?): {exc}"
        ) from exc
    arch = card["architecture"]
    if arch not in ARCHITECTURES:
        raise unknown_name_error(
            f"architecture in model card {card_path.name}:", arch, ARCHITECTURES, error=ModelError
        )
    try:
        model = build_model(arch, **card.get("init_kwargs", {}))
    except ConfigError as exc:
        raise ModelError(f"model card {card_path.name} has invalid init_kwargs: {exc}") from exc
    model_state = model.state_dict()
    diff = state_dict_mismatch(model_state, state, expected_name="card's network")
    if diff:
        stored_arch = meta.get("architecture")
        hint = (
            f" The weights were saved from '{stored_arch}', the card says '{arch}'."
            if stored_arch and stored_arch != arch
            else ""
        )
        raise ModelError(
            f"weights {weights_path.name} do not fit the network described by "
            f"{card_path.name} ({arch} with {card.get('init_kwargs', {})}): {diff}.{hint}"
        )
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, card


def _unwrap_checkpoint(raw: Any, src: Path) -> dict[str, torch.Tensor]:
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(raw, Mapping) and key in raw and isinstance(raw[key], Mapping):
            raw = raw[key]
    if not isinstance(raw, Mapping) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise ModelError(f"{src} does not hold a state dict (name -> tensor).")
    return dict(raw)


def convert_checkpoint(
    src: str | Path,
    dest: str | Path,
    *,
    architecture: str,
    init_kwargs: Mapping[str, Any] | None = None,
    card: Mapping[str, Any] | None = None,
    dtype: str = "float32",
) -> tuple[Path, Path]:
    """Convert a ``torch.save``-d state dict into a grainseg safetensors + JSON model.

    Only for files from a source you trust: the file is read with
    ``torch.load(..., weights_only=True)``, PyTorch's restricted unpickler.

    Parameters
    ----------
    src : str or Path
        The ``.pt``/``.pth`` file (a state dict, or a checkpoint dict holding one
        under ``state_dict``/``model``/``model_state_dict``).
    dest : str or Path
        ``<dir>/<name>`` of the new model.
    architecture : str
        Registry name of the network the weights belong to.
    init_kwargs : mapping, optional
        Its options, as for :func:`~grainseg_core.nets.build_model`.
    card : mapping, optional
        Extra card content (see :func:`save_model`).
    dtype : {"float32", "float16"}
        Storage type.

    Returns
    -------
    (Path, Path)
        The weights and card paths.
    """
    src = Path(src)
    if not src.is_file():
        raise ModelError(f"checkpoint {src} not found.")
    try:
        raw = torch.load(str(src), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure becomes one clear error
        raise ModelError(
            f"{src} could not be read with torch.load(weights_only=True): {exc}"
        ) from exc
    state = _unwrap_checkpoint(raw, src)
    model = build_model(architecture, **dict(init_kwargs or {}))
    target = model.state_dict()
    # smp checkpoints saved from the bare smp model lack our wrapper's "net." prefix.
    if not any(k in target for k in state) and all(f"net.{k}" in target for k in state):
        state = {f"net.{k}": v for k, v in state.items()}
    diff = state_dict_mismatch(target, state, expected_name="card's network")
    if diff:
        raise ModelError(f"{src} does not fit {architecture} with {dict(init_kwargs or {})}: {diff}.")
    model.load_state_dict(state, strict=True)
    return save_model(model, dest, card=dict(card or {}), dtype=dtype)
