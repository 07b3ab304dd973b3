"""Sliding-window prediction with seam-free blending: the core of ``predict_tiled``.

Private module of :mod:`grainseg_core.inference`; import from there.

Layout (per axis, rows and columns alike): the tile side is rounded up to the network's
divisor; an axis shorter than one tile is padded by reflection at its end up to a
multiple of the divisor and gets one tile of that size. Longer axes get the fewest tiles
that overlap by at least ``overlap`` pixels, ``n = ceil((L - overlap) / (tile - overlap))``,
spread evenly from 0 to ``L - side`` (MONAI's sliding window), where ``side <= tile`` is
the smallest multiple of the divisor with which ``n`` tiles still span the axis (a
2048-px axis in 512-px tiles with 64 px overlap gets five 480-px tiles, not five of 512).
Tiles may therefore be rectangles.

Blending: each tile's output is weighted by a separable window that is 1 inside and rises
as ``sin^2`` over ``overlap`` pixels on every side that has a neighbour (sides on the
image frame keep weight 1, so border pixels do not rest on near-zero weights). Where two
ramps meet at exactly ``overlap`` pixels the weights sum to 1 (sin^2 + cos^2), and the sum
of the weights is divided out everywhere, so a predictor that commutes with cropping
(``2 * x``) is reproduced to float rounding. Because the windows are separable and the
tiles form a grid, the weight sum is an outer product of two 1-D sums: only the output
array itself is image-sized.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from grainseg_core._validation import check_int
from grainseg_core.errors import InputError
from grainseg_core.types import ProgressCallback

#: Most pixels sent to the predictor in one call: large tiles go one or a few at a time,
#: so that a network's activations stay bounded (a few hundred MB for a slim U-Net).
MAX_BATCH_PIXELS = 1 << 22

__all__ = [
    "MAX_BATCH_PIXELS",
    "AxisLayout",
    "axis_layout",
    "check_tiling_options",
    "count_tiles",
    "run_tiles",
    "to_numpy",
]


@dataclass(frozen=True)
class AxisLayout:
    """Tiling of one axis: tile side, padded length, tile starts and the 1-D windows."""

    length: int
    tile: int
    padded: int
    starts: tuple[int, ...]
    ramp: int

    def window(self, index: int) -> np.ndarray:
        """1-D weights (tile,) of tile ``index``: ramps only towards its neighbours."""
        w = np.ones(self.tile, dtype=np.float32)
        r = self.ramp
        if r > 0:
            rise = np.sin(0.5 * np.pi * (np.arange(r, dtype=np.float64) + 0.5) / r) ** 2
            if index > 0:
                w[:r] = rise
            if index < len(self.starts) - 1:
                w[-r:] = rise[::-1]
        return w

    def weight_sum(self) -> np.ndarray:
        """Sum of the windows of all tiles over the padded axis, (padded,) float32."""
        total = np.zeros(self.padded, dtype=np.float64)
        for i, s in enumerate(self.starts):
            total[s : s + self.tile] += self.window(i)
        return total.astype(np.float32)


def check_tiling_options(
    tile: Any, overlap: Any, batch: Any, divisor: Any
) -> tuple[int, int, int, int]:
    """Validate and return ``(tile, overlap, batch, divisor)``, tile rounded up to the divisor."""
    div = check_int(divisor, "divisor", low=1)
    t = check_int(tile, "tile", low=1)
    t = -(-t // div) * div
    ov = check_int(overlap, "overlap", low=0)
    if ov >= t:
        raise InputError(
            f"overlap ({ov} px) must be smaller than the tile ({t} px after rounding up to a "
            f"multiple of {div}); lower it (a quarter of the tile is plenty) or raise tile."
        )
    b = check_int(batch, "batch", low=1)
    return t, ov, b, div


def axis_layout(length: int, tile: int, overlap: int, divisor: int) -> AxisLayout:
    """Tile layout of one axis of ``length`` pixels (see the module docstring)."""
    rounded = -(-length // divisor) * divisor
    if rounded <= tile:
        return AxisLayout(length, rounded, rounded, (0,), 0)
    n = math.ceil((length - overlap) / (tile - overlap))
    # The fewest tiles of at most ``tile`` px that overlap by >= ``overlap``; then the
    # smallest divisor multiple that still spans the axis with them: no wasted pixels.
    side = min(tile, -(-math.ceil((length + (n - 1) * overlap) / n) // divisor) * divisor)
    starts = np.round(np.linspace(0, length - side, n)).astype(int)
    return AxisLayout(length, side, length, tuple(int(s) for s in starts), overlap)


def to_numpy(value: Any, expected: tuple[int, ...]) -> np.ndarray:
    """The predictor's output as float32 numpy (torch tensors are moved to the CPU)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().float().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"the predictor must return an array; got {type(value).__name__}."
        ) from exc
    if arr.shape != expected:
        raise InputError(
            f"the predictor returned shape {arr.shape} for a batch of shape {expected}; it "
            "must map (B, 1, h, w) to the same shape (one boundary map per tile)."
        )
    return arr


