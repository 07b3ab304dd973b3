"""Argument and option checks shared by the synthetic generators (private)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from grainseg_core.config import max_pixels
from grainseg_core.errors import ConfigError, InputError

__all__ = ["check_option", "check_pair", "check_shape", "check_seed"]


def check_option(name: str, value: Any, lo: float, hi: float, *, integer: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a number (an integer) in [lo, hi]."""
    ok_type = (
        isinstance(value, (int, np.integer))
        if integer
        else isinstance(value, (int, float, np.number))
    )
    if isinstance(value, bool) or not ok_type:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{name} must be {kind} in [{lo}, {hi}]; got {value!r}.")
    if math.isnan(float(value)) or not (lo <= float(value) <= hi):
        raise ConfigError(f"{name} must lie in [{lo}, {hi}]; got {value!r}.")


def check_pair(name: str, value: Any, lo: float, hi: float) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a (low, high) tuple within [lo, hi]."""
    if not isinstance(value, tuple) or len(value) != 2:
        raise ConfigError(f"{name} must be a (low, high) tuple; got {value!r}.")
    check_option(f"{name}[0]", value[0], lo, hi)
    check_option(f"{name}[1]", value[1], lo, hi)
    if value[0] > value[1]:
        raise ConfigError(f"{name} must have low <= high; got {value!r}.")


def check_shape(shape: Any) -> tuple[int, int]:
    """Return ``shape`` as (M, N) ints >= 16 within the pixel limit, else raise InputError."""
    try:
        values = tuple(shape)
        ok = len(values) == 2 and all(float(v) == int(v) for v in values)
        m, n = (int(v) for v in values)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"shape must be two integers (M, N); got {shape!r}.")
    if m < 16 or n < 16:
        raise InputError(f"shape must be at least (16, 16); got {(m, n)}.")
    limit = max_pixels()
    if m * n > limit:
        raise InputError(
            f"shape {(m, n)} has {m * n} pixels, over the limit of {limit}; "
            "ask for a smaller image or raise GRAINSEG_MAX_PIXELS."
        )
    return m, n


def check_seed(seed: Any) -> int:
    """Return ``seed`` as an int >= 0, or raise :class:`InputError`."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be an integer >= 0; got {seed!r}.")
    return int(seed)
