"""Evaluating boundary predictions against labelled micrographs.

Per-image scores (pixel F1 at two tolerances, grain ARI, variation of information,
grain-count error, mean lineal intercept of truth and prediction) and their
aggregation per source micrograph, as used for model cards and cross-validation.

The headline figure for grain size is the **relative error of the mean lineal
intercept (Heyn) per micrograph**: for every micrograph, the intercept test lines of
all its labelled crops are pooled, ``l = sum(L) / sum(P)`` (ASTM E112: total line
length over total boundary crossings), for the truth and for the prediction with the
*same* lines, and ``|l_pred - l_true| / l_true`` is reported. Crossings are counted as
runs of boundary pixels, so the figure does not depend on how wide boundaries are drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from grainseg_core._validation import as_boundary_mask, check_same_shape
from grainseg_core.astm import InterceptConfig, intercept_grain_size
from grainseg_core.errors import GrainsegError, InputError
from grainseg_core.metrics import evaluate_segmentation

__all__ = [
    "HEYN_LINES",
    "intercept_counts",
    "evaluate_boundaries",
    "heyn_by_group",
    "summarize_by_group",
    "choose_threshold",
]

#: Test lines used for per-crop Heyn counts: a dense grid in four directions, so that
#: small crops (256 px) still get hundreds of crossings.
HEYN_LINES = InterceptConfig(pattern="grid", measure="crossings", spacing_px=16.0)


_PIXEL_KEYS = ("precision", "recall", "f1", "precision_tol", "recall_tol", "f1_tol")


def intercept_counts(boundary: np.ndarray, *, config: InterceptConfig = HEYN_LINES) -> tuple[float, float]:
    """Total test-line length and number of boundary crossings on a boundary mask.

    Parameters
    ----------
    boundary : bool (M, N)
        True = boundary.
    config : InterceptConfig
        Test lines (a ``'crossings'`` measure).

    Returns
    -------
    (length_px, crossings) : tuple of float
        ``length_px / crossings`` is the mean lineal intercept in pixels. A mask whose
        boundaries no test line crosses (empty or all-boundary) gives ``(nan, 0.0)``.

    Examples
    --------
    >>> b = np.zeros((64, 64), bool); b[:, ::16] = True
    >>> length, crossings = intercept_counts(b)
    >>> crossings > 0
    True
    """
    mask = as_boundary_mask(boundary, "boundary")
    try:
        result = intercept_grain_size(mask, pixel_size_um=1.0, config=config)
    except GrainsegError:  # no line crosses a boundary (empty or all-boundary mask)
        return float("nan"), 0.0
    return float(result.mean_intercept_um * result.n_counts), float(result.n_counts)


def evaluate_boundaries(
    predictions: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    *,
    names: Sequence[str],
    groups: Sequence[str] | None = None,
    pixel_predictions: Sequence[np.ndarray] | None = None,
    tolerance_px: float = 2.0,
    lines: InterceptConfig = HEYN_LINES,
) -> pd.DataFrame:
    """Score predicted boundary masks against true ones, one row per image.

    Parameters
    ----------
    predictions, truths : sequences of bool (M, N)
        Post-processed predicted and true boundary masks, pairwise of equal shape.
    names : sequence of str
        One name per image.
    groups : sequence of str, optional
        The source micrograph of each image (crops of one micrograph share a group);
        defaults to the names.
    pixel_predictions : sequence of bool (M, N), optional
        Masks for the pixel scores (precision ... f1_tol) when they should differ from the
        grain-level ones: e.g. the thresholded map for pixel scores (labels are drawn a few
        pixels wide) and the thinned, gap-closed map for grains and intercepts.
    tolerance_px : float
        Tolerance of the second set of pixel scores.
    lines : InterceptConfig
        Test lines of the intercept counts.

    Returns
    -------
    pandas.DataFrame
        Columns ``name, group, precision, recall, f1, f1_tol, precision_tol, recall_tol,
        ari, vi_split, vi_merge, n_true, n_pred, grain_count_error, hd95,
        line_length_px, crossings_true, crossings_pred``.
    """
    if not (len(predictions) == len(truths) == len(names)):
        raise InputError(
            f"predictions ({len(predictions)}), truths ({len(truths)}) and names ({len(names)}) "
            "must have the same length."
        )
    if groups is None:
        groups = list(names)
    if len(groups) != len(names):
        raise InputError(f"groups ({len(groups)}) must have one entry per name ({len(names)}).")
    if not names:
        raise InputError("nothing to evaluate: no images were given.")
    if pixel_predictions is not None and len(pixel_predictions) != len(names):
        raise InputError(
            f"pixel_predictions ({len(pixel_predictions)}) must have one mask per name ({len(names)})."
        )
    rows = []
    for i, (pred, true, name, group) in enumerate(zip(predictions, truths, names, groups)):
        pred = as_boundary_mask(pred, f"prediction of {name}")
        true = as_boundary_mask(true, f"truth of {name}")
        check_same_shape(pred, true, f"prediction of {name}", f"truth of {name}")
        scores = evaluate_segmentation(pred, true, tolerance_px=tolerance_px)
        if pixel_predictions is not None:
            pixel_pred = as_boundary_mask(pixel_predictions[i], f"pixel prediction of {name}")
            check_same_shape(pixel_pred, true, f"pixel prediction of {name}", f"truth of {name}")
            pixel = evaluate_segmentation(pixel_pred, true, tolerance_px=tolerance_px)
            scores = {**scores, **{k: pixel[k] for k in _PIXEL_KEYS}}
        length, crossings_true = intercept_counts(true, config=lines)
        _, crossings_pred = intercept_counts(pred, config=lines)
        rows.append(
            {
                "name": name,
                "group": group,
                "precision": scores["precision"],
                "recall": scores["recall"],
                "f1": scores["f1"],
                "precision_tol": scores["precision_tol"],
                "recall_tol": scores["recall_tol"],
                "f1_tol": scores["f1_tol"],
                "ari": scores["ari"],
                "vi_split": scores["vi_split"],
                "vi_merge": scores["vi_merge"],
                "n_true": scores["n_grains_true"],
                "n_pred": scores["n_grains_pred"],
                "grain_count_error": scores["grain_count_error"],
                "hd95": scores["hd95"],
                "line_length_px": length,
                "crossings_true": crossings_true,
                "crossings_pred": crossings_pred,
            }
        )
    return pd.DataFrame(rows)


def heyn_by_group(counts: pd.DataFrame) -> pd.DataFrame:
    """Pooled E112 mean lineal intercept per micrograph, predicted and true, and its error.

    Parameters
    ----------
    counts : pandas.DataFrame
        One row per image: ``group``, ``line_length_px``, ``crossings_true``,
        ``crossings_pred`` (as :func:`evaluate_boundaries` gives them).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``group`` (sorted): ``heyn_true_px``, ``heyn_pred_px`` (all test lines of
        the group's images together) and ``heyn_rel_error``; NaN where no predicted
        boundary crossed a line.

    Examples
    --------
    >>> counts = pd.DataFrame({"group": ["a", "a"], "line_length_px": [100.0, 100.0],
    ...                        "crossings_true": [5, 5], "crossings_pred": [4, 4]})
    >>> heyn_by_group(counts).round(3).to_dict("records")
    [{'heyn_true_px': 20.0, 'heyn_pred_px': 25.0, 'heyn_rel_error': 0.25}]
    """
    sums = counts.groupby("group", sort=True)[["line_length_px", "crossings_true", "crossings_pred"]].sum()
    true = sums["line_length_px"] / sums["crossings_true"]
    pred = sums["line_length_px"] / sums["crossings_pred"].replace(0, np.nan)
    return pd.DataFrame(
        {"heyn_true_px": true, "heyn_pred_px": pred, "heyn_rel_error": (pred - true).abs() / true}
    )


def summarize_by_group(scores: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per-micrograph Heyn sizes and errors, and the overall summary.

    Parameters
    ----------
    scores : pandas.DataFrame
        The output of :func:`evaluate_boundaries`.

    Returns
    -------
    per_group : pandas.DataFrame
        ``group, n_images, heyn_true_px, heyn_pred_px, heyn_rel_error, f1, f1_tol, ari,
        grain_count_rel_error`` (scores averaged over the group's images).
    summary : dict
        ``heyn_mean_rel_error``, ``heyn_median_rel_error``, ``heyn_max_rel_error`` over
        groups, and image means of ``f1``, ``f1_tol``, ``ari``, ``vi_split``, ``vi_merge``,
        ``grain_count_abs_rel_error``; ``n_groups``, ``n_images``.
    """
    if scores.empty:
        raise InputError("no scores to summarise.")
    df = scores.copy()
    df["grain_count_rel_error"] = (df["n_pred"] - df["n_true"]) / df["n_true"].clip(lower=1)
    grouped = df.groupby("group", sort=True)
    heyn = heyn_by_group(df)
    per_group = pd.DataFrame(
        {
            "n_images": grouped.size(),
            "heyn_true_px": heyn["heyn_true_px"],
            "heyn_pred_px": heyn["heyn_pred_px"],
            "f1": grouped["f1"].mean(),
            "f1_tol": grouped["f1_tol"].mean(),
            "ari": grouped["ari"].mean(),
            "grain_count_rel_error": grouped["grain_count_rel_error"].mean(),
            "heyn_rel_error": heyn["heyn_rel_error"],
        }
    ).reset_index()
    rel = per_group["heyn_rel_error"]
    summary = {
        "n_groups": int(len(per_group)),
        "n_images": int(len(df)),
        "heyn_mean_rel_error": float(rel.mean()),
        "heyn_median_rel_error": float(rel.median()),
        "heyn_max_rel_error": float(rel.max()),
        "f1": float(df["f1"].mean()),
        "f1_tol": float(df["f1_tol"].mean()),
        "ari": float(df["ari"].mean()),
        "vi_split": float(df["vi_split"].mean()),
        "vi_merge": float(df["vi_merge"].mean()),
        "grain_count_abs_rel_error": float(df["grain_count_rel_error"].abs().mean()),
    }
    return per_group, summary


def choose_threshold(
    probabilities: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    *,
    to_boundary: Callable[[np.ndarray, float], np.ndarray],
    thresholds: Sequence[float] = tuple(np.round(np.arange(0.2, 0.81, 0.05), 2)),
    objective: str = "heyn",
    lines: InterceptConfig = HEYN_LINES,
) -> tuple[float, pd.DataFrame]:
    """Pick the probability threshold that best reproduces the labels.

    Meant for the validation images of a training set (never the test images).

    Parameters
    ----------
    probabilities, truths : sequences of (M, N) arrays
        Boundary probability maps and true boundary masks.
    to_boundary : callable
        ``to_boundary(probability, threshold) -> bool mask`` (the post-processing in use).
    thresholds : sequence of float
        Candidates.
    objective : {'heyn', 'f1'}
        ``'heyn'``: smallest absolute log-ratio of pooled predicted to true mean lineal
        intercept; ``'f1'``: highest mean pixel F1 at 2 px tolerance.

    Returns
    -------
    (threshold, table) : tuple
        The best threshold and the score of every candidate.
    """
    if objective not in ("heyn", "f1"):
        raise InputError(f"objective must be 'heyn' or 'f1'; got {objective!r}.")
    if not probabilities or len(probabilities) != len(truths):
        raise InputError("choose_threshold needs one truth per probability map, and at least one.")
    true_counts = [intercept_counts(t, config=lines) for t in truths]
    crossings_true = sum(c[1] for c in true_counts)
    rows = []
    for thr in thresholds:
        preds = [to_boundary(p, float(thr)) for p in probabilities]
        crossings_pred = sum(intercept_counts(p, config=lines)[1] for p in preds)
        ratio = (crossings_true / crossings_pred) if crossings_pred else np.inf
        row = {"threshold": float(thr), "heyn_ratio": ratio, "heyn_log_error": abs(np.log(ratio))}
        if objective == "f1":
            f1s = [evaluate_segmentation(p, t, tolerance_px=2)["f1_tol"] for p, t in zip(preds, truths)]
            row["f1_tol"] = float(np.mean(f1s))
        rows.append(row)
    table = pd.DataFrame(rows)
    best = table["heyn_log_error"].idxmin() if objective == "heyn" else table["f1_tol"].idxmax()
    return float(table.loc[best, "threshold"]), table
