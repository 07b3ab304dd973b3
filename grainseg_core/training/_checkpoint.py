"""Training checkpoints in safetensors + JSON (never pickle).

A checkpoint ``<dir>/<name>`` is four files:

``<name>.safetensors`` + ``<name>.json``
    the network and its model card (:func:`grainseg_core.nets.save_model`), loadable
    on their own with :func:`grainseg_core.nets.load_model_file`;
``<name>.state.safetensors``
    every tensor of the optimiser state (``optim.<param>.<key>``) and the RNG states
    (``rng.torch``, ``rng.cuda.<i>``, ``rng.numpy``);
``<name>.state.json``
    the index: optimiser ``param_groups`` and non-tensor state values, which tensor
    holds what, Python's ``random`` state, and the trainer's own state (epoch, step,
    position in the epoch, schedule, best metric, ...).

All four carry the same random ``token``; :func:`load_checkpoint` refuses a set whose
tokens differ (a crash between the file replacements).
"""

from __future__ import annotations

import json
import os
import random
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from grainseg_core.errors import ModelError, TrainingError

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "checkpoint_exists",
    "flatten_optimizer_state",
    "unflatten_optimizer_state",
    "capture_rng",
    "restore_rng",
]

_STATE_FORMAT = "grainseg-train-state"
_STATE_VERSION = 1


def _files(ckpt_dir: Path, name: str) -> dict[str, Path]:
    return {
        "weights": ckpt_dir / f"{name}.safetensors",
        "card": ckpt_dir / f"{name}.json",
        "tensors": ckpt_dir / f"{name}.state.safetensors",
        "index": ckpt_dir / f"{name}.state.json",
    }


def checkpoint_exists(ckpt_dir: str | os.PathLike, name: str = "last") -> bool:
    """True when all four files of checkpoint ``name`` exist."""
    return all(p.is_file() for p in _files(Path(ckpt_dir), name).values())


