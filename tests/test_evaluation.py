"""Evaluation of predicted boundaries: per-image scores, per-micrograph Heyn errors, threshold choice."""

from __future__ import annotations

import numpy as np
import pytest

from grainseg_core.errors import InputError
from grainseg_core.evaluation import (
    choose_threshold,
    evaluate_boundaries,
    intercept_counts,
    summarize_by_group,
)


def _grid(period: int, shape=(128, 128)) -> np.ndarray:
    b = np.zeros(shape, bool)
    b[::period, :] = True
    b[:, ::period] = True
    return b


def test_intercept_counts_scale_with_grain_size() -> None:
    l16, p16 = intercept_counts(_grid(16))
    l32, p32 = intercept_counts(_grid(32))
    assert l16 == pytest.approx(l32)  # same lines
    # Twice the grain size: about half the crossings, twice the intercept.
    assert (l32 / p32) / (l16 / p16) == pytest.approx(2.0, rel=0.1)
    assert np.isnan(intercept_counts(np.zeros((64, 64), bool))[0])
    assert intercept_counts(np.ones((64, 64), bool))[1] == 0.0


def test_perfect_prediction_has_zero_error_and_missing_lines_inflate_heyn() -> None:
    truth = _grid(16)
    coarse = _grid(32)  # every other boundary missing
    scores = evaluate_boundaries(
        [truth, truth, coarse], [truth, truth, truth], names=["a1", "a2", "b1"], groups=["a", "a", "b"]
    )
    assert list(scores["name"]) == ["a1", "a2", "b1"]
    assert scores.loc[0, "f1"] == 1.0 and scores.loc[0, "ari"] == 1.0
    per_group, summary = summarize_by_group(scores)
    a, b = per_group.set_index("group").loc[["a", "b"]].itertuples()
    assert a.heyn_rel_error == 0.0 and a.n_images == 2
    assert b.heyn_pred_px / b.heyn_true_px == pytest.approx(2.0, rel=0.1)
    assert summary["n_groups"] == 2 and summary["n_images"] == 3
    assert summary["heyn_mean_rel_error"] == pytest.approx(b.heyn_rel_error / 2)
    assert scores.loc[2, "n_pred"] < scores.loc[2, "n_true"]


def test_choose_threshold_recovers_the_level_that_reproduces_the_labels() -> None:
    truth = _grid(16)
    # Probabilities: true boundaries at 0.7, fake boundaries (halving the grain size) at 0.4.
    prob = np.where(truth, 0.7, np.where(_grid(8), 0.4, 0.05)).astype(np.float32)
    best, table = choose_threshold([prob], [truth], to_boundary=lambda p, t: p >= t)
    assert 0.4 < best <= 0.7
    assert table["heyn_log_error"].min() == pytest.approx(0.0, abs=1e-9)
    best_f1, _ = choose_threshold([prob], [truth], to_boundary=lambda p, t: p >= t, objective="f1")
    assert 0.4 < best_f1 <= 0.7


def test_bad_input_is_named() -> None:
    t = _grid(16)
    with pytest.raises(InputError, match="same length"):
        evaluate_boundaries([t], [t, t], names=["a"])
    with pytest.raises(InputError, match="must match"):
        evaluate_boundaries([t[:-1]], [t], names=["a"])
    with pytest.raises(InputError, match="no images"):
        evaluate_boundaries([], [], names=[])
    with pytest.raises(InputError, match="objective"):
        choose_threshold([t.astype(float)], [t], to_boundary=lambda p, x: p > x, objective="iou")


def test_pixel_scores_can_come_from_another_mask() -> None:
    truth = _grid(16)
    thin = truth.copy()
    thin[::16, ::2] = False  # half of the horizontal lines' pixels gone: worse pixel recall
    scores = evaluate_boundaries([truth], [truth], names=["a"], pixel_predictions=[thin])
    assert scores.loc[0, "recall"] < 1.0 and scores.loc[0, "ari"] == 1.0
    with pytest.raises(InputError, match="one mask per name"):
        evaluate_boundaries([truth], [truth], names=["a"], pixel_predictions=[])
