"""What a training run does: :class:`TrainConfig`, its JSON form and its checks.

A :class:`TrainConfig` is checked in two stages. Building one checks everything that
does not depend on the machine (names, ranges, combinations) and raises
:class:`~grainseg_core.errors.ConfigError` with the valid choices. :func:`check_config`
then checks it against the machine: the dataset folder and its patch size, the fold,
the fine-tuning checkpoint and the device; :func:`~grainseg_core.training.train` calls it
before anything is written.

Seed protocols as configurations::

    # seed 000: U-Net, weighted BCE (GB weight 9), Adam, early stopping; then fine-tune
    TrainConfig(dataset="ds128", architecture="unet",
                loss={"terms": [{"name": "bce", "pos_weight": 9}]}, lr=1e-4)
    TrainConfig(dataset="ds128", architecture="unet", init_from="runs/<id>", lr=1e-5,
                loss={"terms": [{"name": "bce", "pos_weight": 9},
                                {"name": "topo", "weight": 0.04}]})
    # seed 004: UNet++, Dice loss, flips + 90-degree rotations, 3-fold CV by columns
    TrainConfig(dataset="ds256cv", fold=0, architecture="unetplusplus", loss={"terms": ["dice"]})
    # seed 003: PixelNet, focal loss, AdamW, weight decay 5e-4, 2048 sampled pixels x 4 images
    TrainConfig(dataset="uhcs", architecture="pixelnet", optimizer="adamw", weight_decay=5e-4,
                batch_size=4, sparse_pixels=2048, loss={"terms": [{"name": "focal"}]},
                augment=AugmentConfig(rotate_deg=180, scale_range=(0.9, 1.1), intensity=0.05))
"""

from __future__ import annotations

import copy
import json
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from grainseg_core.augment import AugmentConfig
from grainseg_core.errors import (
    ConfigError,
    DatasetError,
    GrainsegError,
    GrainsegWarning,
    ModelError,
    unknown_name_error,
)

__all__ = [
    "TrainConfig",
    "CheckedConfig",
    "check_config",
    "OPTIMIZERS",
    "SCHEDULES",
    "VAL_METRICS",
    "DEVICE_FIELDS",
    "SPARSE_PIXEL_LOSSES",
    "DEFAULT_SPARSE_PIXELS",
]

#: Optimiser names.
OPTIMIZERS = ("adam", "adamw")
#: Learning-rate schedules (all may start with a linear warm-up).
SCHEDULES = ("constant", "cosine", "step", "plateau")
#: Validation metrics a run can monitor (early stopping, best checkpoint, plateau schedule).
VAL_METRICS = (
    "val_loss",
    "val_dice",
    "val_f1",
    "val_precision",
    "val_recall",
    "val_iou",
    "val_ari",
    "val_bf1",
)
_DEVICES = ("auto", "cpu", "cuda")
_MODES = ("auto", "min", "max")
#: Fields that only say *where* and *how fast* a run computes: a resumed run may change them.
DEVICE_FIELDS = (
    "device",
    "allow_cpu_fallback",
    "amp",
    "channels_last",
    "num_workers",
    "num_threads",
    "cache_patches",
    "log_every_steps",
    "save_every_min",
)
#: Loss terms that work on sparsely sampled pixels (B, 1, n); the others need whole maps.
SPARSE_PIXEL_LOSSES = ("bce", "dice", "focal")
#: PixelNet's sample per image (seed 003: 2048 pixels from each of 4 images).
DEFAULT_SPARSE_PIXELS = 2048


def _default_loss() -> dict[str, Any]:
    # Seed 000's class-weighted BCE with boundary weight 9.
    return {"terms": [{"name": "bce", "pos_weight": 9.0}]}


def _number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"TrainConfig.{name} must be a number; got {value!r}.")
    out = float(value)
    if not math.isfinite(out):
        raise ConfigError(f"TrainConfig.{name} must be finite; got {value!r}.")
    if low is not None and (out < low or (low_open and out == low)):
        sign = ">" if low_open else ">="
        raise ConfigError(f"TrainConfig.{name} must be {sign} {low:g}; got {value!r}.")
    if high is not None and out > high:
        raise ConfigError(f"TrainConfig.{name} must be <= {high:g}; got {value!r}.")
    return out


