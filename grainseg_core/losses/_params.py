"""Checks of loss options: each raises :class:`~grainseg_core.errors.ConfigError`."""

from __future__ import annotations

import math
from typing import Any

from grainseg_core.errors import ConfigError

__all__ = ["as_float", "as_int"]


def as_float(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite float inside the given bounds."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number; got {value!r}.")
    try:
        x = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number; got {value!r}.") from exc
    if not math.isfinite(x):
        raise ConfigError(f"{name} must be finite; got {value!r}.")
    too_low = low is not None and (x <= low if low_open else x < low)
    too_high = high is not None and (x >= high if high_open else x > high)
    if too_low or too_high:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
        if low is not None and high is not None:
            rng = f"lie in {lo}, {hi}"
        elif low is not None:
            rng = f"be {'>' if low_open else '>='} {low:g}"
        else:
            rng = f"be {'<' if high_open else '<='} {high:g}"
        raise ConfigError(f"{name} must {rng}; got {x:g}.")
    return x


def as_int(value: Any, name: str, *, low: int, high: int | None = None) -> int:
    """Return ``value`` as an int in [low, high]."""
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    ):
        raise ConfigError(f"{name} must be an integer; got {value!r}.")
    x = int(value)
    if x < low or (high is not None and x > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ConfigError(f"{name} must be {bound}; got {x}.")
    return x
