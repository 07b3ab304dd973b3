"""Manual corrections of a boundary mask: strokes that draw or erase boundary.

A user corrects a segmentation with two tools:

- **draw** (split a grain): the stroke is rasterised as boundary. A 1-px stroke is drawn
  as an 8-connected line, which is enough to cut a 4-connected grain in two (grains are
  the 4-connected components of non-boundary pixels, see ``CONTRIBUTING.md``). With
  ``snap_px`` > 0, each end of a draw stroke that stops short of the existing boundary is
  joined to the nearest boundary pixel within ``snap_px`` (a stroke drawn on a
  down-scaled view easily ends a pixel or two before the line it meant to reach).
- **erase** (merge grains): the stroke's pixels are set to non-boundary, so the grains on
  either side join when the stroke covers the full width of the boundary between them.

Strokes apply in order, so erasing over a drawn stroke removes it again. Points are
(row, col) in image pixels (fractions allowed; they are rounded to pixel centres).

Example
-------
>>> from grainseg_core.grains import label_grains
>>> b = np.zeros((5, 7), bool)
>>> split = apply_corrections(b, [Stroke(((0, 3), (4, 3)))])
>>> int(label_grains(split).max())
2
>>> merged = apply_corrections(split, [Stroke(((2, 2), (2, 4)), mode="erase", width_px=1)])
>>> int(label_grains(merged).max())
1
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from grainseg_core._validation import as_boundary_mask
from grainseg_core.errors import InputError, unknown_name_error

__all__ = ["STROKE_MODES", "MAX_STROKE_WIDTH_PX", "Stroke", "stroke_mask", "apply_corrections"]

#: Accepted values of :attr:`Stroke.mode`.
STROKE_MODES: tuple[str, ...] = ("draw", "erase")
#: Widest stroke accepted, in pixels (a wider brush is a mistake, not a correction).
MAX_STROKE_WIDTH_PX = 256.0
#: Most points one stroke may hold (a free-hand stroke has a few hundred).
MAX_STROKE_POINTS = 100_000


def _check_points(points: Any) -> tuple[tuple[float, float], ...]:
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"stroke points must be a sequence of (row, col) numbers; got {type(points).__name__}."
        ) from exc
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1:
        raise InputError(
            f"stroke points must have shape (K, 2) with K >= 1 (row, col) pairs; got shape "
            f"{arr.shape}."
        )
    if arr.shape[0] > MAX_STROKE_POINTS:
        raise InputError(
            f"a stroke has {arr.shape[0]:,} points, more than {MAX_STROKE_POINTS:,}; split it."
        )
    if not np.isfinite(arr).all():
        raise InputError("stroke points must be finite numbers; found NaN or infinity.")
    return tuple((float(r), float(c)) for r, c in arr)


@dataclass(frozen=True)
class Stroke:
    """One correction stroke: a polyline drawn or erased with a round brush.

    Attributes
    ----------
    points : tuple of (row, col)
        Vertices in image pixels, in drawing order; one point draws a dot. Any (K, 2)
        array-like is accepted and stored as a tuple (so strokes are hashable).
    mode : {"draw", "erase"}
        ``"draw"`` adds boundary (splits a grain), ``"erase"`` removes it (merges grains).
    width_px : float
        Brush width in image pixels, in [1, 256]; rounded to whole pixels.

    Examples
    --------
    >>> Stroke(np.array([[0, 0], [2.5, 3]])).points
    ((0.0, 0.0), (2.5, 3.0))
    """

    points: tuple[tuple[float, float], ...]
    mode: str = "draw"
    width_px: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", _check_points(self.points))
        if self.mode not in STROKE_MODES:
            raise unknown_name_error("stroke mode", str(self.mode), STROKE_MODES, InputError)
        try:
            width = float(self.width_px)
        except (TypeError, ValueError) as exc:
            raise InputError(f"stroke width_px must be a number; got {self.width_px!r}.") from exc
        if not (1.0 <= width <= MAX_STROKE_WIDTH_PX):
            raise InputError(
                f"stroke width_px must be in [1, {MAX_STROKE_WIDTH_PX:g}] pixels; "
                f"got {self.width_px!r}."
            )
        object.__setattr__(self, "width_px", width)


def _check_shape(shape: Any) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in shape)
    except (TypeError, ValueError) as exc:
        raise InputError(f"shape must be (rows, cols); got {shape!r}.") from exc
    if rows < 1 or cols < 1:
        raise InputError(f"shape must have positive sides; got {shape!r}.")
    return rows, cols


def _xy(points: Sequence[tuple[float, float]]) -> np.ndarray:
    """(row, col) floats -> (x, y) int32 pixel centres for OpenCV."""
    rc = np.rint(np.asarray(points, dtype=np.float64))
    return np.ascontiguousarray(rc[:, ::-1], dtype=np.int32)


def _draw(canvas: np.ndarray, xy: np.ndarray, width: int) -> None:
    """Rasterise a polyline (or a dot) into ``canvas`` (uint8, in place) with value 1."""
    if len(xy) == 1 or (xy == xy[0]).all():
        x, y = (int(v) for v in xy[0])
        if width <= 1:
            if 0 <= y < canvas.shape[0] and 0 <= x < canvas.shape[1]:
                canvas[y, x] = 1
        else:
            cv2.circle(canvas, (x, y), width // 2, 1, thickness=-1, lineType=cv2.LINE_8)
        return
    # LINE_8 gives 8-connected 1-px lines: they separate 4-connected grains.
    cv2.polylines(
        canvas,
        [xy.reshape(-1, 1, 2)],
        isClosed=False,
        color=1,
        thickness=max(1, width),
        lineType=cv2.LINE_8,
    )


def stroke_mask(shape: tuple[int, int], stroke: Stroke) -> np.ndarray:
    """Rasterise one stroke into a bool mask of ``shape``.

    Parameters
    ----------
    shape : (M, N)
    stroke : Stroke
        Points outside the image are allowed; the part inside is drawn.

    Returns
    -------
    bool ndarray, shape (M, N)
        True under the stroke.

    Examples
    --------
    >>> stroke_mask((3, 4), Stroke(((1, 0), (1, 3)))).astype(int)
    array([[0, 0, 0, 0],
           [1, 1, 1, 1],
           [0, 0, 0, 0]])
    """
    rows, cols = _check_shape(shape)
    if not isinstance(stroke, Stroke):
        raise InputError(f"stroke must be a Stroke; got {type(stroke).__name__}.")
    canvas = np.zeros((rows, cols), np.uint8)
    _draw(canvas, _xy(stroke.points), int(round(stroke.width_px)))
    return canvas.view(bool)


def _snap_end(
    base: np.ndarray, end: np.ndarray, toward: np.ndarray, snap_px: float
) -> np.ndarray | None:
    """Nearest pixel of ``base`` within ``snap_px`` of ``end`` (row, col), or None.

    Pixels on the stroke's own side (closer to the previous vertex ``toward`` than to
    ``end``) are ignored, so a stroke is not snapped back onto where it came from.
    """
    rows, cols = base.shape
    r, c = int(end[0]), int(end[1])
    if not (0 <= r < rows and 0 <= c < cols):
        return None
    if base[r, c]:
        return None  # already on the boundary
    k = int(math.ceil(snap_px))
    r0, r1 = max(0, r - k), min(rows, r + k + 1)
    c0, c1 = max(0, c - k), min(cols, c + k + 1)
    rr, cc = np.nonzero(base[r0:r1, c0:c1])
    if rr.size == 0:
        return None
    rr, cc = rr + r0, cc + c0
    d2 = (rr - r) ** 2 + (cc - c) ** 2
    keep = d2 <= snap_px**2
    if not (end == toward).all():
        keep &= d2 < (rr - toward[0]) ** 2 + (cc - toward[1]) ** 2
    if not keep.any():
        return None
    best = np.argmin(np.where(keep, d2, np.iinfo(d2.dtype).max))
    return np.array([rr[best], cc[best]])


def apply_corrections(
    boundary: Any,
    strokes: Iterable[Stroke],
    *,
    snap_px: float = 0.0,
) -> np.ndarray:
    """Apply correction strokes, in order, to a boundary mask.

    Parameters
    ----------
    boundary : bool array_like (M, N)
        True = boundary. Not modified.
    strokes : iterable of Stroke
        ``"draw"`` strokes add boundary, ``"erase"`` strokes remove it.
    snap_px : float, default 0
        Join each end of a draw stroke to the nearest pixel of the *input* boundary within
        this distance (0 = off), with a 1-px line.

    Returns
    -------
    bool ndarray (M, N)
        The corrected mask (a new array).

    Raises
    ------
    InputError
        Not a 2-D mask, a non-Stroke item, a negative or non-finite ``snap_px``.

    Examples
    --------
    >>> b = np.zeros((5, 9), bool); b[:, 0] = True
    >>> out = apply_corrections(b, [Stroke(((2, 2), (2, 8)))], snap_px=2)
    >>> out[2, :3].tolist()
    [True, True, True]
    """
    base = as_boundary_mask(boundary, "boundary")
    try:
        snap = float(snap_px)
    except (TypeError, ValueError) as exc:
        raise InputError(f"snap_px must be a number of pixels >= 0; got {snap_px!r}.") from exc
    if not math.isfinite(snap) or snap < 0:
        raise InputError(f"snap_px must be a number of pixels >= 0; got {snap_px!r}.")
    items = list(strokes)
    for i, s in enumerate(items):
        if not isinstance(s, Stroke):
            raise InputError(f"strokes[{i}] must be a Stroke; got {type(s).__name__}.")
    out = base.copy()
    canvas = np.zeros(base.shape, np.uint8)
    for s in items:
        canvas.fill(0)
        xy = _xy(s.points)
        width = int(round(s.width_px))
        _draw(canvas, xy, width)
        if s.mode == "draw" and snap > 0:
            rc = xy[:, ::-1]
            for end, toward in ((rc[0], rc[min(1, len(rc) - 1)]), (rc[-1], rc[max(-2, -len(rc))])):
                target = _snap_end(base, end, toward, snap)
                if target is not None:
                    _draw(canvas, np.array([end[::-1], target[::-1]], np.int32), 1)
        hit = canvas.view(bool)
        if s.mode == "draw":
            out |= hit
        else:
            out &= ~hit
    return out
