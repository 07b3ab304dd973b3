"""Grain labelling and per-grain measurements (size, shape, orientation, perimeter).

Grains are the 4-connected components of non-boundary pixels, the image frame
counting as boundary (see ``CONTRIBUTING.md``). Every measurement is computed for
all grains at once by ``np.bincount`` over the row runs of the label map:
there is no per-grain Python loop, so 20,000 grains take a fraction of a second.

Definitions (``A`` = area in pixels, ``lam1 >= lam2`` = eigenvalues of the
population covariance of the grain's pixel-centre coordinates):

- ``ecd`` (equivalent circle diameter) = ``sqrt(4 A / pi)``.
- ``aspect_ratio`` = ``sqrt((lam1 + 1/12) / (lam2 + 1/12))``, i.e. the square root
  of the ratio of the two PCA explained variances (seed 000) computed on the
  grain's pixel *squares* rather than its pixel centres: a unit square pixel adds
  a variance of 1/12 on each axis. This keeps the ratio finite and exact for
  1-pixel grains (1.0), for straight 1-pixel lines of length n (n) and for any
  a x b axis-aligned rectangle (a / b); for grains of more than ~50 pixels it
  differs from the plain pixel-centre ratio by under a few per cent. It is >= 1.
- ``major_axis`` / ``minor_axis`` = ``4 sqrt(lam1)`` / ``4 sqrt(lam2)``: the axes of
  the ellipse with the same second moments, as ``skimage.measure.regionprops``
  computes them (pixel centres, no 1/12 term), so they can be cross-checked.
- ``orientation_deg``: angle of the major axis from the image's horizontal (column)
  axis, counter-clockwise as the image is displayed (rows run downwards), in
  (-90, 90]. 0 = elongated left-right, 90 = elongated top-bottom.
- ``perimeter``: the Crofton estimate from the number of times lines in four
  directions (0, 45, 90, 135 degrees) cross the grain's outline,
  ``P = pi/8 * (n_0 + n_90 + (n_45 + n_135) / sqrt(2))``, where ``n_d`` counts the
  pixel pairs at that offset with the grain on one side only (the frame counts as
  outside). It equals ``skimage.measure.perimeter_crofton(grain, directions=4)``.
  Exact for discs in the limit (a disc of radius 30 reads 0.7 % low); it reads
  3.79 s for an axis-aligned s x s square and 2.68 for a single pixel.
- ``touches_edge``: the grain has a pixel on the image frame.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import pandas as pd

from grainseg_core._validation import as_2d_array, as_boundary_mask, check_int, check_pixel_size
from grainseg_core.errors import InputError

__all__ = ["GRAIN_TABLE_COLUMNS", "label_grains", "grain_table"]

#: Columns of :func:`grain_table`, in order.
GRAIN_TABLE_COLUMNS: tuple[str, ...] = (
    "label",
    "area_px",
    "area_um2",
    "ecd_px",
    "ecd_um",
    "aspect_ratio",
    "major_axis_px",
    "minor_axis_px",
    "major_axis_um",
    "minor_axis_um",
    "orientation_deg",
    "perimeter_px",
    "perimeter_um",
    "centroid_row",
    "centroid_col",
    "touches_edge",
)

# Variance of a uniform unit interval: a pixel is a unit square, not a point.
_PIXEL_VARIANCE = 1.0 / 12.0

# Pixel-pair offsets (d_row, d_col) and Crofton weights (line spacing): the axial
# directions have spacing 1, the diagonals 1/sqrt(2).
_CROFTON_OFFSETS: tuple[tuple[int, int, float], ...] = (
    (0, 1, 1.0),
    (1, 0, 1.0),
    (1, 1, 1.0 / math.sqrt(2.0)),
    (1, -1, 1.0 / math.sqrt(2.0)),
)


def label_grains(boundary: Any) -> np.ndarray:
    """Label the grains of a boundary mask.

    Parameters
    ----------
    boundary : array_like, bool (M, N)
        Grain-boundary mask, True = boundary (0/1 or 0/255 numbers are accepted).

    Returns
    -------
    numpy.ndarray, int32 (M, N)
        0 on boundary pixels, 1..n on the n grains (4-connected components of
        non-boundary pixels), numbered in raster order of their first pixel.

    Raises
    ------
    InputError
        If ``boundary`` is not a 2-D boolean or numeric array.

    Examples
    --------
    >>> b = np.zeros((3, 5), bool); b[:, 2] = True
    >>> label_grains(b)
    array([[1, 1, 0, 2, 2],
           [1, 1, 0, 2, 2],
           [1, 1, 0, 2, 2]], dtype=int32)
    """
    return label_foreground(~as_boundary_mask(boundary, "boundary"))


def label_foreground(foreground: np.ndarray) -> np.ndarray:
    """4-connected components of a bool mask: int32, 0 = background, 1..n in raster order.

    The numbering of ``skimage.measure.label(foreground, connectivity=1)`` (checked by
    the tests), from OpenCV's block-based labelling, about twice as fast on a micrograph.
    """
    if foreground.size == 0:
        return np.zeros(foreground.shape, dtype=np.int32)
    fg = np.ascontiguousarray(foreground, dtype=bool).view(np.uint8)
    return cv2.connectedComponents(fg, connectivity=4, ltype=cv2.CV_32S)[1]


def _as_labels(boundary_or_labels: Any) -> np.ndarray:
    arr = as_2d_array(boundary_or_labels, "boundary_or_labels")
    if arr.dtype == bool:
        return label_grains(arr)
    if not np.issubdtype(arr.dtype, np.integer):
        raise InputError(
            "boundary_or_labels must be a bool boundary mask (True = boundary) or an "
            f"integer label map (0 = boundary, 1..n = grains); got dtype {arr.dtype}. "
            "Threshold a probability map first, or cast a label map to int."
        )
    if arr.size and int(arr.min()) < 0:
        raise InputError(
            "boundary_or_labels (integer labels) must be >= 0 (0 = boundary); "
            f"got a minimum of {int(arr.min())}."
        )
    return arr


def _empty_table() -> pd.DataFrame:
    dtypes = {c: np.float64 for c in GRAIN_TABLE_COLUMNS}
    dtypes.update(label=np.int32, area_px=np.int64, touches_edge=bool)
    return pd.DataFrame({c: np.empty(0, dtype=dtypes[c]) for c in GRAIN_TABLE_COLUMNS})


def _row_runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split every row into runs of equal label; return (label, row, first col, last col).

    Grains are measured from their runs rather than their pixels: a grain of
    diameter d has ~d runs for ~d**2 pixels, so the per-grain sums below touch
    far fewer elements. Runs of label 0 are dropped.
    """
    m, n = labels.shape
    flat = np.ravel(labels)
    change = np.empty(flat.size, dtype=bool)
    change[0] = True
    np.not_equal(flat[1:], flat[:-1], out=change[1:])
    change[::n] = True  # every row starts a run
    starts = np.flatnonzero(change)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:] - 1
    ends[-1] = flat.size - 1
    lab = flat[starts]
    keep = lab != 0
    starts, ends, lab = starts[keep], ends[keep], lab[keep].astype(np.intp)
    row = starts // n
    return lab, row, starts - row * n, ends - row * n


