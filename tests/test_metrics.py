"""Tests of grainseg_core.metrics: hand-counted cases and independent formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import comb
from skimage.measure import label
from skimage.metrics import variation_of_information as sk_vi

from grainseg_core.errors import InputError
from grainseg_core.metrics import (
    adjusted_rand_index,
    boundary_width_distribution,
    boundary_widths,
    confusion_counts,
    evaluate_segmentation,
    grain_count_error,
    hd95,
    pixel_metrics,
    variation_of_information,
)

# Hand-made 5x5 case (# = boundary):
#   true            pred
#   . . # . .       . . . # .
#   . . # . .       . . # . .
#   # # # # #       # # # . .
#   . . . . .       . . . . .
#   . . . . .       # . . . .
TRUE = np.zeros((5, 5), bool)
TRUE[2, :] = True
TRUE[0:2, 2] = True
PRED = np.zeros((5, 5), bool)
PRED[[0, 1, 2, 2, 2, 4], [3, 2, 0, 1, 2, 0]] = True


def test_confusion_counts_tolerance_0():
    # TP: (1,2) (2,0) (2,1) (2,2); FP: (0,3) (4,0); FN: (0,2) (2,3) (2,4).
    c = confusion_counts(PRED, TRUE)
    assert (c.tp, c.fp, c.fn, c.tn, c.tp_recall) == (4, 2, 3, 16, 4)


def test_confusion_counts_tolerance_1():
    # Precision side: (0,3) is 1 px from (0,2) -> TP; (4,0) is 2 px from row 2 -> FP.
    # Recall side: (2,4) is 2 px from the nearest prediction -> the only FN.
    # TN: unpredicted pixels more than 1 px from the truth: (0,0) (0,4) (4,1..4).
    c = confusion_counts(PRED, TRUE, tolerance_px=1)
    assert (c.tp, c.fp, c.fn, c.tn, c.tp_recall) == (5, 1, 1, 6, 6)
    assert c.as_dict()["tolerance_px"] == 1.0


def test_pixel_metrics_tolerance_0():
    m = pixel_metrics(PRED, TRUE)
    assert m["precision"] == pytest.approx(4 / 6)
    assert m["recall"] == m["tpr"] == pytest.approx(4 / 7)
    assert m["dice"] == m["f1"] == pytest.approx(8 / 13)  # 2TP / (2TP + FP + FN)
    assert m["iou"] == pytest.approx(4 / 9)  # TP / (TP + FP + FN)
    assert m["tnr"] == pytest.approx(16 / 18)
    assert m["accuracy"] == pytest.approx(20 / 25)


def test_pixel_metrics_tolerance_1():
    m = pixel_metrics(PRED, TRUE, tolerance_px=1)
    p, r = 5 / 6, 6 / 7
    assert m["precision"] == pytest.approx(p)
    assert m["recall"] == pytest.approx(r)
    assert m["f1"] == pytest.approx(60 / 71)  # 2PR / (P + R)
    assert m["iou"] == pytest.approx(60 / 82)  # F1 / (2 - F1)
    assert m["tnr"] == pytest.approx(6 / 7)
    assert m["accuracy"] == pytest.approx(11 / 13)


def test_shifted_line_is_perfect_within_tolerance():
    t = np.zeros((5, 5), bool)
    t[2, :] = True
    p = np.zeros((5, 5), bool)
    p[3, :] = True
    assert pixel_metrics(p, t)["dice"] == 0.0
    m = pixel_metrics(p, t, tolerance_px=1)
    assert m["dice"] == m["iou"] == m["tnr"] == m["accuracy"] == 1.0
    # Diagonal neighbours are sqrt(2) away: inside a tolerance of 1.5, not of 1.
    d = np.zeros((5, 5), bool)
    d[3, 1] = True
    one = np.zeros((5, 5), bool)
    one[2, 0] = True
    assert pixel_metrics(d, one, tolerance_px=1)["precision"] == 0.0
    assert pixel_metrics(d, one, tolerance_px=math.sqrt(2))["precision"] == 1.0


def test_empty_cases():
    empty = np.zeros((4, 4), bool)
    line = empty.copy()
    line[1, :] = True
    both = pixel_metrics(empty, empty, tolerance_px=2)
    assert all(both[k] == 1.0 for k in ("precision", "recall", "dice", "iou", "tnr", "accuracy"))
    missed = pixel_metrics(empty, line)
    assert missed["precision"] == 0.0 and missed["recall"] == 0.0 and missed["dice"] == 0.0
    spurious = pixel_metrics(line, empty)
    assert spurious["precision"] == 0.0 and spurious["recall"] == 0.0 and spurious["tnr"] == 0.75
    full = np.ones((4, 4), bool)
    assert pixel_metrics(full, full)["tnr"] == 1.0  # no negative pixel at all


def test_shape_mismatch_names_both_shapes():
    msg = r"pred \(shape \(5, 5\)\) must match true \(shape \(5, 6\)\)"
    with pytest.raises(InputError, match=msg):
        confusion_counts(np.zeros((5, 5), bool), np.zeros((5, 6), bool))
    msg = r"pred_boundary \(shape \(5, 5\)\) must match true_boundary \(shape \(4, 5\)\)"
    with pytest.raises(InputError, match=msg):
        evaluate_segmentation(np.zeros((5, 5), bool), np.zeros((4, 5), bool))
    msg = r"labels_true \(shape \(3, 3\)\) must match labels_pred \(shape \(3, 4\)\)"
    with pytest.raises(InputError, match=msg):
        adjusted_rand_index(np.ones((3, 3), int), np.ones((3, 4), int))
    with pytest.raises(InputError, match=r"shape \(3, 4\)\) must match"):
        hd95(np.zeros((3, 4), bool), np.zeros((3, 3), bool))


def test_bad_inputs():
    with pytest.raises(InputError, match="tolerance_px must be a finite number"):
        pixel_metrics(TRUE, TRUE, tolerance_px=-1)
    with pytest.raises(InputError, match="labels_true must be an integer grain label map"):
        adjusted_rand_index(TRUE, label(~TRUE))
    with pytest.raises(InputError, match="labels_pred must have labels >= 0"):
        variation_of_information(np.ones((2, 2), int), -np.ones((2, 2), int))
    with pytest.raises(InputError, match="must be a 2-D array"):
        boundary_widths(np.zeros(5, bool))
    with pytest.raises(InputError, match="bin_px must be a positive number"):
        boundary_width_distribution(TRUE, bin_px=0)


# ------------------------------------------------------------------ ARI / VI


def ari_reference(t: np.ndarray, p: np.ndarray) -> float:
    """scikit-learn's formula, written out with scipy.special.comb (p without 0s)."""
    keep = t > 0
    t, p = t[keep], p[keep]
    n = t.size
    _, ti = np.unique(t, return_inverse=True)
    _, pi = np.unique(p, return_inverse=True)
    table = np.zeros((ti.max() + 1, pi.max() + 1), dtype=np.int64)
    np.add.at(table, (ti, pi), 1)
    index = comb(table, 2).sum()
    a = comb(table.sum(1), 2).sum()
    b = comb(table.sum(0), 2).sum()
    expected = a * b / comb(n, 2)
    return (index - expected) / ((a + b) / 2 - expected)


