"""Drift vector, drift heat map and boundary-width figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from grainseg_core.drift import boundary_width_table, drift_magnitude, drift_vectors
from grainseg_core.drift_figures import (
    boundary_width_figure,
    drift_heatmap_figure,
    drift_vector_figure,
)
from grainseg_core.errors import InputError


def test_vector_segments_start_at_samples_and_follow_the_drift():
    d = np.zeros((2, 64, 96), np.float32)
    d[0] = 2.0  # d_row
    d[1] = -1.0  # d_col
    fig = drift_vector_figure(drift_vectors(d, step=32), (64, 96), scale=4.0)
    seg, pts = fig.data
    x = np.asarray(seg.x, float).reshape(-1, 3)
    y = np.asarray(seg.y, float).reshape(-1, 3)
    assert x.shape == (6, 3) and np.isnan(x[:, 2]).all()
    np.testing.assert_allclose(x[:, 1] - x[:, 0], -4.0)
    np.testing.assert_allclose(y[:, 1] - y[:, 0], 8.0)
    np.testing.assert_allclose(np.asarray(pts.x, float), x[:, 0])
    assert "d_row +2.00 px" in pts.text[0]
    assert tuple(fig.layout.yaxis.range) == (63.5, -0.5)
    assert fig.layout.meta["scale"] == 4.0


def test_default_scale_fits_the_grid_and_empty_table():
    d = np.zeros((2, 64, 64), np.float32)
    d[1] = 0.5
    fig = drift_vector_figure(drift_vectors(d, step=16), (64, 64))
    assert fig.layout.meta["scale"] == pytest.approx(0.8 * 16 / 0.5)
    empty = drift_vector_figure(drift_vectors(d, step=16).iloc[:0], (64, 64))
    assert len(empty.data) == 0
    with pytest.raises(InputError, match="columns"):
        drift_vector_figure(pd.DataFrame({"row": [1]}), (8, 8))
    with pytest.raises(InputError, match="scale must be a positive"):
        drift_vector_figure(drift_vectors(d, step=16), (64, 64), scale=-1.0)
    with pytest.raises(InputError, match="shape must be"):
        drift_vector_figure(drift_vectors(d, step=16), (0, 64))


def test_heatmap_downsamples_by_area_and_converts_units():
    d = np.zeros((2, 400, 200), np.float32)
    d[0, :200] = 3.0
    d[1, :200] = 4.0  # magnitude 5 in the top half, 0 below
    fig = drift_heatmap_figure(drift_magnitude(d), pixel_size_um=0.1, max_side=100)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (100, 50)
    np.testing.assert_allclose(z[:50], 0.5, rtol=1e-6)
    np.testing.assert_allclose(z[50:], 0.0)
    assert fig.data[0].colorbar.title.text == "|drift| (um)"
    assert np.asarray(fig.data[0].y)[0] == pytest.approx(1.5)  # centre of the first 4-px block
    small = drift_heatmap_figure(np.ones((10, 10), np.float32))
    assert np.asarray(small.data[0].z).shape == (10, 10)
    with pytest.raises(InputError, match="2-D array"):
        drift_heatmap_figure(np.ones(5))
    with pytest.raises(InputError, match="max_side"):
        drift_heatmap_figure(np.ones((4, 4)), max_side=1)


def test_boundary_width_bars_per_map():
    lab = np.zeros((30, 40), bool)
    lab[10, :] = True
    cor = np.zeros((30, 40), bool)
    cor[9:12, :] = True
    table = boundary_width_table(lab, corrected=cor)
    fig = boundary_width_figure(table)
    assert [b.name for b in fig.data] == ["label", "corrected"]
    label_bar = fig.data[0]
    assert float(np.asarray(label_bar.y)[np.asarray(label_bar.x) == 1.0][0]) == 1.0
    with pytest.raises(InputError, match="columns"):
        boundary_width_figure(pd.DataFrame({"map": ["a"]}))
