"""Input checks shared by the public functions of the engine.

Each check raises :class:`~grainseg_core.errors.InputError` with a message that
names the argument, what was expected and what came.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from grainseg_core.errors import InputError

__all__ = [
    "as_2d_array",
    "check_probability_map",
    "check_same_shape",
    "check_pixel_size",
    "check_int",
    "as_boundary_mask",
]


def as_2d_array(value: Any, name: str, *, min_size: int = 1) -> np.ndarray:
    """Return ``value`` as a 2-D numpy array or raise a clear error.

    Parameters
    ----------
    value : array_like
        The input.
    name : str
        The argument's name, used in the message.
    min_size : int
        Smallest accepted number of rows and of columns.
    """
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - anything numpy rejects
        raise InputError(f"{name} could not be read as an array: {exc}") from exc
    if arr.ndim != 2:
        raise InputError(f"{name} must be a 2-D array (M, N); got shape {arr.shape}.")
    if arr.shape[0] < min_size or arr.shape[1] < min_size:
        raise InputError(
            f"{name} must be at least {min_size}x{min_size} pixels; got shape {arr.shape}."
        )
    return arr


def check_probability_map(prob: Any, name: str = "prob") -> np.ndarray:
    """Return ``prob`` as float32 (M, N) after checking it lies in [0, 1] with no NaN."""
    arr = as_2d_array(prob, name)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{name} must be a numeric probability map; got dtype {arr.dtype}.")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise InputError(
            f"{name} has {bad} NaN or infinite values; a probability map must be finite "
            "(check the model output or the file it came from)."
        )
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        raise InputError(
            f"{name} must lie in [0, 1]; got values in [{lo:.4g}, {hi:.4g}]. "
            "Apply a sigmoid to logits, or rescale the map, first."
        )
    return arr


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise if two arrays differ in shape."""
    if np.shape(a) != np.shape(b):
        raise InputError(
            f"{name_a} (shape {np.shape(a)}) must match {name_b} (shape {np.shape(b)})."
        )


def check_pixel_size(pixel_size_um: Any, name: str = "pixel_size_um") -> float | None:
    """Return the pixel size as a float (or None), raising if it is not > 0 and finite."""
    if pixel_size_um is None:
        return None
    try:
        value = float(pixel_size_um)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a number of micrometres per pixel; got {pixel_size_um!r}.") from exc
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a positive, finite number of micrometres; got {value}.")
    return value


def check_int(value: Any, name: str, *, low: int) -> int:
    """Return ``value`` as an int >= ``low`` (numpy integers accepted, bools refused).

    Raises
    ------
    InputError
        ``"{name} must be an integer >= {low}; got {value!r}."``

    Examples
    --------
    >>> check_int(np.int64(3), "bins", low=1)
    3
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InputError(f"{name} must be an integer >= {low}; got {value!r}.")
    return int(value)


def as_boundary_mask(value: Any, name: str = "boundary") -> np.ndarray:
    """Return a boolean boundary mask (True = boundary) from a bool or 0/1 (or 0/255) array."""
    arr = as_2d_array(value, name)
    if arr.dtype == bool:
        return arr
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{name} must be a boolean or numeric mask; got dtype {arr.dtype}.")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or infinite values.")
    return arr > 0
