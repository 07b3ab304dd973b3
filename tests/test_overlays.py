"""Tests of grainseg_core.overlays: exact colours on literal masks, dtypes, validation."""

from __future__ import annotations

import numpy as np
import pytest

from grainseg_core.errors import InputError
from grainseg_core.overlays import (
    CONFUSION_COLORS,
    DIFFERENCE_COLORS,
    blend_overlay,
    boundary_overlay,
    checkerboard_overlay,
    confusion_overlay,
    difference_overlay,
    edge_overlay,
    false_color_overlay,
    gap_closure_sites,
    label_overlay,
    probability_overlay,
    to_display_rgb,
)

CYAN, YELLOW, RED, BLACK = (CONFUSION_COLORS[k] for k in ("TP", "FP", "FN", "TN"))


def _rgb_at(img, r, c):
    return tuple(int(v) for v in img[r, c])


# --------------------------------------------------------------------------- display


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64, np.int32])
def test_to_display_rgb_stretches_any_dtype(dtype):
    img = np.linspace(0, 100, 40 * 50).reshape(40, 50).astype(dtype)
    out = to_display_rgb(img)
    assert out.shape == (40, 50, 3) and out.dtype == np.uint8
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255  # stretched to full range
    assert (out[..., 0] == out[..., 2]).all()  # gray stays gray


def test_to_display_rgb_bool_constant_nan_and_rgb():
    assert to_display_rgb(np.array([[True, False]]))[0, :, 0].tolist() == [255, 0]
    assert to_display_rgb(np.full((3, 3), 7.0))[1, 1].tolist() == [128, 128, 128]
    img = np.array([[0.0, np.nan], [1.0, 2.0]])
    out = to_display_rgb(img)
    assert out[0, 1, 0] == 0 and out[1, 1, 0] == 255
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 200
    assert to_display_rgb(rgba).shape == (2, 2, 3)


def test_to_display_rgb_rejects_bad_shapes():
    with pytest.raises(InputError, match=r"gray \(M, N\) or RGB"):
        to_display_rgb(np.zeros((2, 2, 5)))
    with pytest.raises(InputError, match="numeric or boolean"):
        to_display_rgb(np.array([["a", "b"]]))


# --------------------------------------------------------------------------- confusion


def test_confusion_overlay_colours_without_tolerance():
    true = np.zeros((5, 5), bool)
    true[2, :] = True
    pred = np.zeros((5, 5), bool)
    pred[2, :3] = True  # TP x3, FN at (2,3), (2,4)
    pred[0, 0] = True  # FP
    out = confusion_overlay(pred, true)
    assert out.dtype == np.uint8 and out.shape == (5, 5, 3)
    assert _rgb_at(out, 2, 0) == CYAN
    assert _rgb_at(out, 2, 4) == RED
    assert _rgb_at(out, 0, 0) == YELLOW
    assert _rgb_at(out, 4, 4) == BLACK
    counts = {name: int((out == np.array(col)).all(-1).sum()) for name, col in CONFUSION_COLORS.items()}
    assert counts == {"TN": 19, "TP": 3, "FP": 1, "FN": 2}


def test_confusion_overlay_tolerance_turns_near_misses_into_hits():
    true = np.zeros((7, 7), bool)
    true[3, :] = True
    pred = np.zeros((7, 7), bool)
    pred[4, :] = True  # one pixel off everywhere
    pred[0, 0] = True  # three pixels off
    strict = confusion_overlay(pred, true, tolerance_px=0)
    assert _rgb_at(strict, 4, 2) == YELLOW and _rgb_at(strict, 3, 2) == RED
    loose = confusion_overlay(pred, true, tolerance_px=1)
    assert _rgb_at(loose, 4, 2) == CYAN
    assert _rgb_at(loose, 3, 2) == BLACK  # covered by a prediction within 1 px: not FN
    assert _rgb_at(loose, 0, 0) == YELLOW  # 3 px away stays FP


