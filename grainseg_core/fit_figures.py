"""Empirical CDF of one sample with the CDFs of fitted distributions (plotly, pure).

:mod:`grainseg_core.figures` draws histograms with fitted densities and compares two
samples' CDFs; this adds the single-sample view: the step function of the data and one
smooth line per fit (exponential, log-normal, gamma for sizes; Beta for aspect ratios on
(0, 1]), where a fit that misses the data's shape shows plainly as a gap between the lines.
Like :mod:`grainseg_core.figures`, nothing to draw gives a figure with a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from grainseg_core.distributions import DistributionFit, unit_aspect_ratio
from grainseg_core.errors import InputError
from grainseg_core.figures import empty_figure

__all__ = ["cdf_with_fits_figure"]

_COLORS = {"exponential": "#d62728", "lognormal": "#2ca02c", "gamma": "#9467bd", "beta": "#d62728"}
_LABELS = {
    "exponential": "exponential",
    "lognormal": "log-normal",
    "gamma": "gamma",
    "beta": "Beta",
}


def cdf_with_fits_figure(
    values: Any,
    *,
    fits: Sequence[DistributionFit] = (),
    x_title: str = "value",
    title: str | None = None,
    aspect_ratio: bool = False,
    n_points: int = 256,
) -> go.Figure:
    """Empirical CDF of ``values`` with the fitted CDFs drawn over it.

    Parameters
    ----------
    values : sequence of float
        The sample (NaN dropped). With ``aspect_ratio``, aspect ratios >= 1 as the grain
        table gives them, drawn as minor/major ``1 / AR`` in (0, 1] like the Beta fit.
    fits : sequence of DistributionFit
        Fits of the drawn variable; one line ``'<family> fit'`` each.
    x_title : str
    title : str, optional
    aspect_ratio : bool
        Draw ``1 / values`` (the Beta fit's variable).
    n_points : int
        Points of each fitted line.

    Returns
    -------
    plotly.graph_objects.Figure
        Trace 0 is the data (``name`` ``'grains (n=...)'``), then one line per fit with
        ``meta = {"family": ...}``; the empty state when there are no values.

    Raises
    ------
    InputError
        Values that are not numbers, a fit that is not a DistributionFit, ``n_points`` < 2.

    Examples
    --------
    >>> from grainseg_core.distributions import fit_distribution
    >>> x = np.random.default_rng(0).exponential(5.0, 200)
    >>> fig = cdf_with_fits_figure(x, fits=[fit_distribution(x, "exponential")])
    >>> [t.name for t in fig.data]
    ['grains (n=200)', 'exponential fit']
    """
    try:
        x = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise InputError(f"values must be numbers; got {type(values).__name__}.") from exc
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 2:
        raise InputError(f"n_points must be an integer >= 2; got {n_points!r}.")
    for i, f in enumerate(fits):
        if not isinstance(f, DistributionFit):
            raise InputError(f"fits[{i}] must be a DistributionFit; got {type(f).__name__}.")
    x = x[np.isfinite(x)]
    if aspect_ratio and x.size:
        x = unit_aspect_ratio(x)
    if x.size == 0:
        return empty_figure("No grains to plot.", title=title)
    xs = np.sort(x)
    ys = np.arange(1, xs.size + 1) / xs.size
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            line=dict(shape="hv", color="#1f77b4", width=2),
            name=f"grains (n={xs.size})",
        )
    )
    lo, hi = (0.0, 1.0) if aspect_ratio else (0.0, float(xs[-1]) * 1.05)
    grid = np.linspace(lo, hi, int(n_points))
    for f in fits:
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=f.cdf(grid),
                mode="lines",
                line=dict(color=_COLORS.get(f.family), dash="dash", width=2),
                name=f"{_LABELS.get(f.family, f.family)} fit",
                meta={"family": f.family},
            )
        )
    fig.update_layout(
        template="plotly_white",
        title=title,
        xaxis_title=x_title,
        yaxis_title="cumulative fraction",
        yaxis=dict(range=[0, 1.02]),
    )
    return fig
