"""Tests of grainseg_core.drift: literal drift fields and masks with exact answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from grainseg_core.drift import (
    OVERLAY_KINDS,
    boundary_width_summary,
    boundary_width_table,
    drift_magnitude,
    drift_summary,
    drift_vectors,
    sem_label_overlay,
)
from grainseg_core.errors import InputError
from grainseg_core.registration import register, warp_label


def _field(rows=64, cols=96, d_row=3.0, d_col=4.0):
    d = np.zeros((2, rows, cols), np.float32)
    d[0], d[1] = d_row, d_col
    return d


# --------------------------------------------------------------------------- magnitude


def test_drift_magnitude_is_vector_length():
    d = _field()
    d[:, 10, 20] = (-6.0, 8.0)
    mag = drift_magnitude(d)
    assert mag.shape == (64, 96) and mag.dtype == np.float32
    assert mag[0, 0] == 5.0 and mag[10, 20] == 10.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_drift_magnitude_accepts_numeric_dtypes(dtype):
    assert drift_magnitude(_field().astype(dtype)).dtype == np.float32


# --------------------------------------------------------------------------- vectors


def test_drift_vectors_grid_positions_and_values():
    rows, cols = 64, 96
    d = np.stack(np.mgrid[0:rows, 0:cols]).astype(np.float32)  # d = (row, col) itself
    t = drift_vectors(d, step=32)
    assert list(t.columns) == ["row", "col", "d_row", "d_col", "magnitude_px"]
    assert t["row"].tolist() == [16, 16, 16, 48, 48, 48]
    assert t["col"].tolist() == [16, 48, 80, 16, 48, 80]
    np.testing.assert_array_equal(t["d_row"], t["row"])
    np.testing.assert_array_equal(t["d_col"], t["col"])
    np.testing.assert_allclose(t["magnitude_px"], np.hypot(t["row"], t["col"]))


def test_drift_vectors_in_micrometres_and_small_images():
    t = drift_vectors(_field(10, 12), step=32, pixel_size_um=0.05)
    assert len(t) == 1 and (t["row"].item(), t["col"].item()) == (5, 6)  # one central sample
    assert t["magnitude_px"].item() == 5.0
    assert t["magnitude_um"].item() == pytest.approx(0.25)


# --------------------------------------------------------------------------- summary


def test_drift_summary_rigid_field():
    s = drift_summary(_field(), pixel_size_um=0.2)
    assert s["mean_d_row_px"] == 3.0 and s["mean_d_col_px"] == 4.0
    for key in ("mean_px", "median_px", "p95_px", "max_px", "rms_px"):
        assert s[key] == pytest.approx(5.0)
    assert s["max_um"] == pytest.approx(1.0)
    assert s["n_pixels"] == 64 * 96


def test_drift_summary_margin_leaves_out_the_border():
    d = _field(d_row=0.0, d_col=0.0)
    d[0, :2, :] = 100.0  # an extrapolated top strip
    assert drift_summary(d)["max_px"] == 100.0
    s = drift_summary(d, margin_px=2)
    assert s["max_px"] == 0.0 and s["n_pixels"] == 60 * 92
    assert "mean_um" not in s


def test_drift_summary_of_a_registration():
    rng = np.random.default_rng(0)
    lab = np.zeros((256, 256), bool)
    lab[rng.integers(0, 256, 12), :] = True
    lab[:, rng.integers(0, 256, 12)] = True
    sem = np.where(lab, 40, 200).astype(np.uint8)
    moved = np.zeros_like(lab)
    moved[5:, :-3] = lab[:-5, 3:]  # moved[r, c] = lab[r - 5, c + 3], no wrap-around
    res = register(sem, moved)
    s = drift_summary(res.drift, margin_px=32)
    assert s["mean_d_row_px"] == pytest.approx(5.0, abs=0.3)
    assert s["mean_d_col_px"] == pytest.approx(-3.0, abs=0.3)
    assert s["median_px"] == pytest.approx(np.hypot(5, 3), abs=0.3)


@pytest.mark.parametrize(
    "drift, match",
    [
        (np.zeros((3, 4, 4)), r"\(2, M, N\)"),
        (np.zeros((4, 4)), r"\(2, M, N\)"),
        (np.full((2, 4, 4), np.nan), "16 pixels with NaN"),
        (np.zeros((2, 4, 4), bool), "must be numeric"),
    ],
)
def test_drift_validation(drift, match):
    with pytest.raises(InputError, match=match):
        drift_magnitude(drift)


@pytest.mark.parametrize(
    "func, kwargs, match",
    [
        (drift_vectors, {"step": 0}, "step must be an integer >= 1"),
        (drift_vectors, {"step": 2.5}, "step must be an integer"),
        (drift_vectors, {"pixel_size_um": -1}, "pixel_size_um must be a positive"),
        (drift_summary, {"margin_px": 40}, "leaves nothing of a 64x96 field"),
        (drift_summary, {"margin_px": -1}, "margin_px must be an integer >= 0"),
    ],
)
def test_option_validation(func, kwargs, match):
    with pytest.raises(InputError, match=match):
        func(_field(), **kwargs)


# --------------------------------------------------------------------------- overlays


def _sem_and_label():
    sem = np.full((32, 48), 200, np.uint8)
    sem[10, :] = 40  # a dark groove on row 10
    lab = np.zeros((32, 48), bool)
    lab[12, :] = True  # the label, drifted by 2 rows
    return sem, lab


def test_edges_overlay_paints_label_pixels():
    sem, lab = _sem_and_label()
    out = sem_label_overlay(sem, lab, kind="edges", alpha=1.0, color=(255, 0, 255))
    assert out.shape == (32, 48, 3) and out.dtype == np.uint8
    assert out[12, 5].tolist() == [255, 0, 255]
    assert out[10, 5].tolist() == [0, 0, 0]  # the groove, display-stretched to black
    assert out[0, 0].tolist() == [255, 255, 255]


def test_checkerboard_overlay_alternates_sem_and_label():
    sem, lab = _sem_and_label()
    out = sem_label_overlay(sem, lab, kind="checkerboard", tile=16)
    # top-left tile shows the SEM image (groove on row 10), the next one the label (row 12)
    assert out[10, 5, 0] == 0 and out[12, 5, 0] == 255
    assert out[10, 20, 0] == 255 and out[12, 20, 0] == 0


def test_blend_overlay_mixes_both():
    sem, lab = _sem_and_label()
    out = sem_label_overlay(sem, lab, kind="blend", alpha=0.5)
    assert out[10, 5, 0] == out[12, 5, 0] == 128  # half black (groove or line), half white
    assert out[0, 0, 0] == 255


def test_false_color_overlay_separates_the_two():
    sem, lab = _sem_and_label()
    out = sem_label_overlay(sem, lab, kind="false_color")
    assert out[10, 5].tolist() == [255, 0, 255]  # SEM dark (green 0), label white
    assert out[12, 5].tolist() == [0, 255, 0]  # label dark, SEM white
    assert out[0, 0].tolist() == [255, 255, 255]


def test_overlay_kinds_registry():
    assert set(OVERLAY_KINDS) == {"edges", "blend", "checkerboard", "false_color"}


@pytest.mark.parametrize(
    "kwargs, lab_shape, match",
    [
        (
            {"kind": "checker"},
            (32, 48),
            "unknown overlay kind 'checker'; did you mean 'checkerboard'",
        ),
        ({}, (32, 40), r"boundary \(shape \(32, 40\)\) must match sem_image"),
        ({"kind": "blend", "alpha": 2.0}, (32, 48), "alpha"),
        ({"kind": "checkerboard", "tile": 0}, (32, 48), "tile"),
    ],
)
def test_overlay_validation(kwargs, lab_shape, match):
    sem = np.zeros((32, 48), np.uint8)
    with pytest.raises(InputError, match=match):
        sem_label_overlay(sem, np.zeros(lab_shape, bool), **kwargs)


# --------------------------------------------------------------------------- boundary widths


def _lines(width, rows=40, cols=50):
    m = np.zeros((rows, cols), bool)
    m[10 : 10 + width, :] = True
    return m


def test_width_table_shares_bins_across_maps():
    label, corrected, prediction = _lines(1), _lines(2), _lines(5)
    t = boundary_width_table(label, corrected=corrected, prediction=prediction, pixel_size_um=0.1)
    assert list(t.columns) == [
        "map",
        "width_lo_px",
        "width_hi_px",
        "width_px",
        "count",
        "fraction",
        "width_um",
    ]
    assert t["map"].unique().tolist() == ["label", "corrected", "prediction"]
    bins = [g["width_px"].tolist() for _, g in t.groupby("map", sort=False)]
    assert bins[0] == bins[1] == bins[2] == [1.0, 2.0, 3.0, 4.0, 5.0]
    mode = t.loc[t.groupby("map", sort=False)["count"].idxmax()]
    assert mode["width_px"].tolist() == [1.0, 2.0, 5.0]
    np.testing.assert_allclose(t.groupby("map")["fraction"].sum(), 1.0)
    assert t["width_um"].max() == pytest.approx(0.5)


def test_width_table_of_an_empty_map_has_zero_counts():
    t = boundary_width_table(_lines(3), prediction=np.zeros((40, 50), bool), bin_px=2.0)
    pred = t[t["map"] == "prediction"]
    assert pred["width_px"].tolist() == t[t["map"] == "label"]["width_px"].tolist()
    assert (pred["count"] == 0).all() and (pred["fraction"] == 0).all()


def test_width_summary_reports_excess_width():
    s = boundary_width_summary(
        _lines(1), corrected=_lines(1), prediction=_lines(9), pixel_size_um=0.5
    )
    assert isinstance(s, pd.DataFrame) and list(s.index) == ["label", "corrected", "prediction"]
    assert s.loc["label", "median_px"] == 1.0 and s.loc["prediction", "median_px"] == 9.0
    assert s.loc["prediction", "excess_mean_px"] == pytest.approx(8.0)
    assert s.loc["corrected", "excess_mean_px"] == 0.0
    assert s.loc["prediction", "mean_um"] == pytest.approx(4.5)
    empty = boundary_width_summary(np.zeros((8, 8), bool))
    assert empty.loc["label", "n_skeleton_px"] == 0 and np.isnan(empty.loc["label", "mean_px"])


def test_drift_widens_a_union_of_labels():
    # Seed 000's mechanism: a network trained on drifted labels learns their union.
    lab = _lines(1)
    drifted = [warp_label(lab, _field(40, 50, d_row=float(k), d_col=0.0)) for k in range(-3, 4)]
    union = np.logical_or.reduce(drifted)
    s = boundary_width_summary(lab, prediction=union)
    assert s.loc["prediction", "median_px"] == 7.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"prediction": np.zeros((5, 5), bool)}, r"prediction \(shape \(5, 5\)\) must match label"),
        ({"bin_px": 0}, "bin_px must be a positive"),
        ({"max_width_px": 0.2}, "max_width_px must be a number of pixels > 0.5"),
        ({"pixel_size_um": 0}, "pixel_size_um must be a positive"),
    ],
)
def test_width_table_validation(kwargs, match):
    with pytest.raises(InputError, match=match):
        boundary_width_table(_lines(1), **kwargs)
