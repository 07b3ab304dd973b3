"""Tests of grainseg_core.figures: traces, titles, statistics, empty states, validation."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from scipy.spatial import cKDTree

from grainseg_core.distributions import fit_distribution, js_distance_histograms, ks_two_sample
from grainseg_core.errors import InputError
from grainseg_core.figures import (
    aspect_ratio_distribution_figure,
    cdf_comparison_figure,
    empty_figure,
    histogram_with_fits_figure,
    histograms_figure,
    metric_bars_figure,
    size_distribution_figure,
    size_shape_scatter_figure,
    training_curves_figure,
)
from grainseg_core.grains import grain_table


def _is_empty(fig: go.Figure) -> bool:
    return len(fig.data) == 0 and fig.layout.meta == {"empty": True} and len(fig.layout.annotations) == 1


@pytest.fixture(scope="module")
def grains() -> pd.DataFrame:
    """A real-looking grain table: a seeded Voronoi tessellation, boundaries 1 px wide."""
    rng = np.random.default_rng(0)
    m, n = 256, 320
    seeds = rng.uniform(0, [m, n], size=(120, 2))
    rr, cc = np.mgrid[:m, :n]
    _, lab = cKDTree(seeds).query(np.column_stack([rr.ravel(), cc.ravel()]))
    lab = lab.reshape(m, n)
    boundary = np.zeros((m, n), bool)
    boundary[:-1] |= lab[:-1] != lab[1:]
    boundary[:, :-1] |= lab[:, :-1] != lab[:, 1:]
    return grain_table(boundary, pixel_size_um=0.25)


def test_empty_figure():
    fig = empty_figure("Nothing here", title="T")
    assert _is_empty(fig) and fig.layout.annotations[0].text == "Nothing here"
    assert fig.layout.title.text == "T"


def test_size_distribution_with_fits(grains):
    fig = size_distribution_figure(grains["ecd_um"], unit="um")
    assert [t.type for t in fig.data] == ["histogram", "scatter", "scatter", "scatter"]
    assert [t.meta["family"] for t in fig.data[1:]] == ["exponential", "lognormal", "gamma"]
    assert fig.layout.xaxis.title.text == "equivalent circle diameter (µm)"
    assert fig.layout.yaxis.title.text == "probability density"
    assert fig.data[0].histnorm == "probability density"
    assert fig.data[0].name == f"grains (n={len(grains)})"
    # the drawn PDF is the fit's
    fit = fit_distribution(grains["ecd_um"], "exponential")
    line = fig.data[1]
    assert np.allclose(line.y, fit.pdf(np.asarray(line.x)))
    assert "AIC" in line.name


def test_size_distribution_few_values_and_empty():
    one = size_distribution_figure([4.2], unit="px")
    assert [t.type for t in one.data] == ["histogram"]
    assert "too few" in " ".join(a.text for a in one.layout.annotations)
    assert _is_empty(size_distribution_figure([]))
    assert _is_empty(size_distribution_figure([np.nan, np.inf]))
    same = size_distribution_figure([3.0, 3.0, 3.0, 3.0])
    assert len(same.data) == 1 and "too uniform" in same.layout.annotations[0].text


def test_aspect_ratio_distribution(grains):
    fig = aspect_ratio_distribution_figure(grains["aspect_ratio"])
    assert [t.type for t in fig.data] == ["histogram", "scatter"]
    assert fig.data[1].meta["family"] == "beta"
    assert list(fig.layout.xaxis.range) == [0, 1]
    x = np.asarray(fig.data[0].x)
    assert np.allclose(x, 1.0 / grains["aspect_ratio"].to_numpy())
    assert fig.data[0].xbins.size == pytest.approx(1 / 40)
    assert _is_empty(aspect_ratio_distribution_figure([]))
    assert len(aspect_ratio_distribution_figure([1.5]).data) == 1
    with pytest.raises(InputError, match="aspect_ratio must be >= 1"):
        aspect_ratio_distribution_figure([0.5, 0.6, 0.7])


def test_histogram_with_fits_validation():
    with pytest.raises(InputError, match="bins must be an integer >= 1"):
        histogram_with_fits_figure([1.0, 2.0], bins=0)
    with pytest.raises(InputError, match="fits must hold DistributionFit"):
        histogram_with_fits_figure([1.0, 2.0], fits=["exponential"])
    with pytest.raises(InputError, match="must be 1-D"):
        histogram_with_fits_figure(np.ones((2, 2)))


def test_histograms_figure_shared_bins():
    fig = histograms_figure({"min 3 px": [3, 4, 5, 20], "min 11 px": [11, 20], "none": []}, x_title="ECD (px)")
    assert [t.name for t in fig.data] == ["min 3 px (n=4)", "min 11 px (n=2)"]
    assert fig.data[0].xbins.size == fig.data[1].xbins.size
    assert fig.layout.barmode == "overlay"
    assert _is_empty(histograms_figure({"a": []}))
    with pytest.raises(InputError, match="samples must be a mapping"):
        histograms_figure([1, 2])


def test_cdf_comparison_reports_ks_and_js():
    rng = np.random.default_rng(1)
    a, b = rng.exponential(5.0, 800), rng.exponential(7.0, 600)
    fig = cdf_comparison_figure(a, b, x_title="ECD (µm)", family="exponential")
    meta = fig.layout.meta
    ks = ks_two_sample(a, b)
    assert meta["ks_statistic"] == pytest.approx(ks.statistic)
    assert meta["js_histogram"] == pytest.approx(js_distance_histograms(a, b, bins=40))
    assert 0 < meta["js_pdf"] < 1
    assert f"KS D = {ks.statistic:.3f}" in fig.layout.title.text and "JS" in fig.layout.title.text
    assert [t.name for t in fig.data] == ["ground truth (n=800)", "prediction (n=600)"]
    ys = np.asarray(fig.data[0].y)
    assert ys[-1] == 1.0 and np.all(np.diff(ys) > 0)
    titled = cdf_comparison_figure(a, b, title="Sizes")
    assert titled.layout.title.text == "Sizes" and "KS D" in titled.layout.annotations[0].text


def test_cdf_comparison_edge_cases():
    assert _is_empty(cdf_comparison_figure([], [1.0, 2.0]))
    one = cdf_comparison_figure([2.0], [3.0], family="exponential")
    assert one.layout.meta["ks_statistic"] == 1.0 and "too few values" in one.layout.title.text
    bad = cdf_comparison_figure([0.0, 1.0, 2.0], [1.0, 2.0, 3.0], family="lognormal")
    assert "no lognormal fit" in bad.layout.title.text


def test_size_shape_scatter(grains):
    fig = size_shape_scatter_figure(grains, color_column="orientation_deg")
    tr = fig.data[0]
    assert tr.type == "scattergl" and len(tr.x) == len(grains)
    assert np.allclose(tr.y, 1.0 / grains["aspect_ratio"].to_numpy())
    assert fig.layout.xaxis.title.text == "equivalent circle diameter (µm)"
    assert tr.marker.showscale
    px_only = grains.assign(ecd_um=np.nan)
    assert size_shape_scatter_figure(px_only).layout.xaxis.title.text == "equivalent circle diameter (px)"
    assert _is_empty(size_shape_scatter_figure(grains.iloc[:0]))
    with pytest.raises(InputError, match="no column 'nope'"):
        size_shape_scatter_figure(grains, color_column="nope")
    with pytest.raises(InputError, match="must be a grain table"):
        size_shape_scatter_figure([1, 2])


def test_metric_bars_grouped_per_model():
    metrics = {
        "U-Net BCE": {"precision": 0.276, "recall": 0.794, "dice": 0.409, "arch": "unet"},
        "U-Net BCE+Topo": {"precision": 0.30, "recall": 0.78, "dice": 0.43},
    }
    fig = metric_bars_figure(metrics)
    assert fig.layout.barmode == "group"
    assert [t.name for t in fig.data] == ["U-Net BCE", "U-Net BCE+Topo"]
    assert list(fig.data[0].x) == ["precision", "recall", "dice"]  # non-numeric 'arch' skipped
    assert list(fig.data[1].y) == [0.30, 0.78, 0.43]
    df = pd.DataFrame(metrics).T.drop(columns="arch")
    assert [t.name for t in metric_bars_figure(df).data] == ["U-Net BCE", "U-Net BCE+Topo"]
    sub = metric_bars_figure(metrics, metric_names=["dice"])
    assert list(sub.data[0].x) == ["dice"]
    assert _is_empty(metric_bars_figure({}))
    with pytest.raises(InputError, match="must be a mapping metric -> value"):
        metric_bars_figure({"m": [0.1, 0.2]})
    with pytest.raises(InputError, match="metrics must be a mapping model"):
        metric_bars_figure([0.1])


def test_training_curves_from_records():
    recs = [
        {"epoch": 1, "train_loss": 0.9, "val_loss": 0.95, "lr": 1e-3},
        {"epoch": 2, "train_loss": 0.7, "val_loss": 0.8, "val_dice": 0.35, "lr": 1e-3},
        {"epoch": 3, "train_loss": 0.6, "val_loss": 0.7, "val_dice": 0.41, "lr": 5e-4, "note": "x"},
        {"step": 10, "train_loss": 0.5},  # no epoch: skipped
    ]
    fig = training_curves_figure(recs)
    names = [t.name for t in fig.data]
    assert names == ["train_loss", "val_loss", "lr", "val_dice"]
    by = {t.name: t for t in fig.data}
    assert list(by["train_loss"].x) == [1.0, 2.0, 3.0] and by["train_loss"].yaxis == "y"
    assert list(by["val_dice"].x) == [2.0, 3.0] and by["val_dice"].yaxis == "y2"
    assert fig.layout.yaxis2.overlaying == "y" and fig.layout.xaxis.title.text == "epoch"
    only = training_curves_figure(recs, series=["val_dice"])
    assert [t.name for t in only.data] == ["val_dice"] and only.data[0].yaxis == "y"
    steps = training_curves_figure(recs, x="step")
    assert [t.name for t in steps.data] == ["train_loss"]


def test_training_curves_empty_and_invalid():
    assert _is_empty(training_curves_figure([]))
    assert _is_empty(training_curves_figure([{"loss": 1.0}]))
    assert _is_empty(training_curves_figure([{"epoch": 1, "note": "start"}]))
    assert _is_empty(training_curves_figure([{"epoch": 1, "loss": 1.0}], series=["dice"]))
    with pytest.raises(InputError, match="records must be a list of dicts"):
        training_curves_figure("metrics.jsonl")
    with pytest.raises(InputError, match="records must be a list of dicts"):
        training_curves_figure([1, 2])


def test_figures_serialise_without_warnings(grains):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figs = [
            size_distribution_figure(grains["ecd_um"]),
            aspect_ratio_distribution_figure(grains["aspect_ratio"]),
            size_shape_scatter_figure(grains),
            cdf_comparison_figure(grains["ecd_px"], grains["ecd_px"] * 1.1, family="gamma"),
        ]
        for f in figs:
            assert f.to_json()
    assert [str(w.message) for w in caught] == []