def _integer(value: Any, name: str, *, low: int, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(f"TrainConfig.{name} must be an integer; got {value!r}.")
    if value < low:
        raise ConfigError(f"TrainConfig.{name} must be >= {low}; got {value}.")
    return int(value)


def _choice(value: Any, name: str, valid: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in valid:
        raise unknown_name_error(f"TrainConfig.{name}", str(value), valid)
    return value


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs, as one JSON-serialisable value.

    Parameters
    ----------
    dataset : str
        Folder written by :func:`grainseg_core.patching.export_dataset`.
    fold : int, optional
        Cross-validation fold (required for ``column_cv`` / ``kfold_by_image`` datasets).
    architecture : str
        Registry name (:func:`grainseg_core.nets.list_architectures`).
    arch_kwargs : dict
        Options of the architecture (e.g. ``{"base_width": 16, "depth": 4}``).
    loss : dict
        What :func:`grainseg_core.losses.build_loss` takes, e.g.
        ``{"terms": [{"name": "bce", "pos_weight": 9}, {"name": "topo", "weight": 0.04}]}``.
    optimizer : {"adam", "adamw"}
    lr : float
        Peak learning rate (> 0).
    weight_decay : float
        L2 (Adam) or decoupled (AdamW) weight decay, >= 0.
    schedule : {"constant", "cosine", "step", "plateau"}
        ``cosine`` decays per step to ``lr * min_lr_ratio`` at the end; ``step`` multiplies
        by ``gamma`` every ``step_epochs`` epochs; ``plateau`` multiplies by ``gamma`` when
        the monitored metric has not improved for ``plateau_patience`` epochs.
    warmup_steps : int
        Linear warm-up from ~0 to ``lr`` over this many optimiser steps (0 = none).
    min_lr_ratio, step_epochs, gamma, plateau_patience
        Schedule options (see ``schedule``).
    epochs : int
        Epochs to train (>= 1).
    batch_size : int
    patch_size : int, optional
        Side of the training crops, at most the dataset's patch size and a multiple of the
        network's input divisor; None = the stored patch size.
    augment : AugmentConfig
        Augmentations of the training items.
    monitor : str
        Validation metric (:data:`VAL_METRICS`) for the best checkpoint, early stopping
        and the plateau schedule.
    monitor_mode : {"auto", "min", "max"}
        ``auto``: ``min`` for ``val_loss``, ``max`` for the others.
    patience : int, optional
        Early stopping: stop after this many epochs without improvement (None = off).
    min_delta : float
        Smallest change that counts as an improvement.
    seed : int
        Seeds the weights, data order, augmentation and pixel sampling.
    device : {"auto", "cpu", "cuda"}
    allow_cpu_fallback : bool
        With ``device="cuda"`` and no CUDA: train on the CPU (with a warning) instead of
        raising :class:`ConfigError`.
    amp : bool
        Mixed precision (bfloat16 where supported, else float16 with loss scaling); CUDA only.
    channels_last : bool
        Channels-last memory format; CUDA only.
    num_workers : int
        DataLoader worker processes (0 loads in the training process; on a 2-core CPU
        that is usually fastest).
    num_threads : int, optional
        Torch intra-op threads (None = torch's default).
    cache_patches : bool
        Keep decoded patches in memory (fast epochs for datasets that fit in RAM).
    init_from : str, optional
        Fine-tune from this model (``<name>.safetensors`` with its card, or a run folder,
        whose best checkpoint is used); same architecture and options required.
    freeze : tuple of str
        Parameter-name prefixes to keep frozen (e.g. ``("trunk.",)`` for seed 003's first stage).
    max_steps_per_epoch : int, optional
        Cap on optimiser steps per epoch (tiny runs, smoke tests).
    max_val_batches : int, optional
        Cap on validation batches per epoch.
    val_threshold : float
        Probability threshold of the validation Dice/F1/ARI, in (0, 1).
    val_tolerance_px : float
        Tolerance of the validation boundary F1 (``val_bf1``); 0 turns it off.
    log_every_steps : int
        A ``metrics.jsonl`` step line every this many steps.
    save_every_min : float
        Also save ``last`` within an epoch every this many minutes (0 = only at epoch ends).
    grad_clip_norm : float, optional
        Clip the gradient norm to this value (None = off).
    side_loss_weight : float
        Deep supervision of side-output networks (HED, RCF, DeepCrack): each side output
        adds this weight times the pixel terms of the loss (0 = off).
    sparse_pixels : int, optional
        Pixels sampled per image for networks with sparse training (PixelNet); None =
        2048 for those networks, 0 = dense training.
    name : str
        Free label shown in run lists.

    Examples
    --------
    >>> cfg = TrainConfig(dataset="datasets/demo", epochs=2, lr=1e-3)
    >>> TrainConfig.from_json(cfg.to_json()) == cfg
    True
    """

    dataset: str
    fold: int | None = None
    architecture: str = "slim_unet"
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, Any] = field(default_factory=_default_loss)
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.01
    step_epochs: int = 10
    gamma: float = 0.1
    plateau_patience: int = 3
    epochs: int = 50
    batch_size: int = 8
    patch_size: int | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    monitor: str = "val_dice"
    monitor_mode: str = "auto"
    patience: int | None = 10
    min_delta: float = 0.0
    seed: int = 0
    device: str = "auto"
    allow_cpu_fallback: bool = False
    amp: bool = True
    channels_last: bool = True
    num_workers: int = 0
    num_threads: int | None = None
    cache_patches: bool = False
    init_from: str | None = None
    freeze: tuple[str, ...] = ()
    max_steps_per_epoch: int | None = None
    max_val_batches: int | None = None
    val_threshold: float = 0.5
    val_tolerance_px: float = 2.0
    log_every_steps: int = 10
    save_every_min: float = 10.0
    grad_clip_norm: float | None = None
    side_loss_weight: float = 1.0
    sparse_pixels: int | None = None
    name: str = ""

    def __post_init__(self) -> None:
        from grainseg_core.losses import build_loss
        from grainseg_core.nets import list_architectures

        if not isinstance(self.dataset, (str, os.PathLike)) or not str(self.dataset):
            raise ConfigError(
                f"TrainConfig.dataset must be the path of a dataset folder; got {self.dataset!r}."
            )
        object.__setattr__(self, "dataset", str(self.dataset))
        _integer(self.fold, "fold", low=0, optional=True)
        if self.architecture not in list_architectures():
            raise unknown_name_error("architecture", str(self.architecture), list_architectures())
        if not isinstance(self.arch_kwargs, Mapping):
            raise ConfigError(
                f"TrainConfig.arch_kwargs must be a dict of options; got {self.arch_kwargs!r}."
            )
        object.__setattr__(self, "arch_kwargs", copy.deepcopy(dict(self.arch_kwargs)))
        if isinstance(self.loss, str):
            object.__setattr__(self, "loss", {"terms": [self.loss]})
        if not isinstance(self.loss, Mapping):
            raise ConfigError(
                "TrainConfig.loss must be a loss config such as "
                f'{{"terms": [{{"name": "bce", "pos_weight": 9}}]}}; got {self.loss!r}.'
            )
        object.__setattr__(self, "loss", copy.deepcopy(dict(self.loss)))
        build_loss(self.loss)  # raises ConfigError naming the bad term
        _choice(self.optimizer, "optimizer", OPTIMIZERS)
        _number(self.lr, "lr", low=0.0, low_open=True)
        _number(self.weight_decay, "weight_decay", low=0.0)
        _choice(self.schedule, "schedule", SCHEDULES)
        _integer(self.warmup_steps, "warmup_steps", low=0)
        _number(self.min_lr_ratio, "min_lr_ratio", low=0.0, high=1.0)
        _integer(self.step_epochs, "step_epochs", low=1)
        _number(self.gamma, "gamma", low=0.0, high=1.0, low_open=True)
        _integer(self.plateau_patience, "plateau_patience", low=0)
        _integer(self.epochs, "epochs", low=1)
        _integer(self.batch_size, "batch_size", low=1)
        _integer(self.patch_size, "patch_size", low=8, optional=True)
        if isinstance(self.augment, Mapping):
            object.__setattr__(self, "augment", AugmentConfig.from_dict(dict(self.augment)))
        if not isinstance(self.augment, AugmentConfig):
            raise ConfigError(
                f"TrainConfig.augment must be an AugmentConfig; got {type(self.augment).__name__}."
            )
        _choice(self.monitor, "monitor", VAL_METRICS)
        _choice(self.monitor_mode, "monitor_mode", _MODES)
        _integer(self.patience, "patience", low=1, optional=True)
        _number(self.min_delta, "min_delta", low=0.0)
        _integer(self.seed, "seed", low=0)
        _choice(self.device, "device", _DEVICES)
        _integer(self.num_workers, "num_workers", low=0)
        _integer(self.num_threads, "num_threads", low=1, optional=True)
        if self.init_from is not None:
            if not isinstance(self.init_from, (str, os.PathLike)) or not str(self.init_from):
                raise ConfigError(
                    "TrainConfig.init_from must be a model path or run folder; "
                    f"got {self.init_from!r}."
                )
            object.__setattr__(self, "init_from", str(self.init_from))
        if isinstance(self.freeze, str):
            object.__setattr__(self, "freeze", (self.freeze,))
        if not all(isinstance(p, str) and p for p in self.freeze):
            raise ConfigError(
                "TrainConfig.freeze must be a list of parameter-name prefixes; "
                f"got {self.freeze!r}."
            )
        object.__setattr__(self, "freeze", tuple(self.freeze))
        _integer(self.max_steps_per_epoch, "max_steps_per_epoch", low=1, optional=True)
        _integer(self.max_val_batches, "max_val_batches", low=1, optional=True)
        thr = _number(self.val_threshold, "val_threshold", low=0.0, high=1.0, low_open=True)
        if thr >= 1.0:
            raise ConfigError(f"TrainConfig.val_threshold must lie in (0, 1); got {thr}.")
        _number(self.val_tolerance_px, "val_tolerance_px", low=0.0, high=64.0)
        _integer(self.log_every_steps, "log_every_steps", low=1)
        _number(self.save_every_min, "save_every_min", low=0.0)
        if self.grad_clip_norm is not None:
            _number(self.grad_clip_norm, "grad_clip_norm", low=0.0, low_open=True)
        _number(self.side_loss_weight, "side_loss_weight", low=0.0)
        _integer(self.sparse_pixels, "sparse_pixels", low=0, optional=True)
        if not isinstance(self.name, str):
            raise ConfigError(f"TrainConfig.name must be a string; got {self.name!r}.")
        for flag in ("allow_cpu_fallback", "amp", "channels_last", "cache_patches"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(
                    f"TrainConfig.{flag} must be true or false; got {getattr(self, flag)!r}."
                )
        self._check_sparse_losses()

    def _check_sparse_losses(self) -> None:
        if not self.sparse_pixels:
            return
        from grainseg_core.nets import architecture_info

        if not architecture_info(self.architecture)["supports_sparse_sampling"]:
            raise ConfigError(
                f"TrainConfig.sparse_pixels = {self.sparse_pixels}, but '{self.architecture}' has "
                "no sparse training; leave sparse_pixels unset (or 0) for it."
            )
        bad = [n for n in self.loss_names if n not in SPARSE_PIXEL_LOSSES]
        if bad:
            raise ConfigError(
                f"loss terms {bad} need whole maps and cannot train on sampled pixels; set "
                f"sparse_pixels=0 (dense training) or use only {', '.join(SPARSE_PIXEL_LOSSES)}."
            )

    # ------------------------------------------------------------------ derived values
    @property
    def loss_names(self) -> list[str]:
        """Names of the loss terms, in order."""
        terms = self.loss.get("terms", [])
        return [t if isinstance(t, str) else str(t.get("name")) for t in terms]

    @property
    def mode(self) -> str:
        """``"min"`` or ``"max"``: the direction in which ``monitor`` improves."""
        if self.monitor_mode != "auto":
            return self.monitor_mode
        return "min" if self.monitor == "val_loss" else "max"

    def loss_summary(self) -> str:
        """Short text of the loss, e.g. ``"bce + 0.04*topo"``."""
        parts = []
        for t in self.loss.get("terms", []):
            name = t if isinstance(t, str) else t.get("name")
            w = 1.0 if isinstance(t, str) else float(t.get("weight", 1.0))
            parts.append(str(name) if w == 1.0 else f"{w:g}*{name}")
        return " + ".join(parts)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (what a run's ``config.json`` holds)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, AugmentConfig):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = copy.deepcopy(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`.

        Examples
        --------
        >>> TrainConfig.from_dict({"dataset": "ds", "epochs": 3}).epochs
        3
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"a train config must be a JSON object; got {type(data).__name__}.")
        names = [f.name for f in fields(cls)]
        extra = [k for k in data if k not in names]
        if extra:
            import difflib

            hints = [
                f"'{k}' (did you mean '{m[0]}'?)"
                if (m := difflib.get_close_matches(k, names, 1))
                else f"'{k}'"
                for k in extra
            ]
            raise ConfigError(f"unknown train config keys: {', '.join(hints)}.")
        if "dataset" not in data:
            raise ConfigError("a train config needs 'dataset' (the path of a dataset folder).")
        kwargs = dict(data)
        if isinstance(kwargs.get("augment"), Mapping):
            kwargs["augment"] = AugmentConfig.from_dict(dict(kwargs["augment"]))
        if isinstance(kwargs.get("freeze"), list):
            kwargs["freeze"] = tuple(kwargs["freeze"])
        return cls(**kwargs)

    def to_json(self) -> str:
        """The config as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike) -> TrainConfig:
        """Read a config from JSON text or from a ``.json`` file.

        Raises
        ------
        ConfigError
            Missing file, invalid JSON (line and column given), bad content.
        """
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            path = Path(text)
            if not path.is_file():
                raise ConfigError(f"train config file '{path}' not found.")
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"train config file '{path}' could not be read: {exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"train config is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                f"{exc.msg})."
            ) from exc
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (checked again).

        Examples
        --------
        >>> TrainConfig(dataset="ds").replace(fold=2).fold
        2
        """
        data = self.to_dict()
        unknown = [k for k in changes if k not in data]
        if unknown:
            raise ConfigError(f"unknown train config keys: {unknown}.")
        data.update(changes)
        return TrainConfig.from_dict(data)


@dataclass(frozen=True)
class CheckedConfig:
    """A config checked against the machine by :func:`check_config`.

    Attributes
    ----------
    config : TrainConfig
    device : str
        ``"cpu"`` or ``"cuda"``: where the run computes.
    device_note : str
        Why, when it differs from what was asked (e.g. CUDA fallback); else "".
    stored_patch_size : int
        The dataset's patch side.
    patch_size : int
        The training crop side.
    n_folds : int
        Folds of the dataset (1 for hold-out splits).
    target : str
        ``"boundary"`` or ``"mask"``.
    normalize : str
        The dataset's normalisation method (goes into the model card).
    init_path : str or None
        The model file fine-tuning starts from.
    """

    config: TrainConfig
    device: str
    device_note: str
    stored_patch_size: int
    patch_size: int
    n_folds: int
    target: str
    normalize: str
    init_path: str | None


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def resolve_init_path(init_from: str) -> Path:
    """The model file a fine-tuning run starts from: a model path or a run folder's best.

    Raises
    ------
    ConfigError
        Nothing usable at ``init_from``.
    """
    given = Path(init_from)
    if given.is_dir():
        for cand in (given / "checkpoints" / "best.safetensors", given / "best.safetensors"):
            if cand.is_file():
                return cand
        raise ConfigError(
            f"TrainConfig.init_from '{given}' is a folder without checkpoints/best.safetensors; "
            "give a finished run folder or a .safetensors model file."
        )
    weights = (
        given if given.suffix == ".safetensors" else given.with_name(given.name + ".safetensors")
    )
    if given.suffix == ".json":
        weights = given.with_suffix(".safetensors")
    if not weights.is_file():
        raise ConfigError(
            f"TrainConfig.init_from: model file '{weights}' not found (give a .safetensors model "
            "with its .json card, or a run folder)."
        )
    return weights


def check_config(config: TrainConfig) -> CheckedConfig:
    """Check a config against the machine: dataset, fold, patch size, init model, device.

    Parameters
    ----------
    config : TrainConfig

    Returns
    -------
    CheckedConfig
        The config with the device and sizes resolved.

    Raises
    ------
    ConfigError
        Missing or unreadable dataset folder, fold missing or out of range, patch larger
        than the dataset's patches or not a multiple of the network's input divisor, bad
        architecture options, missing or mismatched ``init_from`` model, CUDA asked for but
        absent (without ``allow_cpu_fallback``).

    Examples
    --------
    >>> # checked = check_config(TrainConfig(dataset="datasets/demo")); checked.device
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be a TrainConfig; got {type(config).__name__}.")
    from grainseg_core.patching import read_manifest

    root = Path(config.dataset)
    if not root.is_dir():
        raise ConfigError(
            f"dataset folder '{root}' not found; export one with grainseg_core.patching."
            "export_dataset (or the Dataset page) and give its path."
        )
    try:
        manifest = read_manifest(root)
    except DatasetError as exc:
        raise ConfigError(f"dataset folder '{root}' is not usable: {exc}") from exc
    if manifest.n_folds > 1 and config.fold is None:
        raise ConfigError(
            f"dataset '{root}' has {manifest.n_folds} cross-validation folds; set "
            f"TrainConfig.fold to 0..{manifest.n_folds - 1} (or use cross_validate)."
        )
    if config.fold is not None and config.fold >= manifest.n_folds:
        raise ConfigError(
            f"TrainConfig.fold = {config.fold}, but dataset '{root}' has {manifest.n_folds} "
            f"fold(s) (0..{manifest.n_folds - 1})."
        )
    stored = int(manifest.config.size)
    patch = stored if config.patch_size is None else int(config.patch_size)
    if patch > stored:
        raise ConfigError(
            f"TrainConfig.patch_size = {patch} is larger than the dataset's patches "
            f"({stored} px in '{root}'); use at most {stored} or re-export with larger patches."
        )
    divisor = _input_divisor(config)
    if patch % divisor:
        raise ConfigError(
            f"TrainConfig.patch_size = {patch} must be a multiple of {divisor} for "
            f"'{config.architecture}' (its input divisor); "
            f"try {patch // divisor * divisor or divisor}."
        )
    if config.sparse_pixels and config.sparse_pixels > patch * patch:
        raise ConfigError(
            f"TrainConfig.sparse_pixels = {config.sparse_pixels} exceeds the {patch * patch} "
            "pixels "
            "of a training crop."
        )
    init_path = None
    if config.init_from is not None:
        init_path = resolve_init_path(config.init_from)
        _check_init_card(config, init_path)
    device, note = _resolve_device(config)
    return CheckedConfig(
        config=config,
        device=device,
        device_note=note,
        stored_patch_size=stored,
        patch_size=patch,
        n_folds=int(manifest.n_folds),
        target=str(manifest.target),
        normalize=str(manifest.config.normalize),
        init_path=str(init_path) if init_path is not None else None,
    )


def _input_divisor(config: TrainConfig) -> int:
    import torch

    from grainseg_core.nets import build_model

    try:
        # The meta device allocates nothing: only the options are checked.
        with torch.device("meta"):
            model = build_model(config.architecture, **config.arch_kwargs)
    except GrainsegError as exc:
        raise ConfigError(f"TrainConfig.arch_kwargs: {exc}") from exc
    return int(model.input_divisor)


def _check_init_card(config: TrainConfig, path: Path) -> None:
    from grainseg_core.nets import build_model, read_model_card

    try:
        card = read_model_card(path)
    except ModelError as exc:
        raise ConfigError(f"TrainConfig.init_from: {exc}") from exc
    if card["architecture"] != config.architecture:
        raise ConfigError(
            f"TrainConfig.init_from '{path}' holds a '{card['architecture']}' network, but the "
            f"config trains '{config.architecture}'; set architecture to '{card['architecture']}'."
        )
    import torch

    with torch.device("meta"):
        wanted = build_model(config.architecture, **config.arch_kwargs).init_kwargs
    stored = card.get("init_kwargs", {})
    diff = sorted(k for k in set(wanted) | set(stored) if wanted.get(k) != stored.get(k))
    if diff:
        raise ConfigError(
            f"TrainConfig.init_from '{path}' was built with other options ({', '.join(diff)}: "
            f"{ {k: stored.get(k) for k in diff} }); set arch_kwargs to the model's "
            f"{stored}."
        )


def _resolve_device(config: TrainConfig) -> tuple[str, str]:
    if config.device == "cpu":
        return "cpu", ""
    has_cuda = _cuda_available()
    if config.device == "auto":
        return ("cuda" if has_cuda else "cpu"), ""
    if has_cuda:
        return "cuda", ""
    msg = "device 'cuda' was asked for, but no CUDA GPU is available to PyTorch on this machine"
    if not config.allow_cpu_fallback:
        raise ConfigError(
            f"{msg}; use device='cpu' or 'auto', or set allow_cpu_fallback=true to train on "
            "the CPU."
        )
    warnings.warn(
        f"{msg}; training on the CPU (allow_cpu_fallback).", GrainsegWarning, stacklevel=3
    )
    return "cpu", f"{msg}; fell back to the CPU"
