"""Test-time augmentation: run a predictor on flipped / transposed tiles and average.

Private module of :mod:`grainseg_core.inference`; import from there.

``"flips"`` uses the four flips (none, rows, columns, both = a 180-degree rotation);
``"d4"`` adds the four transposed versions, giving all eight symmetries of the square
(the 90-degree rotations included). Each output is mapped back before averaging, so a
predictor that commutes with these symmetries gives the same map as without TTA.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from grainseg_core.errors import InputError, unknown_name_error
from grainseg_core._inference_tiling import to_numpy

__all__ = ["TTA_MODES", "tta_predictor", "tta_passes", "check_tta"]

# (transpose, flip rows, flip columns); transpose first on the way in, last on the way out.
_Op = tuple[bool, bool, bool]
_FLIPS: tuple[_Op, ...] = (
    (False, False, False),
    (False, True, False),
    (False, False, True),
    (False, True, True),
)
_OPS: dict[str, tuple[_Op, ...]] = {
    "none": ((False, False, False),),
    "flips": _FLIPS,
    "d4": _FLIPS + tuple((True, fr, fc) for _, fr, fc in _FLIPS),
}

#: Accepted values of ``tta``.
TTA_MODES: tuple[str, ...] = tuple(_OPS)


def check_tta(tta: Any) -> str:
    """Return ``tta`` if it is a known mode, else raise :class:`InputError` listing them."""
    if not isinstance(tta, str) or tta not in _OPS:
        raise unknown_name_error("tta mode", str(tta), TTA_MODES, InputError)
    return tta


def tta_passes(tta: str) -> int:
    """Predictor calls per tile batch for ``tta``: 1, 4 or 8."""
    return len(_OPS[check_tta(tta)])


def _forward(x: np.ndarray, op: _Op) -> np.ndarray:
    transpose, flip_r, flip_c = op
    if transpose:
        x = x.swapaxes(-1, -2)
    if flip_r:
        x = x[..., ::-1, :]
    if flip_c:
        x = x[..., :, ::-1]
    return x


def _inverse(y: np.ndarray, op: _Op) -> np.ndarray:
    transpose, flip_r, flip_c = op
    if flip_c:
        y = y[..., :, ::-1]
    if flip_r:
        y = y[..., ::-1, :]
    if transpose:
        y = y.swapaxes(-1, -2)
    return y


def tta_predictor(
    predictor: Callable[[np.ndarray], Any], tta: str = "flips"
) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap ``predictor`` so that it averages over the symmetries of ``tta``.

    Parameters
    ----------
    predictor : callable
        (B, 1, h, w) float32 -> (B, 1, h, w) (numpy or torch). With ``"d4"`` it also
        receives transposed batches (B, 1, w, h).
    tta : {"none", "flips", "d4"}

    Returns
    -------
    callable
        (B, 1, h, w) float32 numpy -> (B, 1, h, w) float32 numpy, the mean over the
        passes; ``predictor`` itself for ``"none"``.

    Examples
    --------
    >>> x = np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2)
    >>> tta_predictor(lambda b: b + 1, "d4")(x)[0, 0]
    array([[1., 2.],
           [3., 4.]], dtype=float32)
    """
    ops = _OPS[check_tta(tta)]
    if len(ops) == 1:
        return predictor

    def one_pass(x: np.ndarray, op: _Op) -> np.ndarray:
        xt = np.ascontiguousarray(_forward(x, op))
        return _inverse(to_numpy(predictor(xt), xt.shape), op)

    def averaged(x: np.ndarray) -> np.ndarray:
        # A copy: the predictor may hand back its input buffer.
        acc = np.array(one_pass(x, ops[0]), dtype=np.float32, copy=True)
        for op in ops[1:]:
            acc += one_pass(x, op)
        acc /= np.float32(len(ops))
        return acc

    return averaged
