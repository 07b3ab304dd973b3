"""SEM -> EBSD drift for synthetic pairs: a rigid shift plus a smooth non-rigid field.

Private helper of :mod:`grainseg_core.synthetic`. Convention (CONTRIBUTING.md):
the drift ``d`` (2, M, N) = (d_row, d_col) lives on the SEM grid and
``ebsd[x + d(x)] = sem[x]``. To render the EBSD map on its own pixel grid we need,
for each EBSD pixel ``y``, the SEM position ``x`` with ``x + d(x) = y``: a
fixed-point iteration ``x <- y - d(x)``, which converges because the field is
smooth (its gradient is far below 1).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import map_coordinates

from grainseg_core._synthetic_render import smooth_field

__all__ = ["nonrigid_field", "source_positions"]

_ITERATIONS = 8
_STEP = 8  # pixels between the nodes where the inverse is solved exactly


def nonrigid_field(
    rng: np.random.Generator, shape: tuple[int, int], max_px: float, spacing_px: float
) -> np.ndarray:
    """Return a smooth zero-mean field (2, M, N) float32 whose largest magnitude is ``max_px``."""
    if max_px <= 0:
        return np.zeros((2,) + tuple(shape), dtype=np.float32)
    field = smooth_field(rng, shape, spacing_px, channels=2)
    field -= field.reshape(2, -1).mean(axis=1)[:, None, None]
    peak = float(np.sqrt((field.astype(np.float64) ** 2).sum(axis=0)).max())
    field *= np.float32(max_px / peak)
    # float32 rounding may leave the peak a hair above max_px: pull it under.
    over = float(np.sqrt((field.astype(np.float64) ** 2).sum(axis=0)).max())
    if over > max_px:
        field *= np.float32(max_px / over * (1 - 1e-6))
    return field


def source_positions(
    nonrigid_canvas: np.ndarray,
    shift: tuple[float, float],
    pad: int,
    shape: tuple[int, int],
    rows: np.ndarray,
    cols: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Return canvas coordinates (float64) of the SEM point seen by EBSD pixels (rows, cols).

    Parameters
    ----------
    nonrigid_canvas : ndarray (2, M + 2 pad, N + 2 pad) float32
        Non-rigid drift on the canvas (SEM grid padded by ``pad`` on every side).
    shift : (d_row, d_col)
        Rigid part of the drift.
    pad : int
        Canvas margin; SEM pixel (r, c) is canvas pixel (r + pad, c + pad).
    shape : (M, N)
        SEM (and EBSD) grid.
    rows, cols : ndarray (k,)
        EBSD pixels to invert.
    """
    m, n = shape
    y_row = rows.astype(np.float64) + pad - shift[0]
    y_col = cols.astype(np.float64) + pad - shift[1]
    if rows.size == 0 or not np.any(nonrigid_canvas):
        return y_row, y_col  # a pure shift inverts exactly
    # The field is smooth on the scale of its control spacing: solve on a grid
    # every _STEP pixels (float64 fixed point, bilinear look-ups), then interpolate
    # the inverse displacement bilinearly at the queried pixels.
    gm, gn = -(-(m - 1) // _STEP) + 1, -(-(n - 1) // _STEP) + 1
    g_row, g_col = np.mgrid[:gm, :gn].astype(np.float64) * _STEP
    target_row, target_col = g_row + pad - shift[0], g_col + pad - shift[1]
    x_row, x_col = target_row, target_col
    for _ in range(_ITERATIONS):
        coords = np.stack([x_row, x_col])
        d_row = map_coordinates(nonrigid_canvas[0], coords, order=1, mode="nearest")
        d_col = map_coordinates(nonrigid_canvas[1], coords, order=1, mode="nearest")
        x_row, x_col = target_row - d_row, target_col - d_col
    at = np.stack([rows / _STEP, cols / _STEP])
    u_row = map_coordinates(x_row - target_row, at, order=1, mode="nearest")
    u_col = map_coordinates(x_col - target_col, at, order=1, mode="nearest")
    return y_row + u_row, y_col + u_col
