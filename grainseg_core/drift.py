"""Data for inspecting SEM-EBSD drift: overlays, quiver tables, magnitudes, widths.

Everything here is numpy / pandas in, numpy / pandas out, for the dataset-building page
of the app (no plotting library). Drift fields follow the package convention: float32
(2, M, N) = (d_row, d_col) on the SEM grid, ``ebsd[r + d_row, c + d_col] ~= sem[r, c]``
(the ``drift`` of :func:`grainseg_core.registration.register`).

Seed 000 (``shared/seeds``) saw the drift in two places: overlays of the EBSD boundary
map on the SEM image, and boundary widths, with predicted boundaries ~9 px wider than
the labels on average (max 21) and a bimodal label width distribution. Both are here:
:func:`sem_label_overlay` and :func:`boundary_width_table` /
:func:`boundary_width_summary`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from grainseg_core._validation import as_boundary_mask, check_int, check_pixel_size
from grainseg_core.errors import InputError, unknown_name_error
from grainseg_core.metrics import boundary_width_distribution, boundary_widths
from grainseg_core.overlays import (
    blend_overlay,
    checkerboard_overlay,
    edge_overlay,
    false_color_overlay,
)

__all__ = [
    "OVERLAY_KINDS",
    "drift_magnitude",
    "drift_vectors",
    "drift_summary",
    "sem_label_overlay",
    "boundary_width_table",
    "boundary_width_summary",
]


# --------------------------------------------------------------------------- drift fields


def _check_drift(drift: Any, name: str = "drift") -> np.ndarray:
    try:
        arr = np.asarray(drift)
    except Exception as exc:  # noqa: BLE001 - anything numpy rejects
        raise InputError(f"{name} could not be read as an array: {exc}") from exc
    if arr.ndim != 3 or arr.shape[0] != 2 or min(arr.shape[1:]) < 1:
        raise InputError(
            f"{name} must be a (2, M, N) array of (d_row, d_col) in pixels; got shape {arr.shape}."
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{name} must be numeric; got dtype {arr.dtype}.")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=0).sum())
        raise InputError(f"{name} has {bad} pixels with NaN or infinite values.")
    return arr


def drift_magnitude(drift: np.ndarray) -> np.ndarray:
    """Length of the drift vector at every pixel, float32 (M, N) in pixels.

    Parameters
    ----------
    drift : ndarray (2, M, N)
        ``(d_row, d_col)`` in pixels.

    Returns
    -------
    ndarray (M, N) float32

    Example
    -------
    >>> d = np.zeros((2, 2, 3), np.float32); d[0] = 3.0; d[1] = -4.0
    >>> drift_magnitude(d)[0, 0].item()
    5.0
    """
    d = _check_drift(drift)
    return np.hypot(d[0], d[1]).astype(np.float32)


def drift_vectors(
    drift: np.ndarray, *, step: int = 32, pixel_size_um: float | None = None
) -> pd.DataFrame:
    """Drift vectors sampled on a regular grid, one row each, for a quiver plot.

    Parameters
    ----------
    drift : ndarray (2, M, N)
        ``(d_row, d_col)`` in pixels.
    step : int
        Grid spacing in pixels; samples sit at the centres of ``step`` x ``step``
        blocks (``step // 2``, ``step // 2 + step``, ...), or at the middle of an
        image smaller than one block.
    pixel_size_um : float, optional
        Adds ``magnitude_um``.

    Returns
    -------
    pandas.DataFrame
        Columns ``row, col`` (int, sample position), ``d_row, d_col, magnitude_px``
        (float, pixels) and ``magnitude_um`` when a pixel size is given; rows in
        raster order.

    Example
    -------
    >>> d = np.zeros((2, 64, 64), np.float32); d[1] = 2.0
    >>> t = drift_vectors(d, step=32)
    >>> t[["row", "col", "d_col"]].values.tolist()
    [[16.0, 16.0, 2.0], [16.0, 48.0, 2.0], [48.0, 16.0, 2.0], [48.0, 48.0, 2.0]]
    """
    d = _check_drift(drift)
    step = check_int(step, "step", low=1)
    size = check_pixel_size(pixel_size_um)
    rows, cols = d.shape[1:]

    def centres(length: int) -> np.ndarray:
        pts = np.arange(step // 2, length, step)
        return pts if pts.size else np.array([length // 2])

    rr, cc = np.meshgrid(centres(rows), centres(cols), indexing="ij")
    dr = d[0][rr, cc].ravel().astype(np.float64)
    dc = d[1][rr, cc].ravel().astype(np.float64)
    table = pd.DataFrame(
        {
            "row": rr.ravel().astype(np.int64),
            "col": cc.ravel().astype(np.int64),
            "d_row": dr,
            "d_col": dc,
            "magnitude_px": np.hypot(dr, dc),
        }
    )
    if size is not None:
        table["magnitude_um"] = table["magnitude_px"] * size
    return table


def drift_summary(
    drift: np.ndarray, *, pixel_size_um: float | None = None, margin_px: int = 0
) -> dict[str, float]:
    """Statistics of a drift field's magnitude, in pixels (and micrometres).

    Parameters
    ----------
    drift : ndarray (2, M, N)
        ``(d_row, d_col)`` in pixels.
    pixel_size_um : float, optional
        Adds the ``*_um`` keys.
    margin_px : int
        Leave out this many pixels along every edge (where the field is extrapolated).

    Returns
    -------
    dict
        ``mean_d_row_px, mean_d_col_px`` (the rigid part), ``mean_px, median_px,
        p95_px, max_px, rms_px`` of the magnitude, ``n_pixels``, and
        ``mean_um, median_um, p95_um, max_um, rms_um`` when a pixel size is given.

    Example
    -------
    >>> d = np.zeros((2, 4, 4), np.float32); d[0] = 3.0; d[1] = 4.0
    >>> drift_summary(d, pixel_size_um=0.1)["max_um"]
    0.5
    """
    d = _check_drift(drift)
    size = check_pixel_size(pixel_size_um)
    margin = check_int(margin_px, "margin_px", low=0)
    rows, cols = d.shape[1:]
    if 2 * margin >= min(rows, cols):
        raise InputError(
            f"margin_px ({margin}) leaves nothing of a {rows}x{cols} field; use less than "
            f"{min(rows, cols) // 2}."
        )
    inner = d[:, margin : rows - margin, margin : cols - margin].astype(np.float64)
    mag = np.hypot(inner[0], inner[1]).ravel()
    out = {
        "mean_d_row_px": float(inner[0].mean()),
        "mean_d_col_px": float(inner[1].mean()),
        "mean_px": float(mag.mean()),
        "median_px": float(np.median(mag)),
        "p95_px": float(np.percentile(mag, 95)),
        "max_px": float(mag.max()),
        "rms_px": float(np.sqrt((mag**2).mean())),
        "n_pixels": int(mag.size),
    }
    if size is not None:
        for key in ("mean", "median", "p95", "max", "rms"):
            out[f"{key}_um"] = out[f"{key}_px"] * size
    return out


# --------------------------------------------------------------------------- overlays


def _label_image(boundary: np.ndarray) -> np.ndarray:
    """The boundary map drawn like an SEM image of grooves: black lines on white."""
    return np.where(boundary, 0, 255).astype(np.uint8)


def _blend(sem: np.ndarray, boundary: np.ndarray, *, alpha: float, **_: Any) -> np.ndarray:
    return blend_overlay(sem, _label_image(boundary), alpha)


def _checker(sem: np.ndarray, boundary: np.ndarray, *, tile: int, **_: Any) -> np.ndarray:
    return checkerboard_overlay(sem, _label_image(boundary), tile=tile)


def _edges(
    sem: np.ndarray, boundary: np.ndarray, *, color: Sequence[int], alpha: float, **_: Any
) -> np.ndarray:
    return edge_overlay(sem, boundary, color=color, alpha=alpha)


def _false_color(sem: np.ndarray, boundary: np.ndarray, **_: Any) -> np.ndarray:
    return false_color_overlay(sem, _label_image(boundary))


#: Overlay kinds of :func:`sem_label_overlay`, by name.
OVERLAY_KINDS: dict[str, Callable[..., np.ndarray]] = {
    "edges": _edges,
    "blend": _blend,
    "checkerboard": _checker,
    "false_color": _false_color,
}


def sem_label_overlay(
    sem_image: np.ndarray,
    boundary: np.ndarray,
    *,
    kind: str = "edges",
    alpha: float = 0.5,
    tile: int = 64,
    color: Sequence[int] = (0, 255, 0),
) -> np.ndarray:
    """Overlay of a boundary map on its SEM image, to see the drift between them.

    Parameters
    ----------
    sem_image : ndarray (M, N) or (M, N, 3)
        The micrograph, any dtype (display-normalised by the overlay functions).
    boundary : ndarray (M, N) bool
        EBSD-derived boundary map on the SEM grid (as given, or warped by
        :func:`grainseg_core.registration.warp_label`).
    kind : {"edges", "blend", "checkerboard", "false_color"}
        ``"edges"``: boundaries drawn in ``color`` over the image (opacity ``alpha``);
        ``"blend"``: the image blended with the map drawn as black lines on white
        (weight ``alpha`` on the map); ``"checkerboard"``: tiles of ``tile`` px
        alternating between image and map, where drift shows as lines broken at tile
        edges; ``"false_color"``: image in green, map in magenta.
    alpha : float in [0, 1]
        Opacity of the map ("edges", "blend").
    tile : int
        Checkerboard tile size in pixels.
    color : (R, G, B)
        Boundary colour of "edges".

    Returns
    -------
    ndarray (M, N, 3) uint8

    Example
    -------
    >>> sem = np.full((4, 4), 200, np.uint8); lab = np.eye(4, dtype=bool)
    >>> sem_label_overlay(sem, lab, kind="edges", alpha=1.0)[0, 0].tolist()
    [0, 255, 0]
    """
    if kind not in OVERLAY_KINDS:
        raise unknown_name_error("overlay kind", kind, OVERLAY_KINDS, error=InputError)
    lab = as_boundary_mask(boundary, "boundary")
    sem = np.asarray(sem_image)
    if sem.shape[:2] != lab.shape:
        raise InputError(
            f"boundary (shape {lab.shape}) must match sem_image (shape {sem.shape[:2]}); "
            "warp or resample the map onto the SEM grid first."
        )
    return OVERLAY_KINDS[kind](sem, lab, alpha=alpha, tile=tile, color=color)


# --------------------------------------------------------------------------- boundary widths


def _named_masks(label: Any, corrected: Any, prediction: Any) -> dict[str, np.ndarray]:
    masks = {"label": as_boundary_mask(label, "label")}
    for name, value in (("corrected", corrected), ("prediction", prediction)):
        if value is not None:
            mask = as_boundary_mask(value, name)
            if mask.shape != masks["label"].shape:
                raise InputError(
                    f"{name} (shape {mask.shape}) must match label (shape {masks['label'].shape})."
                )
            masks[name] = mask
    return masks


def _zero_bins(bin_px: float, max_width_px: float, size: float | None) -> pd.DataFrame:
    """The bins :func:`boundary_width_distribution` uses, with zero counts."""
    n_bins = max(1, int(math.ceil((max_width_px - 0.5) / bin_px - 1e-9)))
    edges = 0.5 + bin_px * np.arange(n_bins + 1)
    table = pd.DataFrame(
        {
            "width_lo_px": edges[:-1],
            "width_hi_px": edges[1:],
            "width_px": (edges[:-1] + edges[1:]) / 2,
            "count": np.zeros(n_bins, np.int64),
            "fraction": np.zeros(n_bins),
        }
    )
    if size is not None:
        table["width_um"] = table["width_px"] * size
    return table


def boundary_width_table(
    label: np.ndarray,
    *,
    corrected: np.ndarray | None = None,
    prediction: np.ndarray | None = None,
    bin_px: float = 1.0,
    max_width_px: float | None = None,
    pixel_size_um: float | None = None,
) -> pd.DataFrame:
    """Histograms of local boundary width (seed 000 Fig. 5) on shared bins, long format.

    Widths come from :func:`grainseg_core.metrics.boundary_widths` (local width at
    every skeleton pixel of the boundary mask).

    Parameters
    ----------
    label : ndarray (M, N) bool
        The EBSD-derived boundary map as given.
    corrected : ndarray (M, N) bool, optional
        The same map after drift correction.
    prediction : ndarray (M, N) bool, optional
        A model's predicted boundary mask.
    bin_px : float
        Bin width in pixels (bins ``[0.5 + k bin_px, 0.5 + (k + 1) bin_px)``).
    max_width_px : float, optional
        Upper end of the last bin; default: the widest boundary of all maps, so
        every map is binned alike. Wider pixels count in the last bin.
    pixel_size_um : float, optional
        Adds ``width_um``.

    Returns
    -------
    pandas.DataFrame
        Columns ``map`` ("label", "corrected", "prediction"), ``width_lo_px,
        width_hi_px, width_px, count, fraction`` (of that map's skeleton pixels), and
        ``width_um`` with a pixel size. One block of rows per map, same bins; a map
        with no boundary has counts and fractions 0.

    Example
    -------
    >>> lab = np.zeros((20, 30), bool); lab[5, :] = True
    >>> pred = np.zeros((20, 30), bool); pred[4:7, :] = True
    >>> t = boundary_width_table(lab, prediction=pred)
    >>> t[t["count"] > 0][["map", "width_px"]].values.tolist()
    [['label', 1.0], ['prediction', 3.0]]
    """
    masks = _named_masks(label, corrected, prediction)
    ok = isinstance(bin_px, (int, float, np.integer, np.floating)) and not isinstance(bin_px, bool)
    if not ok or not math.isfinite(bin_px) or bin_px <= 0:
        raise InputError(f"bin_px must be a positive number of pixels; got {bin_px!r}.")
    if max_width_px is None:
        tops = [float(w.max()) for w in map(boundary_widths, masks.values()) if w.size]
        max_width_px = max(max(tops) if tops else 1.0, 1.0)
    else:
        ok = isinstance(max_width_px, (int, float, np.integer, np.floating))
        if (
            not ok
            or isinstance(max_width_px, bool)
            or not (math.isfinite(max_width_px) and max_width_px > 0.5)
        ):
            raise InputError(
                f"max_width_px must be a number of pixels > 0.5; got {max_width_px!r}."
            )
        max_width_px = float(max_width_px)
    frames = []
    for name, mask in masks.items():
        table = boundary_width_distribution(
            mask, bin_px=bin_px, max_width_px=max_width_px, pixel_size_um=pixel_size_um
        )
        if table.empty:  # no boundary: the same bins, all zero
            table = _zero_bins(bin_px, max_width_px, check_pixel_size(pixel_size_um))
        table.insert(0, "map", name)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def boundary_width_summary(
    label: np.ndarray,
    *,
    corrected: np.ndarray | None = None,
    prediction: np.ndarray | None = None,
    pixel_size_um: float | None = None,
) -> pd.DataFrame:
    """Mean, median, 95th percentile and maximum boundary width of each map.

    Parameters
    ----------
    label, corrected, prediction : ndarray (M, N) bool
        As in :func:`boundary_width_table`.
    pixel_size_um : float, optional
        Adds ``mean_um`` and ``median_um``.

    Returns
    -------
    pandas.DataFrame
        Index ``map``; columns ``n_skeleton_px, mean_px, median_px, p95_px, max_px``
        (NaN for a map with no boundary), ``excess_mean_px`` (mean width minus the
        label's: seed 000 found predictions ~9 px wider), and ``mean_um,
        median_um`` with a pixel size.

    Example
    -------
    >>> lab = np.zeros((20, 30), bool); lab[5, :] = True
    >>> pred = np.zeros((20, 30), bool); pred[4:7, :] = True
    >>> boundary_width_summary(lab, prediction=pred).loc["prediction", "excess_mean_px"]
    np.float64(2.0)
    """
    masks = _named_masks(label, corrected, prediction)
    size = check_pixel_size(pixel_size_um)
    rows = {}
    for name, mask in masks.items():
        w = boundary_widths(mask)
        nan = float("nan")
        rows[name] = {
            "n_skeleton_px": int(w.size),
            "mean_px": float(w.mean()) if w.size else nan,
            "median_px": float(np.median(w)) if w.size else nan,
            "p95_px": float(np.percentile(w, 95)) if w.size else nan,
            "max_px": float(w.max()) if w.size else nan,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "map"
    table["excess_mean_px"] = table["mean_px"] - table.loc["label", "mean_px"]
    if size is not None:
        table["mean_um"] = table["mean_px"] * size
        table["median_um"] = table["median_px"] * size
    return table
