"""Plotly figures of SEM-EBSD drift: vectors, magnitude heat map, boundary-width histograms.

Pure functions (data in, ``plotly.graph_objects.Figure`` out) for the dataset page; the
data come from :mod:`grainseg_core.drift` (``drift_vectors``, ``drift_magnitude``,
``boundary_width_table``). Image coordinates: x = column to the right, y = row downwards
(the y axis is reversed), so a figure lies over the micrograph as seen.

Example
-------
>>> from grainseg_core.drift import drift_vectors
>>> d = np.zeros((2, 64, 64), np.float32); d[1] = 2.0
>>> fig = drift_vector_figure(drift_vectors(d, step=32), (64, 64))
>>> [t.name for t in fig.data]
['drift', 'sample points']
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from grainseg_core.errors import InputError

__all__ = ["drift_vector_figure", "drift_heatmap_figure", "boundary_width_figure"]

_TEMPLATE = "plotly_white"


def _shape(shape: Any) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in shape)
    except (TypeError, ValueError) as exc:
        raise InputError(f"shape must be (rows, cols); got {shape!r}.") from exc
    if rows < 1 or cols < 1:
        raise InputError(f"shape must be positive; got {shape!r}.")
    return rows, cols


def _image_axes(fig: go.Figure, rows: int, cols: int) -> None:
    fig.update_xaxes(range=[-0.5, cols - 0.5], title="column (px)", constrain="domain")
    fig.update_yaxes(range=[rows - 0.5, -0.5], title="row (px)", scaleanchor="x", scaleratio=1)


def drift_vector_figure(
    vectors: pd.DataFrame,
    shape: tuple[int, int],
    *,
    scale: float | None = None,
    title: str | None = "Drift vectors",
) -> go.Figure:
    """Drift vectors as line segments from each sample point, over the image frame.

    Parameters
    ----------
    vectors : pandas.DataFrame
        :func:`grainseg_core.drift.drift_vectors` output (``row, col, d_row, d_col,
        magnitude_px``).
    shape : (M, N)
        Image shape (the axes' extent).
    scale : float, optional
        Arrow length per pixel of drift; default so that the largest vector spans
        about 80 % of the grid spacing (drift of a few pixels is visible on a
        2000-px frame). The title states the scale.
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure
        A ``Scatter`` of segments named ``"drift"`` (hover: d_row, d_col, magnitude) and
        one of the sample points.

    Examples
    --------
    >>> v = pd.DataFrame({"row": [8], "col": [8], "d_row": [0.0], "d_col": [3.0],
    ...                   "magnitude_px": [3.0]})
    >>> fig = drift_vector_figure(v, (16, 16), scale=1.0)
    >>> np.asarray(fig.data[0].x[:2]).tolist(), np.asarray(fig.data[0].y[:2]).tolist()
    ([8.0, 11.0], [8.0, 8.0])
    """
    rows, cols = _shape(shape)
    needed = {"row", "col", "d_row", "d_col", "magnitude_px"}
    if not isinstance(vectors, pd.DataFrame) or not needed <= set(vectors.columns):
        raise InputError(
            f"vectors must be a DataFrame with columns {sorted(needed)} (drift_vectors)."
        )
    v = vectors
    fig = go.Figure()
    if v.empty:
        _image_axes(fig, rows, cols)
        fig.update_layout(template=_TEMPLATE, title=title)
        return fig
    if scale is None:
        spacing = max(
            1.0, float(np.min(np.diff(np.unique(v["col"])))) if v["col"].nunique() > 1 else cols / 2
        )
        top = float(v["magnitude_px"].max())
        scale = 0.8 * spacing / top if top > 0 else 1.0
    elif not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise InputError(f"scale must be a positive number; got {scale!r}.")
    x0, y0 = v["col"].to_numpy(float), v["row"].to_numpy(float)
    x1, y1 = x0 + scale * v["d_col"].to_numpy(float), y0 + scale * v["d_row"].to_numpy(float)
    nan = np.full_like(x0, np.nan)
    xs = np.column_stack([x0, x1, nan]).ravel()
    ys = np.column_stack([y0, y1, nan]).ravel()
    text = [
        f"d_row {r:+.2f} px, d_col {c:+.2f} px, |d| {m:.2f} px"
        for r, c, m in zip(v["d_row"], v["d_col"], v["magnitude_px"], strict=False)
    ]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            name="drift",
            line=dict(color="#d62728", width=2),
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x0,
            y=y0,
            mode="markers",
            name="sample points",
            text=text,
            hoverinfo="text",
            marker=dict(size=4, color="#1f77b4"),
        )
    )
    _image_axes(fig, rows, cols)
    label = f"{title} (arrows x{scale:.3g})" if title else None
    fig.update_layout(template=_TEMPLATE, title=label, showlegend=False, meta={"scale": scale})
    return fig


def drift_heatmap_figure(
    magnitude: np.ndarray,
    *,
    pixel_size_um: float | None = None,
    max_side: int = 256,
    title: str | None = "Drift magnitude",
) -> go.Figure:
    """Heat map of the drift magnitude, downsampled for display.

    Parameters
    ----------
    magnitude : ndarray float (M, N)
        :func:`grainseg_core.drift.drift_magnitude`, in pixels.
    pixel_size_um : float, optional
        Colour bar in micrometres instead of pixels.
    max_side : int
        Longest side of the displayed grid (area-averaged); axes stay in full-image pixels.
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure
        One ``Heatmap``.

    Examples
    --------
    >>> fig = drift_heatmap_figure(np.ones((600, 300), np.float32), max_side=100)
    >>> np.asarray(fig.data[0].z).shape
    (100, 50)
    """
    mag = np.asarray(magnitude, dtype=np.float32)
    if mag.ndim != 2 or mag.size == 0:
        raise InputError(f"magnitude must be a 2-D array; got shape {mag.shape}.")
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 2:
        raise InputError(f"max_side must be an integer >= 2; got {max_side!r}.")
    rows, cols = mag.shape
    factor = max(rows, cols) / max_side
    if factor > 1:
        small = cv2.resize(
            mag,
            (max(1, round(cols / factor)), max(1, round(rows / factor))),
            interpolation=cv2.INTER_AREA,
        )
    else:
        small = mag
    unit = "px"
    if pixel_size_um is not None:
        small = small * float(pixel_size_um)
        unit = "um"
    sr, sc = small.shape
    x = (np.arange(sc) + 0.5) * cols / sc - 0.5
    y = (np.arange(sr) + 0.5) * rows / sr - 0.5
    fig = go.Figure(
        go.Heatmap(
            z=small,
            x=x,
            y=y,
            colorscale="Inferno",
            colorbar=dict(title=f"|drift| ({unit})"),
            hovertemplate="row %{y:.0f}, col %{x:.0f}: %{z:.2f} " + unit + "<extra></extra>",
        )
    )
    _image_axes(fig, rows, cols)
    fig.update_layout(template=_TEMPLATE, title=title)
    return fig


def boundary_width_figure(
    table: pd.DataFrame, *, title: str | None = "Boundary width"
) -> go.Figure:
    """Grouped bars of the boundary-width histograms of several maps (label, corrected...).

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`grainseg_core.drift.boundary_width_table` output (``map, width_px,
        fraction``).
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure
        One ``Bar`` per map, x = width (px), y = fraction of skeleton pixels.

    Examples
    --------
    >>> t = pd.DataFrame({"map": ["label", "corrected"], "width_px": [1.0, 1.0],
    ...                   "fraction": [1.0, 1.0]})
    >>> [b.name for b in boundary_width_figure(t).data]
    ['label', 'corrected']
    """
    needed = {"map", "width_px", "fraction"}
    if not isinstance(table, pd.DataFrame) or not needed <= set(table.columns):
        raise InputError(
            f"table must be a DataFrame with columns {sorted(needed)} (boundary_width_table)."
        )
    fig = go.Figure()
    for name, part in table.groupby("map", sort=False):
        fig.add_trace(go.Bar(x=part["width_px"], y=part["fraction"], name=str(name)))
    fig.update_layout(
        template=_TEMPLATE,
        title=title,
        barmode="group",
        xaxis_title="local width (px)",
        yaxis_title="fraction of boundary skeleton",
    )
    return fig