def _crofton_counts(labels: np.ndarray, n_runs: np.ndarray, n_bins: int) -> np.ndarray:
    """Return the weighted outline-crossing counts per label (length ``n_bins``)."""
    # Horizontal crossings: each run is bounded by another label (or the frame) on both sides.
    total = 2.0 * n_runs.astype(np.float64)
    # The frame counts as outside every grain. Pairs are compared on the flat padded map
    # shifted by d_row * n + d_col: a pair that wraps around a row end has frame pixels
    # (0) on both sides, so it never differs, and no 2-D views need copying. 16-bit
    # labels halve the memory traffic of the comparisons.
    dtype = np.uint16 if n_bins <= np.iinfo(np.uint16).max + 1 else labels.dtype
    padded = np.zeros((labels.shape[0] + 2, labels.shape[1] + 2), dtype=dtype)
    padded[1:-1, 1:-1] = labels
    flat = padded.ravel()
    n = padded.shape[1]
    for d_row, d_col, spacing in _CROFTON_OFFSETS[1:]:
        shift = d_row * n + d_col
        first = np.flatnonzero(flat[:-shift] != flat[shift:])
        # A crossing counts once for each grain on either side (0 = not a grain).
        sides = np.concatenate([flat[first], flat[first + shift]])
        total += spacing * np.bincount(sides, minlength=n_bins)[:n_bins]
    total[0] = 0.0
    return total


