"""Put EBSD pixel-edge boundaries and label maps onto another pixel grid (private).

Coordinates: a pixel (row, col) has its centre at (y, x) = (row, col) and covers
[row - 0.5, row + 0.5) x [col - 0.5, col + 0.5). A point (x, y) lies in pixel
``(floor(y + 0.5), floor(x + 0.5))``. Affine matrices act on homogeneous
``(x, y, 1) = (col, row, 1)`` as in ``skimage.transform.AffineTransform.params``
and OpenCV.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from grainseg_core.errors import InputError

__all__ = ["affine_matrix", "draw_edges", "sample_labels", "thicken"]

#: Edges rasterised per chunk (bounds the (E, K, 2) sample array).
_EDGE_CHUNK = 1 << 16


def affine_matrix(
    transform: Any,
    scale: Any,
    source_shape: tuple[int, int],
    target_shape: tuple[int, int],
) -> np.ndarray:
    """3x3 matrix from source (x, y, 1) to target (x, y, 1).

    ``transform`` (2x3, 3x3 or an object with ``.params``) wins; ``scale`` (one
    value or (row, col)) maps pixel areas: ``t = (s + 0.5) * scale - 0.5``;
    neither means the scale that makes the source cover the target exactly.
    """
    if transform is not None and scale is not None:
        raise InputError("give either transform or scale, not both.")
    if transform is not None:
        mat = np.asarray(getattr(transform, "params", transform), dtype=np.float64)
        if mat.shape == (2, 3):
            mat = np.vstack([mat, [0.0, 0.0, 1.0]])
        if mat.shape != (3, 3) or not np.all(np.isfinite(mat)):
            raise InputError(
                "transform must be a finite 2x3 or 3x3 affine matrix acting on "
                "(x, y, 1) = (col, row, 1); "
                f"got shape {mat.shape}."
            )
        if not np.allclose(mat[2], [0.0, 0.0, 1.0]):
            raise InputError(
                f"transform must be affine (last row 0, 0, 1); got last row {mat[2].tolist()}."
            )
        if abs(np.linalg.det(mat[:2, :2])) < 1e-12:
            raise InputError(
                "transform is singular (zero determinant); it must map the EBSD grid onto an area."
            )
        return mat
    if scale is None:
        s_row = target_shape[0] / source_shape[0]
        s_col = target_shape[1] / source_shape[1]
    else:
        values = np.atleast_1d(np.asarray(scale, dtype=np.float64)).ravel()
        if values.size == 1:
            values = np.repeat(values, 2)
        if values.size != 2 or not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise InputError(
                f"scale must be one or two positive numbers (row, col); got {scale!r}."
            )
        s_row, s_col = float(values[0]), float(values[1])
    return np.array(
        [[s_col, 0.0, 0.5 * s_col - 0.5], [0.0, s_row, 0.5 * s_row - 0.5], [0.0, 0.0, 1.0]],
        dtype=np.float64,
    )


def _draw_family(out: np.ndarray, starts: np.ndarray, vec: np.ndarray, mat: np.ndarray) -> None:
    """Draw segments ``start + t * vec`` (t in [0, 1)) given in source (x, y)."""
    if len(starts) == 0:
        return
    a = mat[:2, :2]
    tvec = a @ vec
    length = float(np.hypot(*tvec))
    # Samples at most half a target pixel apart keep the drawn line 8-connected.
    k = max(1, math.ceil(2.0 * length))
    t = np.arange(k, dtype=np.float64) / k
    offsets = t[:, None] * tvec[None, :]  # (K, 2)
    m_rows, m_cols = out.shape
    for begin in range(0, len(starts), _EDGE_CHUNK):
        src = starts[begin : begin + _EDGE_CHUNK]
        tstart = src @ a.T + mat[:2, 2]
        pts = tstart[:, None, :] + offsets[None, :, :]  # (E, K, 2) as (x, y)
        cols = np.floor(pts[..., 0] + 0.5).astype(np.int64).ravel()
        rows = np.floor(pts[..., 1] + 0.5).astype(np.int64).ravel()
        ok = (rows >= 0) & (rows < m_rows) & (cols >= 0) & (cols < m_cols)
        out[rows[ok], cols[ok]] = True


def draw_edges(
    right: np.ndarray, down: np.ndarray, mat: np.ndarray, target_shape: tuple[int, int]
) -> np.ndarray:
    """Draw the marked pixel edges as 1-px, 8-connected lines on the target grid.

    ``right`` (M, N-1) marks the edge between (r, c) and (r, c+1): the segment
    x = c + 0.5, y in [r - 0.5, r + 0.5). ``down`` (M-1, N) marks the edge between
    (r, c) and (r+1, c): y = r + 0.5, x in [c - 0.5, c + 0.5). At scale 1 this marks
    the right/lower pixel of each edge.
    """
    out = np.zeros(target_shape, dtype=bool)
    r, c = np.nonzero(right)
    _draw_family(
        out, np.column_stack([c + 0.5, r - 0.5]).astype(np.float64), np.array([0.0, 1.0]), mat
    )
    r, c = np.nonzero(down)
    _draw_family(
        out, np.column_stack([c - 0.5, r + 0.5]).astype(np.float64), np.array([1.0, 0.0]), mat
    )
    return out


def sample_labels(
    labels: np.ndarray, mat: np.ndarray, target_shape: tuple[int, int], fill: int = 0
) -> np.ndarray:
    """Nearest-neighbour resampling of ``labels`` onto the target grid (``fill`` outside)."""
    inv = np.linalg.inv(mat)
    rows, cols = np.mgrid[0 : target_shape[0], 0 : target_shape[1]]
    x = inv[0, 0] * cols + inv[0, 1] * rows + inv[0, 2]
    y = inv[1, 0] * cols + inv[1, 1] * rows + inv[1, 2]
    sc = np.floor(x + 0.5).astype(np.int64)
    sr = np.floor(y + 0.5).astype(np.int64)
    ok = (sr >= 0) & (sr < labels.shape[0]) & (sc >= 0) & (sc < labels.shape[1])
    out = np.full(target_shape, fill, dtype=labels.dtype)
    out[ok] = labels[sr[ok], sc[ok]]
    return out


def thicken(line: np.ndarray, width: int) -> np.ndarray:
    """Dilate a 1-px line with a ``width`` x ``width`` square (exact width along the axes)."""
    if width <= 1:
        return line
    import cv2  # lazy: only needed for thick lines

    kernel = np.ones((width, width), dtype=np.uint8)
    return cv2.dilate(line.astype(np.uint8), kernel) > 0