def test_ari_identical_and_relabelled():
    lab = label(~TRUE, connectivity=1)
    assert adjusted_rand_index(lab, lab) == 1.0
    relabelled = np.where(lab > 0, 10 - lab, 0)
    assert adjusted_rand_index(lab, relabelled) == 1.0


def test_ari_known_split():
    # true  1 1 1 2 2 2      contingency n_ij = [[2, 1, 0], [0, 1, 2]]
    # pred  1 1 2 2 3 3      S = C(2,2)+C(2,2) = 2; sum C(a_i,2) = 3+3 = 6;
    #                        sum C(b_j,2) = 1+1+1 = 3; C(6,2) = 15;
    # E = 6*3/15 = 1.2; M = (6+3)/2 = 4.5; ARI = (2-1.2)/(4.5-1.2) = 8/33.
    t = np.array([[1, 1, 1, 2, 2, 2, 0]])
    p = np.array([[1, 1, 2, 2, 3, 3, 5]])  # last pixel is boundary in t: left out
    assert adjusted_rand_index(t, p) == pytest.approx(8 / 33)
    assert ari_reference(t, p) == pytest.approx(8 / 33)


def test_ari_matches_reference_formula_on_random_labelings():
    rng = np.random.default_rng(0)
    for _ in range(5):
        t = rng.integers(0, 6, size=(20, 30))
        p = rng.integers(1, 9, size=(20, 30))
        assert adjusted_rand_index(t, p) == pytest.approx(ari_reference(t, p), rel=1e-12)