def _sum_squares(k: np.ndarray) -> np.ndarray:
    """sum(x**2 for x in 1..k), valid as a polynomial for any integer k (float64)."""
    return k * (k + 1.0) * (2.0 * k + 1.0) / 6.0


def grain_table(
    boundary_or_labels: Any,
    *,
    pixel_size_um: float | None = None,
    min_size_px: int = 0,
    exclude_edge: bool = False,
) -> pd.DataFrame:
    """Measure every grain: size, shape (PCA aspect ratio), orientation, perimeter.

    Parameters
    ----------
    boundary_or_labels : array_like (M, N)
        Either a bool boundary mask (True = boundary), which is labelled with
        :func:`label_grains`, or an integer label map (0 = not a grain, k > 0 = grain k;
        labels need not be consecutive). A label with several disconnected parts is
        measured as one grain.
    pixel_size_um : float, optional
        Micrometres per pixel; without it the ``*_um*`` columns are NaN.
    min_size_px : int
        Drop grains with fewer pixels than this (seed 000 used 3, 7 and 11).
    exclude_edge : bool
        Drop grains touching the image frame (their size is cut by the frame).

    Returns
    -------
    pandas.DataFrame
        One row per grain, ordered by label, index 0..k-1, columns
        :data:`GRAIN_TABLE_COLUMNS` (definitions in the module docstring):
        ``label`` int32, ``area_px`` int64, ``touches_edge`` bool, the rest float64.
        An empty map gives an empty table with the same columns.

    Raises
    ------
    InputError
        If the input is not 2-D, is neither bool nor integer, has negative labels,
        or if ``pixel_size_um`` or ``min_size_px`` is out of range.

    Examples
    --------
    >>> b = np.zeros((4, 9), bool); b[:, 4] = True
    >>> t = grain_table(b, pixel_size_um=0.5)
    >>> t[["label", "area_px", "aspect_ratio", "area_um2"]].to_dict("list")
    {'label': [1, 2], 'area_px': [16, 16], 'aspect_ratio': [1.0, 1.0], 'area_um2': [4.0, 4.0]}
    """
    pixel = check_pixel_size(pixel_size_um)
    min_size_px = check_int(min_size_px, "min_size_px", low=0)
    labels = _as_labels(boundary_or_labels)
    if labels.size == 0 or not labels.any():
        return _empty_table()

    # Compact sparse label values so that bincount arrays stay small.
    max_label = int(labels.max())
    if max_label > 4 * labels.size:
        present, inverse = np.unique(labels, return_inverse=True)
        if present[0] != 0:
            present = np.concatenate([[0], present])
            inverse = inverse + 1
        compact = inverse.reshape(labels.shape).astype(np.int32)
    else:
        present = None
        compact = labels
    n_bins = int(compact.max()) + 1

    lab, row_i, first_i, last_i = _row_runs(compact)
    row, first, last = (
        row_i.astype(np.float64),
        first_i.astype(np.float64),
        last_i.astype(np.float64),
    )
    n_runs = np.bincount(lab, minlength=n_bins)
    length = last - first + 1.0
    area = np.bincount(lab, weights=length, minlength=n_bins)
    keep = np.flatnonzero(area)
    keep = keep[keep > 0]
    safe = np.maximum(area, 1.0)
    # Pass 1: centroids (exact integer sums in float64).
    c_row = np.bincount(lab, weights=length * row, minlength=n_bins) / safe
    c_col = np.bincount(lab, weights=0.5 * length * (first + last), minlength=n_bins) / safe
    # Pass 2: second moments about each grain's rounded centroid (no cancellation).
    y = row - np.floor(c_row)[lab]
    ref = np.floor(c_col)[lab]
    x0, x1 = first - ref, last - ref
    sx = 0.5 * length * (x0 + x1)
    sxx = _sum_squares(x1) - _sum_squares(x0 - 1.0)
    m_y = c_row - np.floor(c_row)
    m_x = c_col - np.floor(c_col)
    var_r = np.bincount(lab, weights=length * y * y, minlength=n_bins) / safe - m_y**2
    var_c = np.bincount(lab, weights=sxx, minlength=n_bins) / safe - m_x**2
    cov = np.bincount(lab, weights=y * sx, minlength=n_bins) / safe - m_y * m_x
    var_r, var_c = np.maximum(var_r, 0.0), np.maximum(var_c, 0.0)
    area_f = area
    area = np.rint(area).astype(np.int64)

    half_trace = 0.5 * (var_r + var_c)
    radius = np.sqrt((0.5 * (var_r - var_c)) ** 2 + cov**2)
    lam1 = half_trace + radius
    lam2 = np.maximum(half_trace - radius, 0.0)  # rounding can dip below zero
    aspect = np.sqrt((lam1 + _PIXEL_VARIANCE) / (lam2 + _PIXEL_VARIANCE))
    # Major axis in (x = col, y = row) image coordinates: tan(2a) = 2 cov / (var_c - var_r).
    # Rows run downwards, so the angle as displayed is -a; atan2 puts it in (-90, 90].
    theta = 0.5 * np.degrees(np.arctan2(-2.0 * cov, var_c - var_r))
    theta = np.where(theta <= -90.0, theta + 180.0, theta) + 0.0  # + 0.0 turns -0.0 into 0.0

    frame = np.concatenate([compact[0], compact[-1], compact[:, 0], compact[:, -1]])
    touches = np.zeros(n_bins, dtype=bool)
    touches[frame] = True

    perimeter = (math.pi / 8.0) * _crofton_counts(compact, n_runs, n_bins)

    k = keep
    ecd = np.sqrt(4.0 * area_f[k] / math.pi)
    major = 4.0 * np.sqrt(lam1[k])
    minor = 4.0 * np.sqrt(lam2[k])
    scale = np.nan if pixel is None else pixel
    label_values = k if present is None else present[k]
    table = pd.DataFrame(
        {
            "label": np.asarray(label_values, dtype=np.int32),
            "area_px": area[k].astype(np.int64),
            "area_um2": area_f[k] * scale**2,
            "ecd_px": ecd,
            "ecd_um": ecd * scale,
            "aspect_ratio": aspect[k],
            "major_axis_px": major,
            "minor_axis_px": minor,
            "major_axis_um": major * scale,
            "minor_axis_um": minor * scale,
            "orientation_deg": theta[k],
            "perimeter_px": perimeter[k],
            "perimeter_um": perimeter[k] * scale,
            "centroid_row": c_row[k],
            "centroid_col": c_col[k],
            "touches_edge": touches[k],
        }
    )
    selected = table["area_px"].to_numpy() >= min_size_px
    if exclude_edge:
        selected &= ~table["touches_edge"].to_numpy()
    if not selected.all():
        table = table.loc[selected].reset_index(drop=True)
    return table
