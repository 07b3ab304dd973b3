"""Options of dataset export (:class:`PatchConfig`) and shared small helpers.

Private module of :mod:`grainseg_core.patching`; import from there.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np

from grainseg_core.errors import ConfigError, InputError, unknown_name_error
from grainseg_core.io import NORMALIZE_METHODS

__all__ = [
    "PatchConfig",
    "SPLIT_METHODS",
    "Target",
    "SplitMethod",
    # helpers shared by the other _patch_* modules
    "as_json_data",
    "check_target",
    "int_option",
]

#: Valid values of ``PatchConfig.split``.
SPLIT_METHODS = ("by_image", "random_patch", "column_cv", "kfold_by_image")
_TARGETS = ("boundary", "mask")

Target = Literal["boundary", "mask"]
SplitMethod = Literal["by_image", "random_patch", "column_cv", "kfold_by_image"]


def as_json_data(value: Any) -> Any:
    """Return ``value`` as plain JSON data (paths -> str, numpy -> python, tuples -> lists)."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def check_target(target: Any, name: str = "target") -> str:
    """``target`` as a str if it is ``"boundary"`` or ``"mask"``; else an InputError naming it."""
    if target not in _TARGETS:
        raise InputError(
            f"{name} must be 'boundary' (grain-boundary maps) or 'mask' (filled particles); "
            f"got {target!r}."
        )
    return str(target)


def int_option(value: Any, name: str, low: int, high: int | None = None) -> int:
    """``value`` as an int in [low, high] (``high`` None: no upper bound); else a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an integer; got {value!r}.")
    out = int(value)
    if out < low or (high is not None and out > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ConfigError(f"{name} must be {bound}; got {out}.")
    return out


def _fraction_option(value: Any, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number in [0, 1); got {value!r}.") from exc
    if not (math.isfinite(out) and 0.0 <= out < 1.0):
        raise ConfigError(f"{name} must lie in [0, 1); got {value!r}.")
    return out


@dataclass(frozen=True)
class PatchConfig:
    """How :func:`export_dataset` cuts, preprocesses and splits.

    Parameters
    ----------
    size : int
        Patch side in pixels (square patches), >= 32: e.g. 128 (seed 000), 256 (seed 004), 512.
    stride : int, optional
        Step between patch origins; ``None`` = ``size`` (non-overlapping).
    remainder : {"shift", "drop"}
        Right/bottom remainder: add a last patch aligned to the edge, or leave it out.
    median : int
        Median filter size (odd, >= 3); 0 = off (seed 000 used a median filter).
    clahe : bool
        Contrast-limited adaptive histogram equalisation (seed 003).
    clahe_clip_limit : float
        OpenCV clip limit (> 0; 2 is common).
    clahe_tiles : int
        Tiles per image side for CLAHE.
    min_label_fraction : float
        Keep only patches whose label covers at least this fraction (0 keeps all).
    split : {"by_image", "random_patch", "column_cv", "kfold_by_image"}
        See the module docstring.
    val_fraction, test_fraction : float
        Fractions of images (by-image splits) or patches (random split) for validation and
        test; ``test_fraction`` is unused by the cross-validation splits.
    n_folds : int
        Folds of the cross-validation splits (>= 2).
    seed : int
        Seed of every random choice in the split.
    normalize : {"percentile", "dtype", "minmax"}
        Method given to :func:`grainseg_core.io.normalize_image` when patches are loaded
        (per patch; see :class:`grainseg_core.datasets.GrainDataset`).

    Examples
    --------
    >>> PatchConfig(size=128, median=3, split="random_patch", val_fraction=0).stride_px
    128
    """

    size: int = 256
    stride: int | None = None
    remainder: Literal["shift", "drop"] = "shift"
    median: int = 0
    clahe: bool = False
    clahe_clip_limit: float = 2.0
    clahe_tiles: int = 8
    min_label_fraction: float = 0.0
    split: SplitMethod = "by_image"
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    n_folds: int = 3
    seed: int = 0
    normalize: str = "percentile"

    def __post_init__(self) -> None:
        int_option(self.size, "PatchConfig.size", 32)
        if self.stride is not None:
            int_option(self.stride, "PatchConfig.stride", 1, int(self.size))
        if self.remainder not in ("shift", "drop"):
            raise ConfigError(
                f"PatchConfig.remainder must be 'shift' or 'drop'; got {self.remainder!r}."
            )
        median = int_option(self.median, "PatchConfig.median", 0)
        if median not in (0, 1) and median % 2 == 0:
            raise ConfigError(f"PatchConfig.median must be odd (3, 5, ...) or 0; got {median}.")
        if not isinstance(self.clahe, (bool, np.bool_)):
            raise ConfigError(f"PatchConfig.clahe must be True or False; got {self.clahe!r}.")
        clip = float(self.clahe_clip_limit)
        if not (math.isfinite(clip) and clip > 0):
            raise ConfigError(f"PatchConfig.clahe_clip_limit must be > 0; got {clip}.")
        int_option(self.clahe_tiles, "PatchConfig.clahe_tiles", 1, 64)
        frac = float(self.min_label_fraction)
        if not (math.isfinite(frac) and 0.0 <= frac <= 1.0):
            raise ConfigError(f"PatchConfig.min_label_fraction must lie in [0, 1]; got {frac}.")
        if self.split not in SPLIT_METHODS:
            raise unknown_name_error("split method", str(self.split), SPLIT_METHODS)
        val = _fraction_option(self.val_fraction, "PatchConfig.val_fraction")
        test = _fraction_option(self.test_fraction, "PatchConfig.test_fraction")
        if self.split in ("by_image", "random_patch") and val + test >= 1.0:
            raise ConfigError(
                f"PatchConfig.val_fraction + test_fraction must be < 1 to leave training data; "
                f"got {val} + {test}."
            )
        int_option(self.n_folds, "PatchConfig.n_folds", 2, 20)
        int_option(self.seed, "PatchConfig.seed", 0)
        if self.normalize not in NORMALIZE_METHODS:
            raise unknown_name_error("normalisation method", str(self.normalize), NORMALIZE_METHODS)
        # Store canonical Python types so that the manifest round-trips exactly.
        for name, kind in (("clahe_clip_limit", float), ("min_label_fraction", float),
                           ("val_fraction", float), ("test_fraction", float), ("clahe", bool)):
            object.__setattr__(self, name, kind(getattr(self, name)))
        for name in ("size", "median", "clahe_tiles", "n_folds", "seed"):
            object.__setattr__(self, name, int(getattr(self, name)))
        if self.stride is not None:
            object.__setattr__(self, "stride", int(self.stride))

    @property
    def stride_px(self) -> int:
        """The stride in pixels (``size`` when ``stride`` is None)."""
        return self.size if self.stride is None else self.stride

    @property
    def is_cv(self) -> bool:
        """True for the cross-validation splits (several folds)."""
        return self.split in ("column_cv", "kfold_by_image")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PatchConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        known = {f.name for f in fields(cls)}
        extra = set(data) - known
        if extra:
            raise ConfigError(f"unknown PatchConfig keys {sorted(extra)}; valid: {sorted(known)}.")
        return cls(**dict(data))
