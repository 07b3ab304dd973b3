"""Model-vs-model comparison tables, gap closures, crops, and their figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from grainseg_core.compare import (
    DISTANCE_COLUMNS,
    METRIC_COLUMNS,
    compare_models,
    crop_bounds,
    gap_closures,
    sites_in_crop,
)
from grainseg_core.compare_figures import grain_size_overlay_figure, marked_overlay_figure
from grainseg_core.errors import InputError


def _cross(n: int = 40) -> np.ndarray:
    t = np.zeros((n, n), bool)
    t[:, n // 2] = True
    t[n // 2, :] = True
    return t


def test_metric_table_known_answers():
    t = _cross()
    a = t.copy()
    b = t.copy()
    b[5:15, 20] = False  # a 10-px gap: the two top grains merge
    shifted = np.roll(t, 1, axis=1)  # every vertical pixel one column off
    cmp = compare_models({"A": a, "B": b, "S": shifted}, t, tolerance_px=0)
    m = cmp.metrics
    assert list(m.columns) == list(METRIC_COLUMNS)
    assert m.loc["A", ["precision", "recall", "dice", "ari"]].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert m.loc["A", "vi_split"] == 0.0 and m.loc["A", "vi_merge"] == 0.0
    assert m.loc["A", "n_grains"] == 4 and m.loc["A", "grain_count_error"] == 0
    assert m.loc["B", "precision"] == 1.0
    assert m.loc["B", "recall"] == pytest.approx((79 - 10) / 79)
    assert m.loc["B", "n_grains"] == 3 and m.loc["B", "grain_count_error"] == -1
    assert m.loc["B", "vi_merge"] > 0 and m.loc["B", "vi_split"] == pytest.approx(0.0, abs=1e-12)
    assert m.loc["S", "recall"] < 0.6
    # with a 1-px tolerance the shifted map is as good as the truth pixel-wise
    tol = compare_models({"S": shifted}, t, tolerance_px=1.0)
    assert tol.metrics.loc["S", "precision"] == 1.0 and tol.metrics.loc["S", "recall"] == 1.0
    assert tol.tolerance_px == 1.0


def test_grain_tables_and_distances():
    t = _cross()
    b = t.copy()
    b[5:15, 20] = False
    cmp = compare_models({"A": t, "B": b}, t, pixel_size_um=0.5, bins=10)
    assert list(cmp.grain_tables) == ["ground truth", "A", "B"]
    assert cmp.size_column == "ecd_um"
    sizes = cmp.sizes()
    assert len(sizes["ground truth"]) == 4 and len(sizes["B"]) == 3
    d = cmp.distances
    assert list(d.columns) == list(DISTANCE_COLUMNS)
    assert d.loc["A", "js_distance"] == 0.0 and d.loc["A", "ks_statistic"] == 0.0
    assert d.loc["B", "js_distance"] > 0.3
    assert d.loc["A", "median_size"] == pytest.approx(np.median(sizes["A"]))
    # min_size_px drops small grains from tables (not from the pixel metrics)
    small = t.copy()
    small[2, 2] = True
    small[1:4, 1:4] = True
    small[2, 2] = False  # a 1-px grain inside a ring
    cut = compare_models({"A": small}, t, min_size_px=3)
    assert len(cut.grain_tables["A"]) == 4


def test_model_without_grains_gets_nan_distances():
    t = _cross()
    cmp = compare_models({"all": np.ones_like(t)}, t)
    assert np.isnan(cmp.distances.loc["all", "js_distance"])
    assert cmp.distances.loc["all", "n_grains"] == 0


def test_compare_models_validation():
    t = _cross()
    with pytest.raises(InputError, match="non-empty mapping"):
        compare_models({}, t)
    with pytest.raises(InputError, match="may not be called 'ground truth'"):
        compare_models({"ground truth": t}, t)
    with pytest.raises(InputError, match=r"predictions\['A'\] \(shape \(4, 4\)\) must match"):
        compare_models({"A": np.zeros((4, 4), bool)}, t)
    with pytest.raises(InputError, match="tolerance_px must be a number >= 0"):
        compare_models({"A": t}, t, tolerance_px=-1)
    with pytest.raises(InputError, match="min_size_px must be an integer"):
        compare_models({"A": t}, t, min_size_px=1.5)
    with pytest.raises(InputError, match="bins must be an integer"):
        compare_models({"A": t}, t, bins=0)


def test_gap_closures_both_directions():
    t = np.zeros((3, 12), bool)
    t[1] = True
    a = t.copy()
    a[1, 2:5] = False  # A misses 3 px
    b = t.copy()
    b[1, 7:11] = False  # B misses 4 px
    sites = gap_closures(a, b, t, names=("bce", "topo"), min_size_px=1)
    assert sites[["closed_by", "left_open_by", "size_px"]].values.tolist() == [
        ["bce", "topo", 4],
        ["topo", "bce", 3],
    ]
    assert sites.loc[0, "col"] == pytest.approx(8.5) and sites.loc[0, "row"] == 1.0
    assert gap_closures(a, b, t, names=("bce", "topo"), min_size_px=4)["size_px"].tolist() == [4]
    # a tolerance of 3 px lets each model "find" the other's gap from its ends: fewer sites
    assert len(gap_closures(a, b, t, names=("x", "y"), tolerance_px=3, min_size_px=1)) == 0
    with pytest.raises(InputError, match="two different model names"):
        gap_closures(a, b, t, names=("x", "x"))


def test_crop_bounds_and_sites():
    assert crop_bounds((100, 200), center=(50, 100), size=(20, 40)) == (40, 60, 80, 120)
    assert crop_bounds((100, 200), center=(0, 0), size=(20, 40)) == (0, 20, 0, 40)
    assert crop_bounds((100, 200), center=(99, 199), size=(500, 500)) == (0, 100, 0, 200)
    with pytest.raises(InputError, match="must be positive"):
        crop_bounds((100, 200), center=(0, 0), size=(0, 10))
    with pytest.raises(InputError, match="pairs of numbers"):
        crop_bounds((100, 200), center="middle", size=(10, 10))
    sites = pd.DataFrame({"row": [45.0, 10.0], "col": [90.0, 90.0], "size_px": [5, 6]})
    inside = sites_in_crop(sites, (40, 60, 80, 120))
    assert inside[["row", "col", "size_px"]].values.tolist() == [[5.0, 10.0, 5.0]]


def test_marked_overlay_figure():
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[10, 20] = (255, 0, 0)
    sites = pd.DataFrame({"row": [10.0, 30.0], "col": [20.0, 5.0], "size_px": [4, 100]})
    fig = marked_overlay_figure(rgb, sites, title="A", marker_name="gap closed")
    img, marks = fig.data
    assert np.asarray(img.z).shape == (40, 60, 3) and img.dx == 1.0
    assert list(marks.x) == [20.0, 5.0] and list(marks.y) == [10.0, 30.0]
    assert marks.marker.size[1] > marks.marker.size[0]
    assert tuple(fig.layout.yaxis.range) == (39.5, -0.5)  # rows grow downwards
    assert len(marked_overlay_figure(rgb).data) == 1
    big = marked_overlay_figure(np.zeros((2000, 1000, 3), np.uint8), max_side=500)
    assert np.asarray(big.data[0].z).shape == (500, 250, 3) and big.data[0].dx == 4.0
    with pytest.raises(InputError, match="uint8 \\(M, N, 3\\)"):
        marked_overlay_figure(np.zeros((4, 4)))
    with pytest.raises(InputError, match="columns 'row' and 'col'"):
        marked_overlay_figure(rgb, pd.DataFrame({"x": [1]}))


def test_grain_size_overlay_figure():
    t = _cross()
    b = t.copy()
    b[5:15, 20] = False
    cmp = compare_models({"A": t, "B": b}, t)
    fig = grain_size_overlay_figure(cmp.sizes(), cmp.distances, x_title="ECD (px)")
    assert [tr.name for tr in fig.data] == ["ground truth (n=4)", "A (n=4)", "B (n=3)"]
    assert fig.layout.meta["js_distance"]["A"] == 0.0
    assert fig.layout.title.text.startswith("JS distance to the ground truth: A 0.000, B ")
    with pytest.raises(InputError, match="'js_distance' column"):
        grain_size_overlay_figure(cmp.sizes(), pd.DataFrame({"x": [1.0]}))