def test_predicted_boundaries_join_the_nearest_grain():
    t = np.array([[1, 1, 1, 0, 2, 2, 2]])
    # A wide predicted boundary: its pixels go to the nearest predicted grain, so the
    # prediction below is the truth exactly (pixel 2 -> grain 1, pixel 4 -> grain 2).
    p = np.array([[1, 1, 0, 0, 0, 2, 2]])
    assert adjusted_rand_index(t, p) == 1.0
    # Painting everything as boundary is one merged grain, not a perfect score.
    assert adjusted_rand_index(t, np.zeros_like(t)) == 0.0
    assert variation_of_information(t, np.zeros_like(t)) == pytest.approx((0.0, 1.0))


def test_ari_degenerate_cases_are_one():
    one = np.ones((3, 3), int)
    assert adjusted_rand_index(one, one) == 1.0
    assert adjusted_rand_index(np.zeros((3, 3), int), one) == 1.0  # nothing to compare


def test_vi_split_and_merge_order():
    truth = np.array([[1, 1, 1, 1]])
    over = np.array([[1, 1, 2, 2]])  # one true grain cut in two: split
    assert variation_of_information(truth, over) == pytest.approx((1.0, 0.0))
    assert variation_of_information(over, truth) == pytest.approx((0.0, 1.0))  # merge
    # skimage returns (H(pred | true), H(true | pred)) = (split, merge) in that order.
    assert tuple(sk_vi(truth, over)) == pytest.approx((1.0, 0.0))


def test_vi_matches_skimage_on_random_labelings():
    rng = np.random.default_rng(3)
    t = rng.integers(1, 5, size=(30, 30))
    p = rng.integers(1, 7, size=(30, 30))
    assert variation_of_information(t, p) == pytest.approx(tuple(sk_vi(t, p)), rel=1e-9)


# ------------------------------------------------------ counts, HD95, widths


def test_grain_count_error():
    t = np.zeros((10, 10), bool)
    t[:, 4] = True
    t[5, :] = True  # 4 grains
    p = t.copy()
    p[5, 7] = False  # a gap joins the two right grains
    assert grain_count_error(t, p) == {"n_true": 4, "n_pred": 3, "error": -1, "abs_error": 1}
    assert grain_count_error(p, t)["error"] == 1


@pytest.mark.parametrize("d", [1, 2, 3, 5, 8])
def test_hd95_parallel_lines(d):
    t = np.zeros((30, 40), bool)
    t[10, :] = True
    p = np.zeros((30, 40), bool)
    p[10 + d, :] = True
    assert hd95(p, t) == pytest.approx(d)


def test_hd95_ignores_rare_outliers_and_empty_cases():
    t = np.zeros((50, 200), bool)
    t[10, :] = True
    p = t.copy()
    p[40, 0] = True  # 1 outlier among 201 predicted pixels: below the 95th percentile
    assert hd95(p, t) == 0.0
    assert hd95(np.zeros_like(t), np.zeros_like(t)) == 0.0
    assert hd95(np.zeros_like(t), t) == math.inf


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 6, 7])
def test_boundary_width_of_straight_bands(width):
    m = np.zeros((40, 60), bool)
    m[10 : 10 + width, :] = True
    w = boundary_widths(m)
    assert w.size >= 55
    assert np.median(w) == pytest.approx(width)