def flatten_optimizer_state(
    state_dict: Mapping[str, Any], prefix: str = "optim."
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into named tensors and a JSON index.

    Returns
    -------
    tensors : dict of str to Tensor
        ``"<prefix><param id>.<key>"`` -> tensor (on the CPU, contiguous).
    index : dict
        ``{"param_groups": [...], "state": {"<param id>": {key: {"tensor": name} |
        {"value": v}}}}`` (JSON-serialisable).

    Examples
    --------
    >>> p = torch.nn.Parameter(torch.ones(2)); opt = torch.optim.Adam([p])
    >>> p.grad = torch.ones(2); opt.step()
    >>> tensors, index = flatten_optimizer_state(opt.state_dict())
    >>> sorted(tensors)
    ['optim.0.exp_avg', 'optim.0.exp_avg_sq', 'optim.0.step']
    """
    tensors: dict[str, torch.Tensor] = {}
    state_index: dict[str, dict[str, Any]] = {}
    for pid, entries in state_dict.get("state", {}).items():
        row: dict[str, Any] = {}
        for key, value in entries.items():
            if torch.is_tensor(value):
                name = f"{prefix}{pid}.{key}"
                # A copy: the saved state must not change when the optimiser steps on.
                tensors[name] = value.detach().to("cpu", copy=True).contiguous()
                row[key] = {"tensor": name}
            else:
                row[key] = {"value": value}
        state_index[str(pid)] = row
    groups = json.loads(json.dumps(state_dict.get("param_groups", []), default=_jsonable))
    return tensors, {"param_groups": groups, "state": state_index}


def _jsonable(value: Any) -> Any:
    if torch.is_tensor(value) and value.numel() == 1:
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"optimizer setting {value!r} is not JSON-serialisable")


def unflatten_optimizer_state(
    tensors: Mapping[str, torch.Tensor], index: Mapping[str, Any]
) -> dict[str, Any]:
    """Inverse of :func:`flatten_optimizer_state`: a dict for ``optimizer.load_state_dict``."""
    state: dict[int, dict[str, Any]] = {}
    for pid, row in index.get("state", {}).items():
        entry: dict[str, Any] = {}
        for key, ref in row.items():
            if "tensor" in ref:
                if ref["tensor"] not in tensors:
                    raise TrainingError(f"checkpoint state lacks tensor '{ref['tensor']}'.")
                entry[key] = tensors[ref["tensor"]]
            else:
                entry[key] = ref["value"]
        state[int(pid)] = entry
    groups = []
    for g in index.get("param_groups", []):
        g = dict(g)
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """RNG states of torch (CPU and CUDA), numpy and ``random``: tensors + JSON."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.uint32).view(np.int32).copy())
    version, internal, py_gauss = random.getstate()
    meta = {
        "numpy": {
            "kind": kind,
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": version, "state": list(internal), "gauss": py_gauss},
    }
    return tensors, meta


def restore_rng(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
    """Restore what :func:`capture_rng` saved (CUDA states only when CUDA is in use)."""
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"].to(torch.uint8))
    cuda = [tensors[k] for k in sorted(t for t in tensors if t.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    if "rng.numpy" in tensors and "numpy" in meta:
        m = meta["numpy"]
        keys = tensors["rng.numpy"].numpy().view(np.uint32)
        np.random.set_state((m["kind"], keys, m["pos"], m["has_gauss"], m["gauss"]))
    if "python" in meta:
        p = meta["python"]
        random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


def _write_atomic(path: Path, write: Any) -> Path:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(3)}.tmp")
    try:
        write(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def save_checkpoint(
    ckpt_dir: str | os.PathLike,
    name: str,
    model: nn.Module,
    *,
    card: Mapping[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    trainer_state: Mapping[str, Any] | None = None,
    extra_tensors: Mapping[str, torch.Tensor] | None = None,
) -> Path:
    """Write checkpoint ``name``: model + card, and (with ``optimizer``) the training state.

    Parameters
    ----------
    ckpt_dir : str or path
        The ``checkpoints`` folder (created if needed).
    name : str
        ``"last"`` or ``"best"``.
    model : BoundaryNet
        Built with :func:`grainseg_core.nets.build_model`.
    card : mapping
        Model-card content (see :func:`grainseg_core.nets.save_model`).
    optimizer : torch.optim.Optimizer, optional
        Its state goes to ``<name>.state.*`` together with the RNG states.
    trainer_state : mapping, optional
        JSON-serialisable trainer state (epoch, step, schedule, ...).
    extra_tensors : mapping, optional
        More tensors for ``<name>.state.safetensors``.

    Returns
    -------
    Path
        The weights file.
    """
    from safetensors.torch import save_file

    from grainseg_core.nets import save_model

    folder = Path(ckpt_dir)
    folder.mkdir(parents=True, exist_ok=True)
    files = _files(folder, name)
    token = secrets.token_hex(8)
    if optimizer is None:
        save_model(model, files["weights"], card=dict(card))
        return files["weights"]
    card_full = {**dict(card), "checkpoint_token": token}
    tensors, opt_index = flatten_optimizer_state(optimizer.state_dict())
    rng_tensors, rng_meta = capture_rng()
    tensors.update(rng_tensors)
    for key, value in (extra_tensors or {}).items():
        tensors[f"extra.{key}"] = value.detach().to("cpu").contiguous()
    index = {
        "format": _STATE_FORMAT,
        "format_version": _STATE_VERSION,
        "token": token,
        "optimizer": opt_index,
        "rng": rng_meta,
        "trainer": dict(trainer_state or {}),
    }
    text = json.dumps(index, indent=1, allow_nan=True)
    # Write the state beside the final names first, then swap all files in quickly;
    # the shared token tells a consistent set from a half-replaced one.
    tmp_tensors = _write_atomic(
        files["tensors"], lambda p: save_file(tensors, str(p), metadata={"token": token})
    )
    tmp_index = _write_atomic(files["index"], lambda p: p.write_text(text, encoding="utf-8"))
    try:
        save_model(model, files["weights"], card=card_full)
    except BaseException:
        tmp_tensors.unlink(missing_ok=True)
        tmp_index.unlink(missing_ok=True)
        raise
    os.replace(tmp_tensors, files["tensors"])
    os.replace(tmp_index, files["index"])
    return files["weights"]


def load_checkpoint(ckpt_dir: str | os.PathLike, name: str = "last") -> dict[str, Any]:
    """Read checkpoint ``name`` written with an optimiser.

    Returns
    -------
    dict
        ``model`` (eval mode, CPU), ``card``, ``optimizer`` (for
        ``optimizer.load_state_dict``), ``rng_tensors``, ``rng_meta``, ``trainer``
        (the trainer state) and ``extra`` (extra tensors).

    Raises
    ------
    TrainingError
        Files missing, unreadable, or from different saves.
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    from grainseg_core.nets import load_model_file

    folder = Path(ckpt_dir)
    files = _files(folder, name)
    missing = [p.name for p in files.values() if not p.is_file()]
    if missing:
        raise TrainingError(
            f"checkpoint '{name}' in '{folder}' is incomplete (missing {', '.join(missing)}); "
            "the run cannot be resumed from it."
        )
    try:
        model, card = load_model_file(files["weights"])
    except ModelError as exc:
        raise TrainingError(f"checkpoint '{name}' in '{folder}': {exc}") from exc
    try:
        tensors = load_file(str(files["tensors"]))
        with safe_open(str(files["tensors"]), framework="pt") as fh:
            meta = fh.metadata() or {}
        index = json.loads(files["index"].read_text(encoding="utf-8"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise TrainingError(f"checkpoint state in '{folder}' could not be read: {exc}") from exc
    if not isinstance(index, dict) or index.get("format") != _STATE_FORMAT:
        raise TrainingError(f"'{files['index']}' is not a grainseg training state.")
    tokens = {card.get("checkpoint_token"), meta.get("token"), index.get("token")}
    if len(tokens) != 1:
        raise TrainingError(
            f"checkpoint '{name}' in '{folder}' mixes files from different saves (the process "
            "was killed while saving); resume is not possible from it."
        )
    return {
        "model": model,
        "card": card,
        "optimizer": unflatten_optimizer_state(
            {k: v for k, v in tensors.items() if k.startswith("optim.")}, index["optimizer"]
        ),
        "rng_tensors": {k: v for k, v in tensors.items() if k.startswith("rng.")},
        "rng_meta": index.get("rng", {}),
        "trainer": index.get("trainer", {}),
        "extra": {k[len("extra.") :]: v for k, v in tensors.items() if k.startswith("extra.")},
    }
