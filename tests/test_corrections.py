"""Manual correction strokes: exact rasterisation, split/merge by known answers, validation."""

from __future__ import annotations

import numpy as np
import pytest

from grainseg_core.corrections import Stroke, apply_corrections, stroke_mask
from grainseg_core.errors import InputError
from grainseg_core.grains import label_grains


def test_horizontal_stroke_is_one_pixel_row() -> None:
    mask = stroke_mask((4, 6), Stroke(((2, 1), (2, 4))))
    expected = np.zeros((4, 6), bool)
    expected[2, 1:5] = True
    np.testing.assert_array_equal(mask, expected)


def test_diagonal_stroke_is_8_connected_and_splits_a_grain() -> None:
    # A 1-px diagonal from corner to corner cuts a square into two 4-connected grains.
    b = np.zeros((6, 6), bool)
    out = apply_corrections(b, [Stroke(((0, 0), (5, 5)))])
    np.testing.assert_array_equal(out, np.eye(6, dtype=bool))
    assert label_grains(out).max() == 2


def test_single_point_and_wide_dot() -> None:
    assert stroke_mask((3, 3), Stroke(((1, 1),))).sum() == 1
    dot = stroke_mask((9, 9), Stroke(((4, 4),), width_px=5))
    assert dot[4, 4] and dot[4, 2] and dot[4, 6] and not dot[4, 7] and not dot[0, 0]


def test_points_outside_the_image_are_clipped() -> None:
    mask = stroke_mask((3, 5), Stroke(((1, -10), (1, 20))))
    assert mask[1].all() and mask.sum() == 5


def test_erase_merges_two_grains() -> None:
    b = np.zeros((7, 9), bool)
    b[:, 4] = True
    assert label_grains(b).max() == 2
    out = apply_corrections(b, [Stroke(((3, 3), (3, 5)), mode="erase")])
    assert not out[3, 4] and out[2, 4] and out[4, 4]
    assert label_grains(out).max() == 1
    assert b[3, 4], "the input mask is not modified"


def test_strokes_apply_in_order() -> None:
    b = np.zeros((5, 5), bool)
    draw = Stroke(((2, 0), (2, 4)))
    erase = Stroke(((2, 0), (2, 4)), mode="erase", width_px=3)
    assert not apply_corrections(b, [draw, erase]).any()
    assert apply_corrections(b, [erase, draw])[2].all()


def test_wide_erase_covers_a_thick_boundary() -> None:
    b = np.zeros((11, 11), bool)
    b[:, 4:7] = True  # 3-px boundary
    narrow = apply_corrections(b, [Stroke(((5, 2), (5, 8)), mode="erase")])
    assert label_grains(narrow).max() == 1  # a 1-px erase across it opens it too
    wide = apply_corrections(b, [Stroke(((5, 5),), mode="erase", width_px=5)])
    assert not wide[5, 4:7].any() and label_grains(wide).max() == 1


def test_snap_joins_a_stroke_that_stops_short() -> None:
    b = np.zeros((9, 12), bool)
    b[:, 0] = True
    b[:, 11] = True
    stroke = Stroke(((4, 2), (4, 9)))  # stops 1-2 px short of both lines
    assert label_grains(apply_corrections(b, [stroke])).max() == 1
    snapped = apply_corrections(b, [stroke], snap_px=3)
    assert snapped[4].all()
    assert label_grains(snapped).max() == 2
    # Too far to snap: nothing is added.
    far = apply_corrections(b, [Stroke(((4, 5), (4, 6)))], snap_px=2)
    assert far[4].sum() == 4


def test_strokes_are_hashable_and_normalised() -> None:
    a = Stroke(np.array([[1, 2], [3, 4]]), mode="erase", width_px=2)
    b = Stroke(((1.0, 2.0), (3.0, 4.0)), mode="erase", width_px=2.0)
    assert a == b and hash(a) == hash(b)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"points": []}, r"shape \(K, 2\)"),
        ({"points": [[1, 2, 3]]}, r"shape \(K, 2\)"),
        ({"points": [[np.nan, 1]]}, "finite"),
        ({"points": "ab"}, "sequence of"),
        ({"points": [[0, 0]], "mode": "drwa"}, "did you mean 'draw'"),
        ({"points": [[0, 0]], "width_px": 0.5}, r"width_px must be in \[1, 256\]"),
        ({"points": [[0, 0]], "width_px": "wide"}, "width_px must be a number"),
    ],
)
def test_stroke_validation(kwargs, match) -> None:
    with pytest.raises(InputError, match=match):
        Stroke(**kwargs)


def test_apply_validation() -> None:
    b = np.zeros((4, 4), bool)
    with pytest.raises(InputError, match=r"strokes\[0\] must be a Stroke"):
        apply_corrections(b, [((0, 0), (1, 1))])
    with pytest.raises(InputError, match="snap_px must be a number of pixels >= 0"):
        apply_corrections(b, [], snap_px=-1)
    with pytest.raises(InputError, match="shape must have positive sides"):
        stroke_mask((0, 4), Stroke(((0, 0),)))
    with pytest.raises(InputError, match="stroke must be a Stroke"):
        stroke_mask((4, 4), [(0, 0)])
