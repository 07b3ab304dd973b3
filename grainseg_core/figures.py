"""Plotly figures of grain statistics and training, as pure functions (data in, Figure out).

Nothing here reads files, caches or talks to streamlit: a page calls a builder and hands
the ``plotly.graph_objects.Figure`` to ``st.plotly_chart``. Inputs that leave nothing to
draw (no grains, one value) give a figure with a centred message instead of raising, so a
page never breaks on an empty selection; malformed inputs (wrong types, unknown columns)
raise :class:`~grainseg_core.errors.InputError`.

Histograms are normalised to probability density so that fitted PDFs can be drawn on the
same axis; aspect ratios are shown as minor/major axis in (0, 1] (``1 / AR`` of the grain
table), the variable the Beta fit uses (see :mod:`grainseg_core.distributions`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from grainseg_core._validation import check_int
from grainseg_core.distributions import (
    SIZE_FAMILIES,
    DistributionFit,
    fit_aspect_ratio,
    fit_distribution,
    js_distance_histograms,
    js_distance_pdfs,
    ks_two_sample,
    unit_aspect_ratio,
)
from grainseg_core.errors import InputError

__all__ = [
    "empty_figure",
    "histogram_with_fits_figure",
    "size_distribution_figure",
    "aspect_ratio_distribution_figure",
    "histograms_figure",
    "cdf_comparison_figure",
    "size_shape_scatter_figure",
    "metric_bars_figure",
    "training_curves_figure",
]

_FIT_COLORS = {"exponential": "#d62728", "lognormal": "#2ca02c", "gamma": "#9467bd", "beta": "#d62728"}
_FAMILY_LABEL = {"exponential": "exponential", "lognormal": "log-normal", "gamma": "gamma", "beta": "Beta"}
_TEMPLATE = "plotly_white"


# --------------------------------------------------------------------------- helpers


def empty_figure(message: str, *, title: str | None = None) -> go.Figure:
    """A figure with no data and a centred message (the empty state of every builder).

    Examples
    --------
    >>> empty_figure("No grains").layout.annotations[0].text
    'No grains'
    """
    fig = go.Figure()
    fig.add_annotation(
        text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=16)
    )
    fig.update_layout(
        template=_TEMPLATE,
        title=title,
        xaxis=dict(visible=False),
        yaxis=dict(visible=False),
        meta={"empty": True},
    )
    return fig


def _values(values: Any, name: str) -> np.ndarray:
    """1-D float array with NaN/inf dropped (they are missing measurements, not errors)."""
    if isinstance(values, pd.DataFrame):
        raise InputError(f"{name} must be a 1-D sequence of numbers; got a DataFrame (pick a column).")
    if values is None:
        return np.empty(0)
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a sequence of numbers: {exc}") from exc
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D; got shape {arr.shape}.")
    return arr[np.isfinite(arr)]


def _unit_label(unit: str) -> str:
    return {"um": "µm", "µm": "µm", "px": "px"}.get(unit, unit)


def _fit_line_x(values: np.ndarray, fit: DistributionFit, unit_interval: bool) -> np.ndarray:
    if unit_interval:
        return np.linspace(0.0, 1.0, 402)[1:-1]
    hi = max(float(values.max()), float(fit.frozen().ppf(0.995)))
    lo = max(0.0, fit.params.get("loc", 0.0))
    return np.linspace(lo, hi, 400)[1:]


# --------------------------------------------------------------------------- histograms


def histogram_with_fits_figure(
    values: Any,
    *,
    fits: Sequence[DistributionFit] = (),
    bins: int = 40,
    x_title: str = "value",
    name: str = "grains",
    title: str | None = None,
    unit_interval: bool = False,
) -> go.Figure:
    """Histogram (probability density) of a sample with fitted PDFs drawn over it.

    Parameters
    ----------
    values : sequence of float
        The sample in the units of the x axis (NaN dropped).
    fits : sequence of DistributionFit
        Fits of the same variable; each becomes a line ``'<family> fit'`` whose legend
        entry gives its parameters and AIC.
    bins : int, default 40
    x_title : str
        Axis title, with units.
    name : str
        Legend name of the histogram.
    title : str, optional
    unit_interval : bool
        The variable lies in [0, 1] (bins and PDF grid span exactly [0, 1]).

    Returns
    -------
    plotly.graph_objects.Figure
        Traces: one ``Histogram`` then one ``Scatter`` per fit; the empty state when there
        is no value.

    Examples
    --------
    >>> fig = histogram_with_fits_figure([1.0, 2.0, 2.5, 4.0], x_title="ECD (µm)")
    >>> [t.type for t in fig.data]
    ['histogram']
    """
    x = _values(values, "values")
    nb = check_int(bins, "bins", low=1)
    if x.size == 0:
        return empty_figure(f"No {name} to plot.", title=title)
    xbins = dict(start=0.0, end=1.0, size=1.0 / nb) if unit_interval else None
    fig = go.Figure()
    fig.add_trace(
        go.Histogram(
            x=x,
            name=f"{name} (n={x.size})",
            histnorm="probability density",
            nbinsx=None if unit_interval else nb,
            xbins=xbins,
            marker=dict(color="#7f9fbf", line=dict(color="white", width=0.5)),
            opacity=0.85,
        )
    )
    for fit in fits:
        if not isinstance(fit, DistributionFit):
            raise InputError(f"fits must hold DistributionFit objects; got {type(fit).__name__}.")
        gx = _fit_line_x(x, fit, unit_interval)
        shown = {k: v for k, v in fit.params.items() if not (k == "loc" and v == 0)}
        if fit.family == "beta":
            shown = {k: shown[k] for k in ("a", "b")}
        shapes = ", ".join(f"{k}={v:.3g}" for k, v in shown.items())
        fig.add_trace(
            go.Scatter(
                x=gx,
                y=fit.pdf(gx),
                mode="lines",
                name=f"{_FAMILY_LABEL.get(fit.family, fit.family)} fit ({shapes}; AIC {fit.aic:.0f})",
                line=dict(color=_FIT_COLORS.get(fit.family), width=2.5),
                meta={"family": fit.family},
            )
        )
    fig.update_layout(
        template=_TEMPLATE,
        title=title,
        xaxis_title=x_title,
        yaxis_title="probability density",
        bargap=0.02,
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0.0),
    )
    if unit_interval:
        fig.update_xaxes(range=[0, 1])
    if x.size < 3 and not fits:
        fig.add_annotation(
            text=f"only {x.size} value(s): too few to fit a distribution",
            x=0.5, y=0.95, xref="paper", yref="paper", showarrow=False,
        )
    return fig


def size_distribution_figure(
    sizes: Any,
    *,
    unit: str = "µm",
    families: Sequence[str] = SIZE_FAMILIES,
    bins: int = 40,
    title: str | None = "Grain size distribution",
    floc: float | None = 0.0,
) -> go.Figure:
    """Histogram of grain sizes (ECD) with exponential / log-normal / gamma fits.

    Parameters
    ----------
    sizes : sequence of float
        Equivalent circle diameters in ``unit``; NaN dropped.
    unit : str, default 'µm'
        Unit in the axis title ('um' is shown as 'µm').
    families : sequence of str
        Families to fit (from :data:`grainseg_core.distributions.SIZE_FAMILIES`); fits need at
        least 3 sizes > ``floc``, else the histogram is drawn with a note.
    bins : int, default 40
    title : str, optional
    floc : float or None, default 0

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> fig = size_distribution_figure(np.random.default_rng(0).exponential(5.0, 300))
    >>> [t.meta["family"] for t in fig.data[1:]]
    ['exponential', 'lognormal', 'gamma']
    """
    x = _values(sizes, "sizes")
    x_title = f"equivalent circle diameter ({_unit_label(unit)})"
    fits: list[DistributionFit] = []
    note = None
    usable = x[x > floc] if floc is not None else x
    if usable.size >= 3 and np.ptp(usable) > 0:
        fits = [fit_distribution(usable, f, floc=floc, variable="size") for f in families]
    elif x.size:
        note = f"{usable.size} usable size(s): too few or too uniform to fit a distribution"
    fig = histogram_with_fits_figure(x, fits=fits, bins=bins, x_title=x_title, name="grains", title=title)
    if note:
        fig.add_annotation(text=note, x=0.5, y=0.95, xref="paper", yref="paper", showarrow=False)
    return fig


def aspect_ratio_distribution_figure(
    aspect_ratio: Any,
    *,
    bins: int = 40,
    title: str | None = "Grain shape distribution",
) -> go.Figure:
    """Histogram of grain aspect ratios as minor/major axis in (0, 1] with a Beta fit.

    Parameters
    ----------
    aspect_ratio : sequence of float
        Aspect ratios >= 1 as :func:`grainseg_core.grains.grain_table` gives them (NaN dropped);
        drawn as ``1 / AR``.
    bins : int, default 40
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> fig = aspect_ratio_distribution_figure(1 / np.random.default_rng(0).beta(5, 2, 300))
    >>> fig.layout.xaxis.title.text
    'aspect ratio (minor / major axis)'
    """
    ar = _values(aspect_ratio, "aspect_ratio")
    unit = unit_aspect_ratio(ar) if ar.size else ar
    fits: list[DistributionFit] = []
    note = None
    if unit.size >= 3 and np.ptp(unit) > 0:
        fits = [fit_aspect_ratio(ar)]
    elif unit.size:
        note = f"{unit.size} grain(s): too few or too uniform to fit a Beta distribution"
    fig = histogram_with_fits_figure(
        unit,
        fits=fits,
        bins=bins,
        x_title="aspect ratio (minor / major axis)",
        name="grains",
        title=title,
        unit_interval=True,
    )
    if note:
        fig.add_annotation(text=note, x=0.5, y=0.95, xref="paper", yref="paper", showarrow=False)
    return fig


def histograms_figure(
    samples: Mapping[str, Any],
    *,
    bins: int = 40,
    x_title: str = "value",
    title: str | None = None,
) -> go.Figure:
    """Overlaid density histograms of several samples on shared bins (e.g. the 3/7/11 px filters).

    Parameters
    ----------
    samples : mapping of str to sequence of float
        Legend name -> sample.
    bins : int, default 40
    x_title : str
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure
        One ``Histogram`` per non-empty sample; the empty state when all are empty.

    Examples
    --------
    >>> fig = histograms_figure({"a": [1, 2, 3], "b": [2, 3, 4]})
    >>> [t.name for t in fig.data]
    ['a (n=3)', 'b (n=3)']
    """
    if not isinstance(samples, Mapping):
        raise InputError(f"samples must be a mapping name -> values; got {type(samples).__name__}.")
    nb = check_int(bins, "bins", low=1)
    data = {k: _values(v, f"samples[{k!r}]") for k, v in samples.items()}
    data = {k: v for k, v in data.items() if v.size}
    if not data:
        return empty_figure("No values to plot.", title=title)
    allv = np.concatenate(list(data.values()))
    lo, hi = float(allv.min()), float(allv.max())
    size = (hi - lo) / nb if hi > lo else 1.0
    fig = go.Figure()
    for k, v in data.items():
        fig.add_trace(
            go.Histogram(
                x=v, name=f"{k} (n={v.size})", histnorm="probability density",
                xbins=dict(start=lo, end=hi + size, size=size), opacity=0.55,
            )
        )
    fig.update_layout(
        template=_TEMPLATE, barmode="overlay", title=title, xaxis_title=x_title,
        yaxis_title="probability density",
    )
    return fig


# --------------------------------------------------------------------------- comparisons


def _ecdf(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xs = np.sort(x)
    return xs, np.arange(1, xs.size + 1) / xs.size


def cdf_comparison_figure(
    a: Any,
    b: Any,
    *,
    names: tuple[str, str] = ("ground truth", "prediction"),
    x_title: str = "value",
    family: str | None = None,
    bins: int = 40,
    title: str | None = None,
) -> go.Figure:
    """Empirical CDFs of two samples with the KS statistic and JS distance.

    Parameters
    ----------
    a, b : sequence of float
        The two samples (NaN dropped), in the units of ``x_title``.
    names : (str, str)
        Legend names.
    x_title : str
    family : str, optional
        If given (e.g. ``'exponential'`` for sizes, ``'beta'`` for aspect ratios in [0, 1]),
        both samples are fitted and the JS distance of the fitted PDFs is reported too.
    bins : int, default 40
        Shared bins of the histogram JS distance.
    title : str, optional
        Default: the statistics. When given, the statistics go into an annotation.

    Returns
    -------
    plotly.graph_objects.Figure
        Two step lines; ``layout.meta`` holds ``ks_statistic``, ``ks_pvalue``,
        ``js_histogram`` and (with ``family``) ``js_pdf``. The empty state when a sample is
        empty.

    Examples
    --------
    >>> fig = cdf_comparison_figure([1, 2, 3, 4], [2, 3, 4, 5])
    >>> round(fig.layout.meta["ks_statistic"], 2)
    0.25
    """
    xa, xb = _values(a, "a"), _values(b, "b")
    nb = check_int(bins, "bins", low=1)
    if xa.size == 0 or xb.size == 0:
        missing = names[0] if xa.size == 0 else names[1]
        return empty_figure(f"No values for {missing}: nothing to compare.", title=title)
    ks = ks_two_sample(xa, xb)
    meta: dict[str, float] = {
        "ks_statistic": ks.statistic,
        "ks_pvalue": ks.pvalue,
        "js_histogram": js_distance_histograms(xa, xb, bins=nb),
    }
    parts = [f"KS D = {ks.statistic:.3f} (p = {ks.pvalue:.3g})", f"JS (histograms) = {meta['js_histogram']:.3f}"]
    if family is not None:
        if min(xa.size, xb.size) >= 3:
            try:
                fa = fit_distribution(xa, family)
                fb = fit_distribution(xb, family)
                meta["js_pdf"] = js_distance_pdfs(fa, fb)
                parts.append(f"JS ({_FAMILY_LABEL.get(family, family)} fits) = {meta['js_pdf']:.3f}")
            except InputError as exc:
                parts.append(f"no {family} fit: {exc}")
        else:
            parts.append(f"too few values for {family} fits")
    fig = go.Figure()
    for x, nm, color in ((xa, names[0], "#1f77b4"), (xb, names[1], "#ff7f0e")):
        xs, ys = _ecdf(x)
        fig.add_trace(
            go.Scatter(x=xs, y=ys, mode="lines", line=dict(shape="hv", color=color, width=2), name=f"{nm} (n={x.size})")
        )
    stats_text = "; ".join(parts)
    fig.update_layout(
        template=_TEMPLATE,
        title=title if title is not None else stats_text,
        xaxis_title=x_title,
        yaxis_title="cumulative fraction",
        yaxis=dict(range=[0, 1.02]),
        meta=meta,
    )
    if title is not None:
        fig.add_annotation(
            text=stats_text, x=0.99, y=0.03, xref="paper", yref="paper", xanchor="right", showarrow=False,
            bgcolor="rgba(255,255,255,0.8)",
        )
    return fig


def size_shape_scatter_figure(
    table: pd.DataFrame,
    *,
    size_column: str | None = None,
    color_column: str | None = None,
    title: str | None = "Grain size vs shape",
) -> go.Figure:
    """Scatter of grain size (ECD) against aspect ratio (minor / major axis), one point per grain.

    Parameters
    ----------
    table : pandas.DataFrame
        A grain table with ``aspect_ratio`` (>= 1) and ``ecd_um`` and/or ``ecd_px``.
    size_column : str, optional
        Default ``'ecd_um'`` when it has finite values, else ``'ecd_px'``.
    color_column : str, optional
        Column coloured with a colour bar (e.g. ``'orientation_deg'``).
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure
        One ``Scattergl`` trace (WebGL: fast with tens of thousands of grains); hover shows
        the label when the table has one. The empty state for an empty table.

    Examples
    --------
    >>> t = pd.DataFrame({"ecd_px": [3.0, 5.0], "aspect_ratio": [1.0, 2.0]})
    >>> size_shape_scatter_figure(t).data[0].y.tolist()
    [1.0, 0.5]
    """
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"table must be a grain table (DataFrame); got {type(table).__name__}.")
    if size_column is None:
        if "ecd_um" in table.columns and np.isfinite(table["ecd_um"].to_numpy(dtype=float)).any():
            size_column = "ecd_um"
        else:
            size_column = "ecd_px"
    for col in (size_column, "aspect_ratio") + ((color_column,) if color_column else ()):
        if col not in table.columns:
            raise InputError(f"table has no column {col!r}; its columns are {list(table.columns)}.")
    sizes = table[size_column].to_numpy(dtype=float)
    ar = table["aspect_ratio"].to_numpy(dtype=float)
    ok = np.isfinite(sizes) & np.isfinite(ar) & (ar > 0)
    if not ok.any():
        return empty_figure("No grains to plot.", title=title)
    unit = "µm" if size_column.endswith("_um") else "px" if size_column.endswith("_px") else ""
    marker: dict[str, Any] = dict(size=5, opacity=0.6)
    if color_column:
        marker.update(color=table[color_column].to_numpy(dtype=float)[ok], colorscale="Viridis",
                      showscale=True, colorbar=dict(title=color_column))
    labels = table["label"].to_numpy()[ok] if "label" in table.columns else None
    fig = go.Figure(
        go.Scattergl(
            x=sizes[ok],
            y=1.0 / np.maximum(ar[ok], 1.0),
            mode="markers",
            marker=marker,
            customdata=labels,
            hovertemplate=(
                ("grain %{customdata}<br>" if labels is not None else "")
                + f"ECD %{{x:.3g}} {unit}<br>aspect %{{y:.3f}}<extra></extra>"
            ),
            name=f"grains (n={int(ok.sum())})",
        )
    )
    fig.update_layout(
        template=_TEMPLATE,
        title=title,
        xaxis_title=f"equivalent circle diameter ({unit})" if unit else size_column,
        yaxis_title="aspect ratio (minor / major axis)",
        yaxis=dict(range=[0, 1.02]),
    )
    return fig


# --------------------------------------------------------------------------- metrics and training


def metric_bars_figure(
    metrics: Mapping[str, Mapping[str, float]] | pd.DataFrame,
    *,
    metric_names: Sequence[str] | None = None,
    title: str | None = "Model comparison",
    y_title: str = "score",
) -> go.Figure:
    """Grouped bars: one group per metric, one bar (trace) per model.

    Parameters
    ----------
    metrics : mapping model -> {metric: value}, or DataFrame (index = models, columns = metrics)
        E.g. ``{"U-Net BCE": {"precision": 0.28, "recall": 0.79, "dice": 0.41}, ...}``.
        Non-numeric and missing entries are skipped.
    metric_names : sequence of str, optional
        Metrics to show, in order; default: every metric, in first-seen order.
    title : str, optional
    y_title : str, default 'score'

    Returns
    -------
    plotly.graph_objects.Figure
        One ``Bar`` trace per model, ``barmode='group'``, values printed on the bars; the
        empty state when there is nothing to show.

    Examples
    --------
    >>> fig = metric_bars_figure({"BCE": {"dice": 0.41}, "BCE+Topo": {"dice": 0.43}})
    >>> [t.name for t in fig.data], list(fig.data[0].x)
    (['BCE', 'BCE+Topo'], ['dice'])
    """
    if isinstance(metrics, pd.DataFrame):
        table = {str(i): row.to_dict() for i, row in metrics.iterrows()}
    elif isinstance(metrics, Mapping):
        table = {}
        for model, vals in metrics.items():
            if not isinstance(vals, Mapping):
                raise InputError(
                    f"metrics[{model!r}] must be a mapping metric -> value; got {type(vals).__name__}."
                )
            table[str(model)] = dict(vals)
    else:
        raise InputError(
            f"metrics must be a mapping model -> {{metric: value}} or a DataFrame; got {type(metrics).__name__}."
        )
    if metric_names is None:
        metric_names = []
        for vals in table.values():
            for k, v in vals.items():
                if k not in metric_names and _is_number(v):
                    metric_names.append(k)
    metric_names = list(metric_names)
    if not table or not metric_names:
        return empty_figure("No metrics to compare.", title=title)
    fig = go.Figure()
    for model, vals in table.items():
        ys = [float(vals[m]) if _is_number(vals.get(m)) else None for m in metric_names]
        fig.add_trace(
            go.Bar(x=metric_names, y=ys, name=model, text=[f"{y:.3f}" if y is not None else "" for y in ys],
                   textposition="outside")
        )
    fig.update_layout(
        template=_TEMPLATE, barmode="group", title=title, xaxis_title="metric", yaxis_title=y_title,
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0.0),
    )
    return fig


def _is_number(v: Any) -> bool:
    if isinstance(v, bool) or v is None:
        return False
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def training_curves_figure(
    records: Sequence[Mapping[str, Any]],
    *,
    x: str = "epoch",
    series: Sequence[str] | None = None,
    title: str | None = "Training",
) -> go.Figure:
    """Loss and metric curves from a list of dicts (e.g. the lines of ``metrics.jsonl``).

    Parameters
    ----------
    records : sequence of mapping
        One dict per logged point, e.g. ``{"epoch": 3, "train_loss": 0.41, "val_dice": 0.52}``.
        Records without ``x`` are skipped; a series missing from some records is drawn
        through the points it has.
    x : str, default 'epoch'
        Key of the x axis (``'epoch'`` or ``'step'``).
    series : sequence of str, optional
        Keys to draw; default every numeric key except ``x``. Keys containing ``'loss'``
        go on the left axis, the others (metrics) on a right axis when both kinds are drawn.
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure
        One ``Scatter`` (lines + markers) per series; the empty state with no usable record.

    Examples
    --------
    >>> recs = [{"epoch": 1, "train_loss": 0.9, "val_dice": 0.3}, {"epoch": 2, "train_loss": 0.7, "val_dice": 0.4}]
    >>> fig = training_curves_figure(recs)
    >>> [(t.name, t.yaxis) for t in fig.data]
    [('train_loss', 'y'), ('val_dice', 'y2')]
    """
    if isinstance(records, (str, bytes)) or not isinstance(records, Sequence):
        raise InputError(f"records must be a list of dicts; got {type(records).__name__}.")
    if any(not isinstance(r, Mapping) for r in records):
        raise InputError("records must be a list of dicts (one per logged epoch or step).")
    rows = [r for r in records if _is_number(r.get(x))]
    if not rows:
        return empty_figure(f"No training records with '{x}' yet.", title=title)
    if series is None:
        keys: list[str] = []
        for r in rows:
            for k, v in r.items():
                if k != x and k not in keys and _is_number(v):
                    keys.append(k)
        series = keys
    series = list(series)
    if not series:
        return empty_figure("No numeric series to plot.", title=title)
    losses = [s for s in series if "loss" in s.lower()]
    two_axes = bool(losses) and len(losses) < len(series)
    fig = go.Figure()
    for s in series:
        pts = [(float(r[x]), float(r[s])) for r in rows if _is_number(r.get(s))]
        if not pts:
            continue
        pts.sort()
        on_right = two_axes and s not in losses
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in pts],
                y=[p[1] for p in pts],
                mode="lines+markers" if len(pts) < 200 else "lines",
                name=s,
                yaxis="y2" if on_right else "y",
                line=dict(dash="dot" if on_right else "solid"),
            )
        )
    if not fig.data:
        return empty_figure("The chosen series have no values yet.", title=title)
    layout: dict[str, Any] = dict(
        template=_TEMPLATE,
        title=title,
        xaxis_title=x,
        yaxis_title="loss" if losses else "value",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0.0),
    )
    if two_axes:
        layout["yaxis2"] = dict(title="metric", overlaying="y", side="right", showgrid=False)
    fig.update_layout(**layout)
    return fig