def _pad(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Reflect-pad at the bottom/right to (rows, cols); 1-pixel axes repeat their edge."""
    pad_r, pad_c = rows - image.shape[0], cols - image.shape[1]
    if pad_r == 0 and pad_c == 0:
        return image
    out = image
    for axis, pad in ((0, pad_r), (1, pad_c)):
        if pad == 0:
            continue
        widths = [(0, 0), (0, 0)]
        widths[axis] = (0, pad)
        # numpy reflects repeatedly when the pad is longer than the axis; a 1-pixel axis
        # has nothing to reflect.
        mode = "reflect" if out.shape[axis] > 1 else "edge"
        out = np.pad(out, widths, mode=mode)
    return out


def run_tiles(
    image: np.ndarray,
    predictor: Callable[[np.ndarray], Any],
    *,
    tile: int,
    overlap: int,
    batch: int,
    divisor: int,
    progress: ProgressCallback | None = None,
    progress_offset: int = 0,
    progress_total: int | None = None,
) -> np.ndarray:
    """Blend ``predictor`` over the tiles of a float32 (M, N) image; options already checked."""
    rows_l = axis_layout(image.shape[0], tile, overlap, divisor)
    cols_l = axis_layout(image.shape[1], tile, overlap, divisor)
    src = _pad(image, rows_l.padded, cols_l.padded)
    th, tw = rows_l.tile, cols_l.tile
    acc = np.zeros((rows_l.padded, cols_l.padded), dtype=np.float32)
    row_w = [rows_l.window(i) for i in range(len(rows_l.starts))]
    col_w = [cols_l.window(j) for j in range(len(cols_l.starts))]
    grid = [(i, j) for i in range(len(rows_l.starts)) for j in range(len(cols_l.starts))]
    total = progress_total if progress_total is not None else len(grid)
    batch = max(1, min(batch, MAX_BATCH_PIXELS // (th * tw)))
    buf = np.empty((min(batch, len(grid)), 1, th, tw), dtype=np.float32)
    for first in range(0, len(grid), batch):
        chunk = grid[first : first + batch]
        for k, (i, j) in enumerate(chunk):
            r, c = rows_l.starts[i], cols_l.starts[j]
            buf[k, 0] = src[r : r + th, c : c + tw]
        x = buf[: len(chunk)]
        out = to_numpy(predictor(x), x.shape)
        for k, (i, j) in enumerate(chunk):
            r, c = rows_l.starts[i], cols_l.starts[j]
            acc[r : r + th, c : c + tw] += out[k, 0] * row_w[i][:, None] * col_w[j][None, :]
        if progress is not None:
            progress(progress_offset + first + len(chunk), total)
    m, n = image.shape
    result = acc[:m, :n]
    result /= rows_l.weight_sum()[:m, None]
    result /= cols_l.weight_sum()[None, :n]
    return np.ascontiguousarray(result)


def count_tiles(shape: tuple[int, int], tile: int, overlap: int, divisor: int) -> int:
    """Number of tiles :func:`run_tiles` runs on an image of ``shape``."""
    return len(axis_layout(shape[0], tile, overlap, divisor).starts) * len(
        axis_layout(shape[1], tile, overlap, divisor).starts
    )