def test_boundary_width_of_a_diagonal_band():
    rr, cc = np.mgrid[:80, :80]
    band = np.abs(rr - cc) <= 3  # perpendicular width 7 / sqrt(2) ~ 4.95 px
    assert np.median(boundary_widths(band)) == pytest.approx(7 / math.sqrt(2), abs=0.6)


def test_boundary_width_distribution_table():
    m = np.zeros((40, 60), bool)
    m[5:6, :] = True  # 1 px wide
    m[20:25, :] = True  # 5 px wide
    table = boundary_width_distribution(m, pixel_size_um=0.5)
    assert list(table.columns) == [
        "width_lo_px", "width_hi_px", "width_px", "count", "fraction", "width_um"
    ]
    by_width = dict(zip(table["width_px"], table["count"]))
    assert by_width[1.0] >= 55 and by_width[5.0] >= 50
    assert table["fraction"].sum() == pytest.approx(1.0)
    assert table.loc[table["width_px"] == 5.0, "width_um"].item() == 2.5
    assert len(boundary_width_distribution(np.zeros((5, 5), bool))) == 0
    capped = boundary_width_distribution(m, max_width_px=3.5)
    assert capped["width_hi_px"].max() == 3.5 and capped["count"].sum() == table["count"].sum()


# ------------------------------------------------------------- everything


def test_evaluate_segmentation_keys_and_values():
    r = evaluate_segmentation(PRED, TRUE, tolerance_px=1)
    assert r["precision"] == pytest.approx(4 / 6) and r["precision_tol"] == pytest.approx(5 / 6)
    assert r["tolerance_px"] == 1.0
    assert r["n_grains_true"] == 3 and r["grain_count_error"] == r["n_grains_pred"] - 3
    pixel = ("tp", "fp", "fn", "tn", "tpr", "tnr", "precision", "recall", "dice", "f1", "iou")
    pixel += ("accuracy",)
    expected = set(pixel) | {k + "_tol" for k in pixel}
    expected |= {"tolerance_px", "ari", "vi_split", "vi_merge", "n_grains_true", "n_grains_pred"}
    expected |= {"grain_count_error", "grain_count_abs_error", "hd95"}
    assert set(r) == expected
    lt, lp = label(~TRUE, connectivity=1), label(~PRED, connectivity=1)
    assert r["ari"] == pytest.approx(adjusted_rand_index(lt, lp))
    assert (r["vi_split"], r["vi_merge"]) == pytest.approx(variation_of_information(lt, lp))
    assert r["hd95"] == pytest.approx(hd95(PRED, TRUE))


def test_evaluate_thick_truth_against_its_skeleton(shared_data):
    import tifffile

    from grainseg_core.postprocess import thin_boundary

    seg = tifffile.imread(shared_data / "nist_steel" / "grains_steel_highlighted_segmented.tif")
    thick = seg > 0
    thin = thin_boundary(thick)
    r = evaluate_segmentation(thin, thick, tolerance_px=2)
    # The skeleton lies inside the thick boundary and keeps every grain: over the
    # pixels that are grain pixels in both maps the grains are the same.
    assert r["precision"] == 1.0
    assert r["grain_count_error"] == 0 and r["n_grains_true"] == 226
    assert r["ari"] == 1.0 and r["vi_split"] == 0.0 and r["vi_merge"] == 0.0
    assert r["recall"] < 0.5 < r["recall_tol"]
    # Widths: the hand-traced boundaries are a few pixels wide, the skeleton 1.
    assert np.median(boundary_widths(thin)) == 1.0
    assert 2.0 <= np.median(boundary_widths(thick)) <= 3.0