def test_confusion_overlay_over_image_keeps_tn_as_image():
    img = np.full((4, 4), 1000, np.uint16)
    img[0, 0] = 0
    true = np.zeros((4, 4), bool)
    pred = np.zeros((4, 4), bool)
    pred[3, 3] = True
    out = confusion_overlay(pred, true, image=img, alpha=1.0)
    assert _rgb_at(out, 1, 1) == (255, 255, 255)  # TN shows the (stretched) image
    assert _rgb_at(out, 0, 0) == (0, 0, 0)
    assert _rgb_at(out, 3, 3) == YELLOW
    half = confusion_overlay(pred, true, image=img, alpha=0.5)
    assert _rgb_at(half, 3, 3) == (255, 255, 128)


def test_confusion_overlay_validation():
    with pytest.raises(InputError, match=r"pred \(shape \(3, 3\)\) must match true"):
        confusion_overlay(np.zeros((3, 3)), np.zeros((3, 4)))
    with pytest.raises(InputError, match="tolerance_px must be"):
        confusion_overlay(np.zeros((3, 3)), np.zeros((3, 3)), tolerance_px=-1)
    with pytest.raises(InputError, match="alpha must be a number in"):
        confusion_overlay(np.zeros((3, 3)), np.zeros((3, 3)), alpha=2)
    with pytest.raises(InputError, match=r"image \(shape \(2, 2\)\) must match the mask"):
        confusion_overlay(np.zeros((3, 3)), np.zeros((3, 3)), image=np.zeros((2, 2)))


# --------------------------------------------------------------------------- boundary / edges


def test_boundary_overlay_thickness_and_colour():
    img = np.zeros((9, 9), np.uint8)
    b = np.zeros((9, 9), bool)
    b[4, :] = True
    thin = boundary_overlay(img, b, color=(10, 20, 30))
    assert ((thin == (10, 20, 30)).all(-1)).sum() == 9
    thick = boundary_overlay(img, b, color=(10, 20, 30), thickness=3)
    painted = (thick == (10, 20, 30)).all(-1)
    assert painted.sum() == 27 and painted[3:6].all()
    with pytest.raises(InputError, match="thickness must be an integer >= 1"):
        boundary_overlay(img, b, thickness=0)
    with pytest.raises(InputError, match=r"color must be an \(R, G, B\)"):
        boundary_overlay(img, b, color=(300, 0, 0))


def test_edge_overlay_accepts_numeric_edge_map():
    img = np.zeros((3, 3), np.float32)
    edges = np.zeros((3, 3), np.float32)
    edges[1, 1] = 0.7
    out = edge_overlay(img, edges)
    assert _rgb_at(out, 1, 1) == (0, 255, 0)
    assert _rgb_at(out, 0, 0) == (128, 128, 128)  # constant image: mid gray


# --------------------------------------------------------------------------- labels, probability


def test_label_overlay_palette_is_stable_and_boundary_dark():
    lab = np.array([[1, 1, 0, 2, 2], [1, 1, 0, 2, 2]], np.int32)
    out = label_overlay(lab)
    assert _rgb_at(out, 0, 2) == (20, 20, 20)
    assert _rgb_at(out, 0, 0) != _rgb_at(out, 0, 4)
    # label 2 keeps its colour when another grain is added
    lab3 = lab.copy()
    lab3[1, 0] = 3
    assert _rgb_at(label_overlay(lab3), 0, 4) == _rgb_at(out, 0, 4)


def test_label_overlay_by_values_uses_colormap_ends_and_gray_for_missing():
    lab = np.array([[1, 0, 2, 0, 3]], np.int32)
    out = label_overlay(lab, values=[5.0, 10.0, np.nan])
    assert _rgb_at(out, 0, 0) == (68, 1, 84)  # Viridis start
    assert _rgb_at(out, 0, 2) == (253, 231, 37)  # Viridis end
    assert _rgb_at(out, 0, 4) == (128, 128, 128)
    with pytest.raises(InputError, match="one number per grain label 1..3"):
        label_overlay(lab, values=[1.0, 2.0])
    with pytest.raises(InputError, match="not a plotly colorscale"):
        label_overlay(lab, values=[1.0, 2.0, 3.0], colormap="NoSuchMap")
    with pytest.raises(InputError, match="integer label image"):
        label_overlay(lab.astype(float))


