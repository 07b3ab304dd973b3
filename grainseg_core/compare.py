"""Model-vs-model comparison on an image with ground truth: metric table, grain sizes, gaps.

The comparison page shows two models (e.g. the shipped BCE and BCE + TopoLoss pair) on
one micrograph with known boundaries. This module computes what it shows, from boundary
masks only:

* :func:`compare_models`: one row of metrics per model (precision, recall, Dice at a
  boundary tolerance; ARI and variation of information split/merge over grains; grain
  count and its error; HD95), every model's grain table, and the distance of each
  model's grain-size distribution to the truth's (Jensen-Shannon on shared histogram
  bins, two-sample KS);
* :func:`gap_closures`: the true boundary stretches that one model finds and the other
  misses, in both directions (:func:`grainseg_core.overlays.gap_closure_sites`);
* :func:`crop_bounds` / :func:`sites_in_crop`: one crop window shared by both views.

Example
-------
>>> t = np.zeros((40, 40), bool); t[:, 20] = True; t[20, :] = True
>>> a = t.copy(); b = t.copy(); b[5:15, 20] = False          # B leaves a gap open
>>> cmp = compare_models({"A": a, "B": b}, t)
>>> float(cmp.metrics.loc["A", "ari"]), int(cmp.metrics.loc["B", "grain_count_error"])
(1.0, -1)
>>> gap_closures(a, b, t, names=("A", "B"))[["closed_by", "size_px"]].values.tolist()
[['A', 10]]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from grainseg_core._validation import as_boundary_mask, check_pixel_size
from grainseg_core.distributions import js_distance_histograms, ks_two_sample
from grainseg_core.errors import InputError
from grainseg_core.grains import grain_table
from grainseg_core.metrics import evaluate_segmentation
from grainseg_core.overlays import gap_closure_sites

__all__ = [
    "METRIC_COLUMNS",
    "DISTANCE_COLUMNS",
    "ModelComparison",
    "compare_models",
    "gap_closures",
    "crop_bounds",
    "sites_in_crop",
]

#: Columns of :attr:`ModelComparison.metrics`.
METRIC_COLUMNS = (
    "precision",
    "recall",
    "dice",
    "ari",
    "vi_split",
    "vi_merge",
    "n_grains",
    "grain_count_error",
    "hd95_px",
)
#: Columns of :attr:`ModelComparison.distances`.
DISTANCE_COLUMNS = ("js_distance", "ks_statistic", "ks_pvalue", "n_grains", "median_size")


@dataclass(frozen=True, eq=False)
class ModelComparison:
    """What :func:`compare_models` computes.

    Attributes
    ----------
    metrics : pandas.DataFrame
        Index = model name; columns :data:`METRIC_COLUMNS`. Precision, recall and Dice
        are at ``tolerance_px``; ``grain_count_error`` is predicted minus true.
    grain_tables : dict of str to pandas.DataFrame
        :func:`grainseg_core.grains.grain_table` of the truth (key ``truth_name``) and of
        every model (after ``min_size_px``).
    distances : pandas.DataFrame
        Index = model name; columns :data:`DISTANCE_COLUMNS`: JS distance (base 2, in
        [0, 1]) of the grain-size histograms on ``bins`` shared bins, KS statistic and
        p-value, grain count and median size. NaN where a model found no grain.
    tolerance_px : float
    size_column : str
        ``"ecd_um"`` with a pixel size, else ``"ecd_px"``.
    truth_name : str
    """

    metrics: pd.DataFrame
    grain_tables: dict[str, pd.DataFrame]
    distances: pd.DataFrame
    tolerance_px: float
    size_column: str
    truth_name: str

    def sizes(self) -> dict[str, np.ndarray]:
        """Grain sizes (``size_column``) of the truth and every model, truth first."""
        return {k: t[self.size_column].to_numpy(dtype=float) for k, t in self.grain_tables.items()}


def _check_tolerance(tolerance_px: Any) -> float:
    ok = isinstance(tolerance_px, (int, float, np.integer, np.floating)) and not isinstance(
        tolerance_px, bool
    )
    if not ok or not math.isfinite(float(tolerance_px)) or tolerance_px < 0:
        raise InputError(f"tolerance_px must be a number >= 0 (pixels); got {tolerance_px!r}.")
    return float(tolerance_px)


def compare_models(
    predictions: Mapping[str, Any],
    true_boundary: Any,
    *,
    tolerance_px: float = 0.0,
    pixel_size_um: float | None = None,
    min_size_px: int = 0,
    bins: int = 30,
    truth_name: str = "ground truth",
) -> ModelComparison:
    """Metrics and grain-size distances of several predicted boundary maps against the truth.

    Parameters
    ----------
    predictions : mapping of str to bool (M, N)
        Model name -> predicted boundary mask (at least one).
    true_boundary : bool (M, N)
        Ground-truth boundary mask.
    tolerance_px : float
        Boundary tolerance of precision, recall and Dice (0 = exact pixels).
    pixel_size_um : float, optional
        Sizes in micrometres (``ecd_um``) when given.
    min_size_px : int
        Grains smaller than this are left out of the grain tables and distances
        (seed 000 used 3, 7, 11 px).
    bins : int
        Shared bins of the JS distance.
    truth_name : str
        Key of the truth in :attr:`ModelComparison.grain_tables`.

    Returns
    -------
    ModelComparison

    Raises
    ------
    InputError
        No prediction, a name equal to ``truth_name``, masks of different shapes,
        a negative tolerance, bad ``bins`` or ``min_size_px``.

    Examples
    --------
    >>> t = np.zeros((9, 9), bool); t[:, 4] = True
    >>> cmp = compare_models({"m": t}, t, tolerance_px=1)
    >>> cmp.metrics.loc["m", ["precision", "recall", "dice"]].tolist()
    [1.0, 1.0, 1.0]
    """
    if not isinstance(predictions, Mapping) or not predictions:
        raise InputError("predictions must be a non-empty mapping of model name -> boundary mask.")
    if truth_name in predictions:
        raise InputError(f"a model may not be called '{truth_name}' (the ground truth's name).")
    tol = _check_tolerance(tolerance_px)
    size = check_pixel_size(pixel_size_um)
    if (
        isinstance(min_size_px, bool)
        or not isinstance(min_size_px, (int, np.integer))
        or min_size_px < 0
    ):
        raise InputError(f"min_size_px must be an integer >= 0; got {min_size_px!r}.")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise InputError(f"bins must be an integer >= 1; got {bins!r}.")
    true = as_boundary_mask(true_boundary, "true_boundary")
    masks = {}
    for name, pred in predictions.items():
        mask = as_boundary_mask(pred, f"predictions['{name}']")
        if mask.shape != true.shape:
            raise InputError(
                f"predictions['{name}'] (shape {mask.shape}) must match true_boundary "
                f"(shape {true.shape})."
            )
        masks[str(name)] = mask
    column = "ecd_um" if size is not None else "ecd_px"
    tables = {truth_name: grain_table(true, pixel_size_um=size, min_size_px=int(min_size_px))}
    rows, dist_rows = {}, {}
    suffix = "_tol" if tol > 0 else ""
    truth_sizes = tables[truth_name][column].to_numpy(dtype=float)
    for name, mask in masks.items():
        ev = evaluate_segmentation(mask, true, tolerance_px=tol)
        rows[name] = {
            "precision": ev[f"precision{suffix}"],
            "recall": ev[f"recall{suffix}"],
            "dice": ev[f"dice{suffix}"],
            "ari": ev["ari"],
            "vi_split": ev["vi_split"],
            "vi_merge": ev["vi_merge"],
            "n_grains": int(ev["n_grains_pred"]),
            "grain_count_error": int(ev["grain_count_error"]),
            "hd95_px": ev["hd95"],
        }
        table = grain_table(mask, pixel_size_um=size, min_size_px=int(min_size_px))
        tables[name] = table
        sizes = table[column].to_numpy(dtype=float)
        nan = float("nan")
        if sizes.size and truth_sizes.size:
            ks = ks_two_sample(truth_sizes, sizes)
            js = js_distance_histograms(truth_sizes, sizes, bins=int(bins))
            dist_rows[name] = {
                "js_distance": js,
                "ks_statistic": ks.statistic,
                "ks_pvalue": ks.pvalue,
            }
        else:
            dist_rows[name] = {"js_distance": nan, "ks_statistic": nan, "ks_pvalue": nan}
        dist_rows[name]["n_grains"] = int(sizes.size)
        dist_rows[name]["median_size"] = float(np.median(sizes)) if sizes.size else nan
    metrics = pd.DataFrame.from_dict(rows, orient="index", columns=list(METRIC_COLUMNS))
    metrics.index.name = "model"
    distances = pd.DataFrame.from_dict(dist_rows, orient="index", columns=list(DISTANCE_COLUMNS))
    distances.index.name = "model"
    return ModelComparison(metrics, tables, distances, tol, column, truth_name)


def gap_closures(
    pred_a: Any,
    pred_b: Any,
    true: Any,
    *,
    names: tuple[str, str] = ("A", "B"),
    tolerance_px: float = 0.0,
    min_size_px: int = 3,
) -> pd.DataFrame:
    """True-boundary stretches that one model finds and the other misses, both ways.

    Parameters
    ----------
    pred_a, pred_b, true : bool (M, N)
        Boundary masks.
    names : (str, str)
        Names of A and B.
    tolerance_px : float
        A true pixel counts as found when a predicted pixel lies within this distance.
    min_size_px : int
        Smaller stretches are left out (single pixels are noise, not gaps).

    Returns
    -------
    pandas.DataFrame
        Columns ``row, col`` (centroid), ``size_px``, ``closed_by`` and ``left_open_by``
        (model names); largest first.

    Examples
    --------
    >>> t = np.ones((1, 8), bool)
    >>> a = np.array([[1, 1, 1, 1, 0, 0, 1, 1]], bool)
    >>> b = np.array([[1, 0, 0, 0, 1, 1, 1, 1]], bool)
    >>> gap_closures(a, b, t, min_size_px=1)[["closed_by", "size_px"]].values.tolist()
    [['A', 3], ['B', 2]]
    """
    if len(names) != 2 or names[0] == names[1]:
        raise InputError(f"names must be two different model names; got {names!r}.")
    frames = []
    for first, second, (x, y) in ((pred_a, pred_b, names), (pred_b, pred_a, names[::-1])):
        sites = gap_closure_sites(
            first, second, true, tolerance_px=tolerance_px, min_size_px=min_size_px
        )
        sites = sites.assign(closed_by=x, left_open_by=y)
        frames.append(sites)
    out = pd.concat(frames, ignore_index=True)
    out["size_px"] = out["size_px"].astype(int)
    return out.sort_values("size_px", ascending=False, kind="stable").reset_index(drop=True)


def crop_bounds(
    shape: tuple[int, int], *, center: tuple[float, float], size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """A crop window of ``size`` around ``center``, moved inside the image.

    Parameters
    ----------
    shape : (M, N)
        Image shape.
    center : (row, col)
        Wanted centre.
    size : (rows, cols)
        Window size, clipped to the image.

    Returns
    -------
    (r0, r1, c0, c1)
        ``image[r0:r1, c0:c1]``.

    Examples
    --------
    >>> crop_bounds((100, 200), center=(5, 190), size=(20, 40))
    (0, 20, 160, 200)
    """
    try:
        rows, cols = (int(v) for v in shape)
        cr, cc = (float(v) for v in center)
        h, w = (int(v) for v in size)
    except (TypeError, ValueError) as exc:
        raise InputError(f"shape, center and size must be pairs of numbers: {exc}.") from exc
    if rows < 1 or cols < 1 or h < 1 or w < 1:
        raise InputError(f"shape {shape!r} and size {size!r} must be positive.")
    h, w = min(h, rows), min(w, cols)
    r0 = int(round(cr - h / 2))
    c0 = int(round(cc - w / 2))
    r0 = min(max(r0, 0), rows - h)
    c0 = min(max(c0, 0), cols - w)
    return r0, r0 + h, c0, c0 + w


def sites_in_crop(sites: pd.DataFrame, bounds: tuple[int, int, int, int]) -> pd.DataFrame:
    """The sites inside a crop, with ``row``/``col`` relative to its top-left corner.

    Examples
    --------
    >>> s = pd.DataFrame({"row": [5.0, 50.0], "col": [5.0, 5.0], "size_px": [3, 4]})
    >>> sites_in_crop(s, (0, 10, 0, 10))[["row", "col"]].values.tolist()
    [[5.0, 5.0]]
    """
    r0, r1, c0, c1 = bounds
    inside = (sites["row"] >= r0) & (sites["row"] < r1) & (sites["col"] >= c0) & (sites["col"] < c1)
    out = sites[inside].copy()
    out["row"] = out["row"] - r0
    out["col"] = out["col"] - c0
    return out.reset_index(drop=True)
