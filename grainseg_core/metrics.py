"""Metrics that compare a predicted boundary map with the true one.

Conventions (see ``CONTRIBUTING.md`` and ``TOPOLOGY.md``): boundary masks are
bool (M, N), True = boundary; grains are the 4-connected components of
non-boundary pixels, the image frame counting as boundary.

Pixel metrics with a tolerance
------------------------------
With ``tolerance_px = t`` the counts are those of the boundary F-measure:

- ``tp`` (precision side): predicted pixels within ``t`` (Euclidean, centre to
  centre) of a true boundary pixel; ``fp``: the other predicted pixels.
- ``tp_recall`` (recall side): true pixels within ``t`` of a predicted pixel;
  ``fn``: the other true pixels.
- ``tn``: pixels neither predicted nor within ``t`` of a true pixel, so that
  ``tn + fp`` is the number of pixels farther than ``t`` from the true boundary.

precision = tp / (tp + fp), recall = TPR = tp_recall / (tp_recall + fn),
TNR = tn / (tn + fp), Dice = F1 = 2 P R / (P + R), IoU = F1 / (2 - F1),
accuracy = (tp + tn) / (tp + fp + fn + tn). At ``t = 0`` the two tp agree and
these are the usual pixel definitions (Dice = 2TP / (2TP + FP + FN), IoU =
TP / (TP + FP + FN)). Empty sets: precision is 1 when nothing is predicted and
nothing is true, else 0 when nothing is predicted; recall is 1 when nothing is
true and nothing is predicted, else 0 when nothing is true; TNR is 1 when there
is no negative pixel; F1 is 0 when P + R = 0. Both maps empty: every metric is 1.

Grain metrics
-------------
ARI and VI compare grain label maps over the pixels that are grain pixels in
*both* maps (pixels on either boundary are left out). VI is in bits and is split
into ``split`` = H(pred | true) (over-segmentation: a true grain cut into several
predicted ones) and ``merge`` = H(true | pred) (under-segmentation: true grains
joined by a gap). ``skimage.metrics.variation_of_information(true, pred)``
returns the same two numbers in the order (split, merge).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from grainseg_core._skeleton import thin_mask
from grainseg_core._validation import (
    as_2d_array,
    as_boundary_mask,
    check_pixel_size,
    check_same_shape,
)
from grainseg_core.errors import InputError

__all__ = [
    "ConfusionCounts",
    "confusion_counts",
    "pixel_metrics",
    "adjusted_rand_index",
    "variation_of_information",
    "grain_count_error",
    "hd95",
    "boundary_widths",
    "boundary_width_distribution",
    "evaluate_segmentation",
]

# Distances from cv2 are float32; a tolerance of sqrt(2) must include diagonals.
_EPS = 1e-4


@dataclass(frozen=True)
class ConfusionCounts:
    """Pixel counts of a boundary prediction against the truth.

    Attributes
    ----------
    tp : int
        Predicted boundary pixels within the tolerance of a true one.
    fp : int
        Predicted boundary pixels farther than the tolerance from any true one.
    fn : int
        True boundary pixels with no prediction within the tolerance.
    tn : int
        Pixels not predicted and farther than the tolerance from any true one.
    tp_recall : int
        True boundary pixels with a prediction within the tolerance (= ``tp`` at 0).
    tolerance_px : float
        The tolerance used, in pixels.
    """

    tp: int
    fp: int
    fn: int
    tn: int
    tp_recall: int
    tolerance_px: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """Return the counts as a plain dict."""
        return asdict(self)


def _pair(
    pred: Any, true: Any, name_pred: str = "pred", name_true: str = "true"
) -> tuple[np.ndarray, np.ndarray]:
    p = as_boundary_mask(pred, name_pred)
    t = as_boundary_mask(true, name_true)
    check_same_shape(p, t, name_pred, name_true)
    return np.ascontiguousarray(p), np.ascontiguousarray(t)


def _check_tolerance(tolerance_px: Any) -> float:
    number = isinstance(tolerance_px, (int, float, np.integer, np.floating))
    number = number and not isinstance(tolerance_px, bool)
    if not number or not math.isfinite(tolerance_px) or tolerance_px < 0:
        raise InputError(
            f"tolerance_px must be a finite number of pixels >= 0; got {tolerance_px!r}."
        )
    return float(tolerance_px)


def _distance_to(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance of every pixel to the nearest True pixel (inf if none)."""
    if not mask.any():
        return np.full(mask.shape, np.inf, dtype=np.float32)
    return cv2.distanceTransform((~mask).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _counts(
    pred: np.ndarray,
    true: np.ndarray,
    tol: float,
    to_true: np.ndarray | None,
    to_pred: np.ndarray | None,
) -> ConfusionCounts:
    n_pred, n_true = int(pred.sum()), int(true.sum())
    if tol == 0:
        tp = int(np.count_nonzero(pred & true))
        tn = pred.size - n_pred - n_true + tp
        return ConfusionCounts(tp, n_pred - tp, n_true - tp, tn, tp, 0.0)
    near_true = to_true <= tol + _EPS
    tp = int(np.count_nonzero(pred & near_true))
    tp_recall = int(np.count_nonzero(true & (to_pred <= tol + _EPS)))
    tn = int(np.count_nonzero(~pred & ~near_true))
    return ConfusionCounts(tp, n_pred - tp, n_true - tp_recall, tn, tp_recall, tol)


def confusion_counts(pred: Any, true: Any, *, tolerance_px: float = 0) -> ConfusionCounts:
    """Count true/false positives and negatives of a boundary prediction.

    Parameters
    ----------
    pred, true : bool (M, N)
        Predicted and true boundary masks (True = boundary).
    tolerance_px : float
        A predicted pixel within this Euclidean distance of a true one is a TP
        (precision side); a true pixel with a prediction within it is not a FN
        (recall side). See the module docstring for the exact definitions.

    Returns
    -------
    ConfusionCounts

    Raises
    ------
    InputError
        If the masks differ in shape or are not 2-D, or the tolerance is < 0.

    Examples
    --------
    >>> t = np.zeros((5, 5), bool); t[2, :] = True
    >>> p = np.zeros((5, 5), bool); p[3, :] = True
    >>> c = confusion_counts(p, t); (c.tp, c.fp, c.fn, c.tn)
    (0, 5, 5, 15)
    >>> c = confusion_counts(p, t, tolerance_px=1); (c.tp, c.fp, c.fn, c.tn, c.tp_recall)
    (5, 0, 0, 10, 5)
    """
    p, t = _pair(pred, true)
    tol = _check_tolerance(tolerance_px)
    if tol == 0:
        return _counts(p, t, 0.0, None, None)
    return _counts(p, t, tol, _distance_to(t), _distance_to(p))


def _ratio(num: int, den: int, empty: float) -> float:
    return float(num) / den if den else empty


def _metrics_from(c: ConfusionCounts) -> dict[str, float]:
    nothing_true = (c.tp_recall + c.fn) == 0
    nothing_pred = (c.tp + c.fp) == 0
    precision = _ratio(c.tp, c.tp + c.fp, 1.0 if nothing_true else 0.0)
    recall = _ratio(c.tp_recall, c.tp_recall + c.fn, 1.0 if nothing_pred else 0.0)
    tnr = _ratio(c.tn, c.tn + c.fp, 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    total = c.tp + c.fp + c.fn + c.tn
    return {
        "tp": c.tp,
        "fp": c.fp,
        "fn": c.fn,
        "tn": c.tn,
        "tpr": recall,
        "tnr": tnr,
        "precision": precision,
        "recall": recall,
        "dice": f1,
        "f1": f1,
        "iou": f1 / (2.0 - f1),
        "accuracy": _ratio(c.tp + c.tn, total, 1.0),
    }


def pixel_metrics(pred: Any, true: Any, *, tolerance_px: float = 0) -> dict[str, float]:
    """TPR, TNR, precision, recall, Dice/F1, IoU and accuracy of a boundary map.

    Parameters
    ----------
    pred, true : bool (M, N)
        Predicted and true boundary masks.
    tolerance_px : float
        Matching distance in pixels (see the module docstring).

    Returns
    -------
    dict
        Keys ``tp, fp, fn, tn, tpr, tnr, precision, recall, dice, f1, iou,
        accuracy`` (``dice`` and ``f1`` are the same number; ``tpr`` = ``recall``).

    Examples
    --------
    >>> t = np.zeros((5, 5), bool); t[2, :] = True
    >>> p = t.copy(); p[2, 4] = False; p[0, 0] = True
    >>> m = pixel_metrics(p, t)
    >>> round(m["precision"], 3), round(m["recall"], 3), round(m["iou"], 3)
    (0.8, 0.8, 0.667)
    """
    return _metrics_from(confusion_counts(pred, true, tolerance_px=tolerance_px))


def _as_labels(value: Any, name: str) -> np.ndarray:
    arr = as_2d_array(value, name)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(
            f"{name} must be an integer grain label map (0 = boundary, 1..n = grains); got "
            f"dtype {arr.dtype}. Label a boundary mask with skimage.measure.label(~boundary, "
            "connectivity=1), or use evaluate_segmentation for boundary masks."
        )
    if arr.size and int(arr.min()) < 0:
        raise InputError(
            f"{name} must have labels >= 0 (0 = boundary); got a minimum of {int(arr.min())}."
        )
    return arr


def _fill_boundaries(labels: np.ndarray) -> np.ndarray:
    """Give every boundary (0) pixel the label of the nearest grain pixel.

    A map without any grain stays all 0 (one cluster): a prediction that paints
    everything as boundary then scores as one merged grain, not as a perfect match.
    """
    zero = labels == 0
    if not zero.any() or zero.all():
        return labels
    idx = ndi.distance_transform_edt(zero, return_distances=False, return_indices=True)
    return labels[tuple(idx)]


def _contingency(
    labels_true: Any, labels_pred: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Return (n_ij, a_i, b_j, n) over the true grain pixels.

    Pixels on a true boundary are left out (where exactly a boundary runs is a matter of
    labelling). Predicted boundary pixels are not left out: they take the label of the
    nearest predicted grain, so that wide or spurious predicted boundaries cost what they
    cost in grains. Only the non-zero cells of the table are returned.
    """
    lt = _as_labels(labels_true, "labels_true")
    lp = _as_labels(labels_pred, "labels_pred")
    check_same_shape(lt, lp, "labels_true", "labels_pred")
    grain = lt > 0
    t = lt[grain].astype(np.int64)
    p = _fill_boundaries(lp)[grain].astype(np.int64)
    if t.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, 0
    width = int(p.max()) + 1
    key = t * width + p
    n_cells = (int(t.max()) + 1) * width
    if n_cells <= 4 * key.size + 1_000_000:
        # A dense count is a single pass; sorting 3 M keys would take 10x longer.
        nij = np.bincount(key, minlength=n_cells)
        nij = nij[nij > 0]
    else:
        nij = np.unique(key, return_counts=True)[1]
    a = np.bincount(t)
    b = np.bincount(p)
    return nij.astype(np.int64), a[a > 0], b[b > 0], int(t.size)


def _pairs(x: np.ndarray) -> int:
    x = x.astype(np.int64)
    return int((x * (x - 1) // 2).sum())


def adjusted_rand_index(labels_true: Any, labels_pred: Any) -> float:
    """Adjusted Rand index between two grain label maps.

    Computed over the true grain pixels: pixels on a true boundary (0 in
    ``labels_true``) are left out; predicted boundary pixels take the label of the
    nearest predicted grain (a prediction without grains is one cluster). With ``n_ij``
    the contingency table of these pixels, ``a_i`` / ``b_j`` its row / column
    sums and ``n`` their number: ``ARI = (S - E) / (M - E)`` with
    ``S = sum C(n_ij, 2)``, ``E = sum C(a_i, 2) sum C(b_j, 2) / C(n, 2)`` and
    ``M = (sum C(a_i, 2) + sum C(b_j, 2)) / 2`` (Hubert and Arabie 1985, as in
    scikit-learn). When ``M == E`` (e.g. one grain in both maps, or fewer than two
    pixels) the maps agree trivially and the result is 1.0.

    Parameters
    ----------
    labels_true, labels_pred : int (M, N)
        Grain labels, 0 = boundary.

    Returns
    -------
    float
        1 for identical grains (up to renumbering), about 0 for chance, can be < 0.

    Examples
    --------
    >>> t = np.array([[1, 1, 2, 2]]); p = np.array([[1, 1, 1, 1]])
    >>> adjusted_rand_index(t, t), adjusted_rand_index(t, p)
    (1.0, 0.0)
    """
    return _ari(*_contingency(labels_true, labels_pred))


def _ari(nij: np.ndarray, a: np.ndarray, b: np.ndarray, n: int) -> float:
    if n < 2:
        return 1.0
    index, sum_a, sum_b = _pairs(nij), _pairs(a), _pairs(b)
    expected = sum_a * sum_b / (n * (n - 1) / 2)
    top = (sum_a + sum_b) / 2
    if top == expected:
        return 1.0
    return float((index - expected) / (top - expected))


def variation_of_information(labels_true: Any, labels_pred: Any) -> tuple[float, float]:
    """Split and merge parts of the variation of information, in bits.

    Over the same pixels as :func:`adjusted_rand_index` (true grain pixels; predicted
    boundary pixels join the nearest predicted grain).

    Parameters
    ----------
    labels_true, labels_pred : int (M, N)
        Grain labels, 0 = boundary.

    Returns
    -------
    (split, merge) : tuple of float
        ``split = H(pred | true)``: over-segmentation (true grains cut apart);
        ``merge = H(true | pred)``: under-segmentation (true grains joined).
        ``split + merge`` is the VI. (0.0, 0.0) when no pixel is left.

    Examples
    --------
    >>> t = np.array([[1, 1, 1, 1]]); p = np.array([[1, 1, 2, 2]])
    >>> variation_of_information(t, p)   # one true grain cut in two: 1 bit of split
    (1.0, 0.0)
    """
    return _vi(*_contingency(labels_true, labels_pred))


def _vi(nij: np.ndarray, a: np.ndarray, b: np.ndarray, n: int) -> tuple[float, float]:
    if n == 0:
        return 0.0, 0.0
    total = float(n)

    def entropy(counts: np.ndarray) -> float:
        p = counts / total
        return float(-(p * np.log2(p)).sum())

    h_joint, h_true, h_pred = entropy(nij), entropy(a), entropy(b)
    split = max(h_joint - h_true, 0.0)
    merge = max(h_joint - h_pred, 0.0)
    return split, merge


def _n_grains(mask: np.ndarray) -> tuple[int, np.ndarray]:
    n, labels = cv2.connectedComponents((~mask).view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    return n - 1, labels


def grain_count_error(true_boundary: Any, pred_boundary: Any) -> dict[str, int]:
    """Compare the number of grains (Betti-0) of two boundary masks.

    Parameters
    ----------
    true_boundary, pred_boundary : bool (M, N)

    Returns
    -------
    dict
        ``n_true``, ``n_pred``, ``error = n_pred - n_true`` (positive: too many
        grains, e.g. spurious boundaries; negative: too few, e.g. gaps merge
        grains) and ``abs_error``.

    Examples
    --------
    >>> t = np.zeros((4, 7), bool); t[:, 3] = True
    >>> grain_count_error(t, np.zeros((4, 7), bool))
    {'n_true': 2, 'n_pred': 1, 'error': -1, 'abs_error': 1}
    """
    p, t = _pair(pred_boundary, true_boundary, "pred_boundary", "true_boundary")
    n_true, n_pred = _n_grains(t)[0], _n_grains(p)[0]
    error = n_pred - n_true
    return {"n_true": n_true, "n_pred": n_pred, "error": error, "abs_error": abs(error)}


def _hd95(pred: np.ndarray, true: np.ndarray, to_true: np.ndarray, to_pred: np.ndarray) -> float:
    if not pred.any() and not true.any():
        return 0.0
    if not pred.any() or not true.any():
        return math.inf
    return float(max(np.percentile(to_true[pred], 95), np.percentile(to_pred[true], 95)))


def hd95(pred: Any, true: Any) -> float:
    """95th-percentile symmetric Hausdorff distance between boundary pixel sets.

    ``max(P95 of d(pred pixel, true set), P95 of d(true pixel, pred set))`` with
    Euclidean distances between pixel centres (exact distance transforms) and
    linear interpolation between ranks (``numpy.percentile``), as MONAI's
    ``compute_hausdorff_distance(percentile=95)``.

    Returns
    -------
    float
        In pixels; 0.0 when both masks are empty, ``inf`` when exactly one is.

    Examples
    --------
    >>> t = np.zeros((10, 10), bool); t[2, :] = True
    >>> p = np.zeros((10, 10), bool); p[5, :] = True
    >>> hd95(p, t)
    3.0
    """
    p, t = _pair(pred, true)
    return _hd95(p, t, _distance_to(t), _distance_to(p))


def boundary_widths(mask: Any) -> np.ndarray:
    """Local boundary width at every pixel of the boundary's skeleton, in pixels.

    ``width = 2 d - 1`` where ``d`` is the Euclidean distance from the skeleton
    pixel to the nearest non-boundary pixel (so a 1-px line is 1 wide and a
    straight 5-px band 5), plus 1 where the skeleton pixel has a 4-neighbour in
    the band that is off the skeleton but just as deep (the two middle rows of an
    even-width band), so 2-, 4-, 6-px bands read 2, 4, 6. The image frame does
    not count as non-boundary. Junctions and line ends read a little off.

    Parameters
    ----------
    mask : bool (M, N)
        Boundary mask.

    Returns
    -------
    float64 (K,)
        One width per skeleton pixel, in raster order (empty if no boundary).

    Examples
    --------
    >>> m = np.zeros((20, 30), bool); m[5:10, :] = True
    >>> float(np.median(boundary_widths(m)))
    5.0
    """
    m = np.ascontiguousarray(as_boundary_mask(mask, "mask"))
    if not m.any():
        return np.zeros(0, dtype=np.float64)
    skeleton = thin_mask(m)
    if m.all():
        # No background to measure against: the whole image is one wall.
        return np.full(int(skeleton.sum()), float(min(m.shape)))
    depth = cv2.distanceTransform(m.view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    rows, cols = np.nonzero(skeleton)
    d = depth[rows, cols].astype(np.float64)
    plateau = np.zeros(rows.size, dtype=bool)
    pad_depth = np.pad(depth, 1)
    pad_off = np.pad(m & ~skeleton, 1)
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        r, c = rows + 1 + dr, cols + 1 + dc
        plateau |= pad_off[r, c] & (np.abs(pad_depth[r, c] - d) < _EPS)
    return 2.0 * d - 1.0 + plateau


def boundary_width_distribution(
    mask: Any,
    *,
    bin_px: float = 1.0,
    max_width_px: float | None = None,
    pixel_size_um: float | None = None,
) -> pd.DataFrame:
    """Histogram of :func:`boundary_widths` as a table.

    Parameters
    ----------
    mask : bool (M, N)
        Boundary mask.
    bin_px : float
        Bin width in pixels; bins are ``[0.5 + k bin_px, 0.5 + (k + 1) bin_px)``, so
        with 1-px bins each whole width has its own bin.
    max_width_px : float, optional
        Upper end of the last bin (default: the largest width). Wider pixels are
        counted in the last bin.
    pixel_size_um : float, optional
        Adds ``width_um`` (bin centre in micrometres).

    Returns
    -------
    pandas.DataFrame
        Columns ``width_lo_px, width_hi_px, width_px`` (bin centre), ``count``,
        ``fraction`` (of all skeleton pixels), and ``width_um`` when a pixel size
        is given. Empty (no rows) when the mask has no boundary.

    Examples
    --------
    >>> m = np.zeros((20, 30), bool); m[5:8, :] = True
    >>> t = boundary_width_distribution(m)
    >>> t.loc[t["count"].idxmax(), "width_px"]
    np.float64(3.0)
    """
    widths = boundary_widths(mask)
    size = check_pixel_size(pixel_size_um)
    ok = isinstance(bin_px, (int, float, np.integer, np.floating)) and not isinstance(bin_px, bool)
    if not ok or not math.isfinite(bin_px) or bin_px <= 0:
        raise InputError(f"bin_px must be a positive number of pixels; got {bin_px!r}.")
    if max_width_px is not None and not (math.isfinite(max_width_px) and max_width_px > 0.5):
        raise InputError(f"max_width_px must be a number of pixels > 0.5; got {max_width_px!r}.")
    columns = ["width_lo_px", "width_hi_px", "width_px", "count", "fraction"]
    if size is not None:
        columns.append("width_um")
    if widths.size == 0:
        return pd.DataFrame({c: np.zeros(0) for c in columns}).astype({"count": np.int64})
    top = float(max_width_px) if max_width_px is not None else float(widths.max())
    n_bins = max(1, int(math.ceil((top - 0.5) / bin_px - 1e-9)))
    edges = 0.5 + bin_px * np.arange(n_bins + 1)
    index = np.clip(((widths - 0.5) // bin_px).astype(np.int64), 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    table = pd.DataFrame(
        {
            "width_lo_px": edges[:-1],
            "width_hi_px": edges[1:],
            "width_px": (edges[:-1] + edges[1:]) / 2,
            "count": counts.astype(np.int64),
            "fraction": counts / widths.size,
        }
    )
    if size is not None:
        table["width_um"] = table["width_px"] * size
    return table


def evaluate_segmentation(
    pred_boundary: Any, true_boundary: Any, *, tolerance_px: float = 0
) -> dict[str, float]:
    """All metrics of a predicted boundary map against the truth, at once.

    Parameters
    ----------
    pred_boundary, true_boundary : bool (M, N)
        Boundary masks (True = boundary).
    tolerance_px : float
        Tolerance for the second set of pixel metrics (keys ending ``_tol``).

    Returns
    -------
    dict
        Pixel metrics at tolerance 0 (``tp, fp, fn, tn, tpr, tnr, precision,
        recall, dice, f1, iou, accuracy``); the same at ``tolerance_px`` with the
        suffix ``_tol``, and ``tolerance_px``; ``ari``, ``vi_split``, ``vi_merge``
        over grains; ``n_grains_true``, ``n_grains_pred``, ``grain_count_error``
        (pred - true), ``grain_count_abs_error``; ``hd95`` in pixels.

    Raises
    ------
    InputError
        If the masks are not 2-D or differ in shape, or the tolerance is < 0.

    Examples
    --------
    >>> t = np.zeros((8, 9), bool); t[:, 4] = True
    >>> r = evaluate_segmentation(t, t, tolerance_px=2)
    >>> r["dice"], r["dice_tol"], r["ari"], r["hd95"], r["grain_count_error"]
    (1.0, 1.0, 1.0, 0.0, 0)
    """
    p, t = _pair(pred_boundary, true_boundary, "pred_boundary", "true_boundary")
    tol = _check_tolerance(tolerance_px)
    to_true, to_pred = _distance_to(t), _distance_to(p)
    out: dict[str, float] = dict(_metrics_from(_counts(p, t, 0.0, None, None)))
    tolerant = _metrics_from(_counts(p, t, tol, to_true, to_pred)) if tol > 0 else dict(out)
    out.update({f"{k}_tol": v for k, v in tolerant.items()})
    out["tolerance_px"] = tol
    n_true, labels_true = _n_grains(t)
    n_pred, labels_pred = _n_grains(p)
    table = _contingency(labels_true, labels_pred)
    out["ari"] = _ari(*table)
    out["vi_split"], out["vi_merge"] = _vi(*table)
    out["n_grains_true"] = n_true
    out["n_grains_pred"] = n_pred
    out["grain_count_error"] = n_pred - n_true
    out["grain_count_abs_error"] = abs(n_pred - n_true)
    out["hd95"] = _hd95(p, t, to_true, to_pred)
    return out