def test_label_overlay_over_image_blends():
    lab = np.array([[1, 0]], np.int32)
    img = np.array([[255, 255]], np.uint8)
    out = label_overlay(lab, image=img, values={1: 1.0}, alpha=0.0)
    assert _rgb_at(out, 0, 0) == (128, 128, 128)  # constant image -> mid gray, alpha 0
    assert _rgb_at(out, 0, 1) == (20, 20, 20)


def test_probability_overlay_heat_and_blend():
    p = np.array([[0.0, 1.0]], np.float32)
    assert probability_overlay(p)[0].tolist() == [[0, 0, 4], [252, 255, 164]]
    img = np.array([[0, 255]], np.uint8)
    out = probability_overlay(p, image=img, alpha=1.0)
    assert _rgb_at(out, 0, 0) == (0, 0, 0)  # p = 0 shows the image
    assert _rgb_at(out, 0, 1) == (252, 255, 164)
    with pytest.raises(InputError, match=r"must lie in \[0, 1\]"):
        probability_overlay(np.array([[1.5]]))


# --------------------------------------------------------------------------- difference


def test_difference_overlay_and_gap_sites():
    true = np.zeros((6, 10), bool)
    true[3, :] = True
    a = true.copy()
    b = true.copy()
    b[3, 2:4] = False  # gap in B closed by A
    b[3, 7] = False  # 1-px gap
    a[3, 9] = False  # gap in A closed by B
    out = difference_overlay(a, b, true)
    assert _rgb_at(out, 3, 2) == DIFFERENCE_COLORS["a_only"]
    assert _rgb_at(out, 3, 9) == DIFFERENCE_COLORS["b_only"]
    assert _rgb_at(out, 3, 0) == DIFFERENCE_COLORS["both"]
    assert _rgb_at(out, 0, 0) == (0, 0, 0)
    sites = gap_closure_sites(a, b, true)
    assert sites.to_dict("records") == [
        {"row": 3.0, "col": 2.5, "size_px": 2},
        {"row": 3.0, "col": 7.0, "size_px": 1},
    ]
    assert len(gap_closure_sites(a, b, true, min_size_px=2)) == 1
    assert list(gap_closure_sites(b, b, true).columns) == ["row", "col", "size_px"]
    assert gap_closure_sites(b, b, true).empty
    # with tolerance 1, B's neighbours of the 1-px gap cover it
    assert len(gap_closure_sites(a, b, true, tolerance_px=1)) == 0
    with pytest.raises(InputError, match="must have the same shape"):
        difference_overlay(a, b[:, :5], true)


# --------------------------------------------------------------------------- registration


def test_blend_checkerboard_false_color():
    a = np.zeros((4, 4), bool)
    b = np.ones((4, 4), bool)
    assert blend_overlay(a, b, 0.5)[0, 0].tolist() == [128, 128, 128]
    assert blend_overlay(a, b, 0.25)[0, 0].tolist() == [64, 64, 64]
    # a constant uint8 image is drawn mid-gray before blending
    assert blend_overlay(np.zeros((4, 4), np.uint8), b, alpha=0.0)[0, 0].tolist() == [128] * 3
    cb = checkerboard_overlay(np.zeros((4, 4), bool), b, tile=2)
    assert cb[..., 0].tolist() == [[0, 0, 255, 255], [0, 0, 255, 255], [255, 255, 0, 0], [255, 255, 0, 0]]
    fc = false_color_overlay(np.eye(2, dtype=bool), np.zeros((2, 2), bool))
    assert _rgb_at(fc, 0, 0) == (0, 255, 0) and _rgb_at(fc, 0, 1) == (0, 0, 0)
    with pytest.raises(InputError, match=r"a \(shape \(4, 4\)\) must match b"):
        blend_overlay(a, np.zeros((3, 4)))
    with pytest.raises(InputError, match="tile must be an integer"):
        checkerboard_overlay(a, b, tile=0)


def test_overlays_accept_rgb_images():
    rgb = np.zeros((5, 5, 3), np.uint8)
    rgb[..., 0] = np.arange(5)[None, :] * 50
    b = np.zeros((5, 5), bool)
    out = boundary_overlay(rgb, b)
    assert out[0, 4, 0] == 255 and out[0, 4, 1] == 0
    assert checkerboard_overlay(rgb, rgb, tile=2).shape == (5, 5, 3)
