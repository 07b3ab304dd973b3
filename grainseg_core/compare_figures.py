"""Plotly figures of the model comparison: overlays with gap markers, overlaid grain sizes.

Pure functions for the comparison page; the data come from :mod:`grainseg_core.compare`
and :mod:`grainseg_core.overlays`.

Example
-------
>>> rgb = np.zeros((20, 30, 3), np.uint8)
>>> sites = pd.DataFrame({"row": [5.0], "col": [7.0], "size_px": [4]})
>>> fig = marked_overlay_figure(rgb, sites, title="A")
>>> [t.type for t in fig.data]
['image', 'scatter']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from grainseg_core.errors import InputError
from grainseg_core.figures import histograms_figure

__all__ = ["marked_overlay_figure", "grain_size_overlay_figure"]

_TEMPLATE = "plotly_white"


def marked_overlay_figure(
    rgb: np.ndarray,
    sites: pd.DataFrame | None = None,
    *,
    title: str | None = None,
    marker_color: str = "#00dd00",
    max_side: int = 1024,
    marker_name: str = "gap closed",
) -> go.Figure:
    """An RGB overlay as a zoomable plotly image, with circles at marked sites.

    Parameters
    ----------
    rgb : ndarray uint8 (M, N, 3)
        E.g. :func:`grainseg_core.overlays.confusion_overlay`.
    sites : pandas.DataFrame, optional
        ``row, col`` (image pixels) and ``size_px`` (marker size grows with it).
    title : str, optional
    marker_color : str
    max_side : int
        Longest side shown; larger images are area-downsampled (axes stay in pixels).
    marker_name : str
        Legend name of the markers.

    Returns
    -------
    plotly.graph_objects.Figure
        An ``Image`` trace, and a ``Scatter`` of markers when there are sites.

    Examples
    --------
    >>> fig = marked_overlay_figure(np.zeros((3000, 1000, 3), np.uint8), max_side=300)
    >>> np.asarray(fig.data[0].z).shape[:2], fig.data[0].dx
    ((300, 100), 10.0)
    """
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise InputError(f"rgb must be a uint8 (M, N, 3) image; got {arr.dtype} {arr.shape}.")
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 8:
        raise InputError(f"max_side must be an integer >= 8; got {max_side!r}.")
    rows, cols = arr.shape[:2]
    factor = max(rows, cols) / max_side
    if factor > 1:
        shown = cv2.resize(
            arr,
            (max(1, round(cols / factor)), max(1, round(rows / factor))),
            interpolation=cv2.INTER_AREA,
        )
    else:
        shown = arr
    dy, dx = rows / shown.shape[0], cols / shown.shape[1]
    fig = go.Figure(
        go.Image(
            z=shown, x0=(dx - 1) / 2, y0=(dy - 1) / 2, dx=dx, dy=dy, hoverinfo="x+y", name="overlay"
        )
    )
    if sites is not None and len(sites):
        if not {"row", "col"} <= set(sites.columns):
            raise InputError("sites must have columns 'row' and 'col'.")
        size = sites["size_px"].to_numpy(float) if "size_px" in sites else np.full(len(sites), 4.0)
        fig.add_trace(
            go.Scatter(
                x=sites["col"],
                y=sites["row"],
                mode="markers",
                name=marker_name,
                marker=dict(
                    symbol="circle-open",
                    size=np.clip(6 + 2 * np.sqrt(size), 8, 30),
                    color=marker_color,
                    line=dict(width=2),
                ),
                text=[f"{marker_name}: {int(s)} px" for s in size],
                hoverinfo="text",
            )
        )
    fig.update_xaxes(range=[-0.5, cols - 0.5], showgrid=False, constrain="domain")
    fig.update_yaxes(range=[rows - 0.5, -0.5], showgrid=False, scaleanchor="x", scaleratio=1)
    fig.update_layout(
        template=_TEMPLATE, title=title, margin=dict(l=10, r=10, t=40, b=10), showlegend=False
    )
    return fig


def grain_size_overlay_figure(
    sizes: Mapping[str, Any],
    distances: pd.DataFrame | None = None,
    *,
    x_title: str = "ECD",
    bins: int = 30,
) -> go.Figure:
    """Overlaid grain-size histograms (truth and models) with each model's JS distance.

    Parameters
    ----------
    sizes : mapping of str to sequence of float
        Name -> sizes (:meth:`ModelComparison.sizes`).
    distances : pandas.DataFrame, optional
        :attr:`ModelComparison.distances` (index model, column ``js_distance``); the
        distances go into the title and ``layout.meta``.
    x_title : str
    bins : int

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> d = pd.DataFrame({"js_distance": [0.25]}, index=["A"])
    >>> fig = grain_size_overlay_figure({"truth": [1, 2, 3], "A": [2, 3, 4]}, d)
    >>> fig.layout.meta["js_distance"], fig.layout.title.text
    ({'A': 0.25}, 'JS distance to the truth: A 0.250')
    """
    meta: dict[str, Any] = {"js_distance": {}}
    title = None
    if distances is not None:
        if "js_distance" not in distances.columns:
            raise InputError(
                "distances must have a 'js_distance' column (ModelComparison.distances)."
            )
        js = {str(k): float(v) for k, v in distances["js_distance"].items()}
        meta["js_distance"] = js
        names = list(sizes)
        truth = names[0] if names else "truth"
        parts = [f"{k} {v:.3f}" if np.isfinite(v) else f"{k} n/a" for k, v in js.items()]
        title = f"JS distance to the {truth}: " + ", ".join(parts)
    fig = histograms_figure(sizes, bins=bins, x_title=x_title, title=title)
    fig.update_layout(meta=meta)
    return fig
