"""Tests of grain labelling and the per-grain table (grainseg_core.grains)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree
from skimage.draw import ellipse
from skimage.measure import perimeter_crofton, regionprops

from grainseg_core.errors import InputError
from grainseg_core.grains import GRAIN_TABLE_COLUMNS, grain_table, label_grains


def _square_grid(n_cells: int, cell: int) -> np.ndarray:
    """Boundary mask of n_cells x n_cells square grains of cell x cell pixels, 1-px lines."""
    size = n_cells * (cell + 1) + 1
    b = np.zeros((size, size), bool)
    b[:: cell + 1, :] = True
    b[:, :: cell + 1] = True
    return b


def _voronoi_labels(shape: tuple[int, int], n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 1, (n, 2)) * shape
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    _, idx = cKDTree(pts).query(np.c_[rr.ravel(), cc.ravel()])
    labels = (idx.reshape(shape) + 1).astype(np.int32)
    # Boundaries where the right or lower neighbour differs: 4-connected cells stay apart.
    b = np.zeros(shape, bool)
    b[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    b[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return label_grains(b)


# ---------------------------------------------------------------- label_grains


def test_label_grains_literal_and_4_connectivity():
    b = np.array(
        [
            [0, 0, 1, 0],
            [0, 1, 0, 0],
            [1, 0, 0, 0],
        ],
        dtype=bool,
    )
    # The diagonal boundary separates the corner pixels from the rest (no 8-leak).
    expected = np.array([[1, 1, 0, 2], [1, 0, 2, 2], [0, 2, 2, 2]], dtype=np.int32)
    out = label_grains(b)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, expected)


def test_label_grains_accepts_0_255():
    b = np.zeros((3, 5), np.uint8)
    b[:, 2] = 255
    np.testing.assert_array_equal(label_grains(b), label_grains(b > 0))
    assert label_grains(b).max() == 2


def test_label_grains_rejects_3d():
    with pytest.raises(InputError, match="boundary must be a 2-D array"):
        label_grains(np.zeros((2, 3, 4), bool))


# ---------------------------------------------------------------- grain_table: exact answers


def test_square_grid_exact_ecd_and_aspect():
    b = _square_grid(5, 10)
    t = grain_table(b, pixel_size_um=0.5)
    assert list(t.columns) == list(GRAIN_TABLE_COLUMNS)
    assert len(t) == 25
    np.testing.assert_array_equal(t["area_px"], 100)
    np.testing.assert_allclose(t["ecd_px"], math.sqrt(400 / math.pi), rtol=1e-12)
    np.testing.assert_allclose(t["ecd_um"], 0.5 * math.sqrt(400 / math.pi), rtol=1e-12)
    np.testing.assert_allclose(t["area_um2"], 25.0, rtol=1e-12)
    np.testing.assert_allclose(t["aspect_ratio"], 1.0, rtol=1e-12)
    np.testing.assert_allclose(t["major_axis_px"], t["minor_axis_px"], rtol=1e-12)
    # Variance of 10 consecutive integers is 99/12: the skimage axis is 4*sqrt of it.
    np.testing.assert_allclose(t["major_axis_px"], 4 * math.sqrt(99 / 12), rtol=1e-12)
    # Centroids on the grid; grains in raster order; none touches the frame (lines there).
    np.testing.assert_allclose(t["centroid_row"].to_numpy()[:5], 5.5)
    np.testing.assert_allclose(t["centroid_col"].to_numpy()[:5], 5.5 + 11 * np.arange(5))
    assert not t["touches_edge"].any()
    assert t["label"].dtype == np.int32 and t["area_px"].dtype == np.int64


def test_literal_shapes_aspect_orientation():
    labels = np.zeros((12, 12), np.int32)
    labels[1, 1] = 1  # one pixel
    labels[3, 1:6] = 2  # horizontal line of 5
    labels[5:10, 1] = 3  # vertical line of 5
    labels[5:8, 4:10] = 4  # 3 x 6 rectangle, long side horizontal
    anti = np.arange(4)
    labels[8 + anti[::-1], 7 + anti] = 5  # diagonal rising to the right as displayed
    t = grain_table(labels).set_index("label")
    np.testing.assert_allclose(t.loc[1, "aspect_ratio"], 1.0)
    np.testing.assert_allclose(t.loc[2, "aspect_ratio"], 5.0)
    np.testing.assert_allclose(t.loc[3, "aspect_ratio"], 5.0)
    np.testing.assert_allclose(t.loc[4, "aspect_ratio"], 2.0)
    assert t.loc[1, "orientation_deg"] == 0.0
    assert t.loc[2, "orientation_deg"] == 0.0
    assert t.loc[3, "orientation_deg"] == 90.0
    assert t.loc[4, "orientation_deg"] == 0.0
    np.testing.assert_allclose(t.loc[5, "orientation_deg"], 45.0)
    # A 1-px grain and a line have a zero minor axis (skimage convention) but a finite ratio.
    assert t.loc[1, "minor_axis_px"] == 0.0 and t.loc[2, "minor_axis_px"] == 0.0
    # Crofton perimeter of a single pixel: pi/8 * (2 + 2 + 4/sqrt(2)).
    np.testing.assert_allclose(t.loc[1, "perimeter_px"], math.pi / 8 * (4 + 4 / math.sqrt(2)))


@pytest.mark.parametrize("rotation_deg", [0.0, 30.0, -30.0, 75.0])
@pytest.mark.parametrize("radii", [(10, 30), (15, 15), (8, 40)])
def test_drawn_ellipses_axis_ratio_and_orientation(radii, rotation_deg):
    r_radius, c_radius = radii
    img = np.zeros((120, 120), np.int32)
    rr, cc = ellipse(60, 60, r_radius, c_radius, shape=img.shape, rotation=np.radians(rotation_deg))
    img[rr, cc] = 1
    t = grain_table(img)
    expected = max(radii) / min(radii)
    np.testing.assert_allclose(t["aspect_ratio"][0], expected, rtol=0.03)
    if expected > 1:
        # skimage.draw rotates counter-clockwise as displayed: our convention.
        np.testing.assert_allclose(t["orientation_deg"][0], rotation_deg, atol=1.0)
    np.testing.assert_allclose(t["perimeter_px"][0], perimeter_crofton(img > 0, 4), rtol=1e-9)


def test_matches_regionprops_on_voronoi():
    labels = _voronoi_labels((96, 128), 40, seed=3)
    t = grain_table(labels).set_index("label")
    props = regionprops(labels)
    assert len(props) == len(t) == labels.max()
    for p in props:
        row = t.loc[p.label]
        assert row["area_px"] == p.area
        np.testing.assert_allclose(
            [row["centroid_row"], row["centroid_col"]], p.centroid, atol=1e-9
        )
        np.testing.assert_allclose(row["major_axis_px"], p.axis_major_length, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(row["minor_axis_px"], p.axis_minor_length, rtol=1e-7, atol=1e-6)
        np.testing.assert_allclose(row["perimeter_px"], perimeter_crofton(p.image, 4), rtol=1e-9)
        if p.axis_major_length > 1.05 * p.axis_minor_length:  # orientation is defined
            # skimage: angle from the row axis, major axis (d_row, d_col) = (cos, sin).
            ours = np.radians(row["orientation_deg"])
            dot = np.cos(p.orientation) * -np.sin(ours) + np.sin(p.orientation) * np.cos(ours)
            np.testing.assert_allclose(abs(dot), 1.0, atol=1e-6)
        # Plain PCA on pixel centres (seed 000) and the pixel-square ratio agree closely.
        coords = p.coords.astype(float)
        ev = np.sort(np.linalg.eigvalsh(np.cov(coords.T, bias=True)))
        np.testing.assert_allclose(
            row["aspect_ratio"], np.sqrt((ev[1] + 1 / 12) / (ev[0] + 1 / 12)), rtol=1e-9
        )
        if p.area > 50:
            np.testing.assert_allclose(row["aspect_ratio"], np.sqrt(ev[1] / ev[0]), rtol=0.05)


def test_bool_input_equals_labelled_input():
    b = _square_grid(3, 6)
    b[10, 3] = True  # irregular extra pixel
    pd.testing.assert_frame_equal(grain_table(b), grain_table(label_grains(b)))


def test_sparse_label_values_are_kept():
    labels = np.zeros((6, 6), np.int64)
    labels[:3] = 7
    labels[4:] = 2_000_000_000
    t = grain_table(labels)
    assert t["label"].tolist() == [7, 2_000_000_000]
    assert t["area_px"].tolist() == [18, 12]
    np.testing.assert_allclose(t["centroid_row"], [1.0, 4.5])


def test_um_columns_nan_without_pixel_size():
    t = grain_table(_square_grid(2, 4))
    for col in ("area_um2", "ecd_um", "major_axis_um", "minor_axis_um", "perimeter_um"):
        assert t[col].isna().all()
    assert t["ecd_px"].notna().all()


def test_min_size_and_exclude_edge():
    labels = np.zeros((10, 10), np.int32)
    labels[0:3, 0:3] = 1  # 9 px, touches the frame
    labels[4:6, 4:6] = 2  # 4 px, inside
    labels[7, 7] = 3  # 1 px, inside
    labels[4:9, 9] = 4  # 5 px, touches the right edge
    t = grain_table(labels)
    assert t["touches_edge"].tolist() == [True, False, False, True]
    assert grain_table(labels, min_size_px=4)["label"].tolist() == [1, 2, 4]
    assert grain_table(labels, exclude_edge=True)["label"].tolist() == [2, 3]
    both = grain_table(labels, min_size_px=2, exclude_edge=True)
    assert both["label"].tolist() == [2]
    assert both.index.tolist() == [0]


def test_all_boundary_gives_empty_table():
    t = grain_table(np.ones((5, 7), bool), pixel_size_um=1.0)
    assert len(t) == 0
    assert list(t.columns) == list(GRAIN_TABLE_COLUMNS)
    assert t["label"].dtype == np.int32 and t["touches_edge"].dtype == bool


def test_boundary_free_map_is_one_grain():
    t = grain_table(np.zeros((6, 9), bool))
    assert len(t) == 1
    assert t["area_px"][0] == 54
    assert bool(t["touches_edge"][0])
    np.testing.assert_allclose(t["aspect_ratio"][0], 9 / 6)
    np.testing.assert_allclose([t["centroid_row"][0], t["centroid_col"][0]], [2.5, 4.0])


# ---------------------------------------------------------------- validation


def test_rejects_3d():
    with pytest.raises(InputError, match=r"boundary_or_labels must be a 2-D array.*\(2, 3, 4\)"):
        grain_table(np.zeros((2, 3, 4), np.int32))


def test_rejects_float_map():
    with pytest.raises(InputError, match="bool boundary mask .* or an integer label map"):
        grain_table(np.zeros((4, 4), np.float32))


def test_rejects_negative_labels():
    labels = np.zeros((4, 4), np.int32)
    labels[0, 0] = -3
    with pytest.raises(InputError, match="must be >= 0.*-3"):
        grain_table(labels)


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), "abc"])
def test_rejects_bad_pixel_size(bad):
    with pytest.raises(InputError, match="pixel_size_um"):
        grain_table(np.zeros((4, 4), bool), pixel_size_um=bad)


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_rejects_bad_min_size(bad):
    with pytest.raises(InputError, match="min_size_px must be an integer >= 0"):
        grain_table(np.zeros((4, 4), bool), min_size_px=bad)


def test_label_foreground_numbers_grains_like_skimage():
    import cv2
    from skimage.measure import label

    from grainseg_core.grains import label_foreground

    rng = np.random.default_rng(0)
    for k in range(60):
        shape = (int(rng.integers(1, 120)), int(rng.integers(1, 120)))
        if k == 0:
            shape = (1100, 1500)  # large enough for OpenCV's parallel labelling
        noise = rng.random(shape).astype(np.float32)
        if min(shape) > 1:
            noise = cv2.GaussianBlur(noise, (0, 0), rng.uniform(0.3, 3))
        fg = noise > np.quantile(noise, rng.uniform(0.1, 0.9))
        expected = label(fg, connectivity=1)
        got = label_foreground(fg)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, expected)
    assert label_foreground(np.zeros((0, 5), bool)).shape == (0, 5)


def test_perimeter_of_labels_beyond_16_bits():
    # Label values above 65535 (not compacted: the map has over a quarter as many pixels)
    # take the 32-bit path of the perimeter; the values must not change the figures.
    labels = _voronoi_labels((160, 128), 30, seed=5)
    big = np.where(labels > 0, labels + 70_000, 0).astype(np.int32)
    small_t, big_t = grain_table(labels), grain_table(big)
    np.testing.assert_array_equal(big_t["label"], small_t["label"] + 70_000)
    np.testing.assert_allclose(big_t["perimeter_px"], small_t["perimeter_px"], rtol=1e-12)
    for p in regionprops(labels):
        row = small_t.set_index("label").loc[p.label]
        np.testing.assert_allclose(row["perimeter_px"], perimeter_crofton(p.image, 4), rtol=1e-9)
