"""Grain size and shape distributions: fits, distances between them, tests and summaries.

What seed 000 (347H steel) does, and how it is done here:

- **Sizes** (equivalent circle diameter, ECD) are fitted with an exponential distribution;
  log-normal and gamma are offered too. Fits are maximum likelihood (``scipy.stats``) with
  the location fixed at 0 by default (``floc=0``: sizes start at zero), so each has one
  (exponential) or two (log-normal, gamma) free parameters.
- **Aspect ratio**: the paper's aspect ratio lies in (0, 1] (minor over major axis) and is
  fitted with a Beta distribution. :func:`grainseg_core.grains.grain_table` reports it as
  major over minor (>= 1), so :func:`fit_aspect_ratio` fits ``1 / aspect_ratio``. Beta is
  fitted on [0, 1] (``floc=0, fscale=1``). Grains with an aspect ratio of exactly 1 (a
  1-pixel grain, a square) would put mass on the edge of the support where the Beta density
  is 0 or infinite; when any value lies on 0 or 1, all values are squeezed into (0, 1) with
  ``x' = (x (n - 1) + 1/2) / n`` (Smithson & Verkuilen 2006, Psychol. Methods 11:54).
- **Minimum size filters** of 3, 7 and 11 px: the paper's Figure 7 shows ECD distributions
  "with minimum grain size of three, seven and eleven pixels" and the text calls the last
  "minimum grain diameter of 11 pixels", so the filter keeps grains with ``ecd_px >= s``
  (a diameter, not an area): :func:`filter_min_size`.
- **Jensen-Shannon distance** between two fitted PDFs (evaluated on one common grid of
  points, each normalised to sum 1) or between two histograms (shared bin edges), by
  ``scipy.spatial.distance.jensenshannon`` with ``base=2``: the square root of the JS
  divergence in bits, so 0 for identical and at most 1 for disjoint distributions.
- **Two-sample Kolmogorov-Smirnov test** (seed 003, particle sizes): ``scipy.stats.ks_2samp``.

The KS statistic of a fit against its own data (``DistributionFit.ks_statistic``) measures
goodness of fit; its p-value is optimistic because the parameters came from the same data.
Fits never print warnings: scipy's RuntimeWarnings during optimisation are silenced, and
failures become :class:`~grainseg_core.errors.InputError` with a plain message.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from grainseg_core._validation import check_int
from grainseg_core.errors import InputError, unknown_name_error

__all__ = [
    "SIZE_FAMILIES",
    "MIN_SIZE_FILTERS_PX",
    "DistributionFit",
    "KSResult",
    "SummaryStatistics",
    "DistributionComparison",
    "fit_distribution",
    "fit_sizes",
    "fit_aspect_ratio",
    "unit_aspect_ratio",
    "js_distance_pdfs",
    "js_distance_histograms",
    "ks_two_sample",
    "summary_statistics",
    "filter_min_size",
    "sizes_by_min_size",
    "compare_samples",
]

#: Families fitted to grain sizes.
SIZE_FAMILIES: tuple[str, ...] = ("exponential", "lognormal", "gamma")
#: Minimum grain diameters (ECD, px) of seed 000's Figure 7.
MIN_SIZE_FILTERS_PX: tuple[int, ...] = (3, 7, 11)
#: Fewest values a fit accepts.
MIN_FIT_VALUES = 3

_SCIPY = {"exponential": stats.expon, "lognormal": stats.lognorm, "gamma": stats.gamma, "beta": stats.beta}
_SHAPE_NAMES = {"exponential": (), "lognormal": ("s",), "gamma": ("a",), "beta": ("a", "b")}


# --------------------------------------------------------------------------- data classes


@dataclass(frozen=True)
class DistributionFit:
    """A maximum-likelihood fit of one family to a sample.

    Attributes
    ----------
    family : str
        ``'exponential'``, ``'lognormal'``, ``'gamma'`` or ``'beta'``.
    params : dict of str to float
        scipy parameters: shape(s) (``s`` for log-normal, ``a`` for gamma, ``a, b`` for
        Beta), then ``loc`` and ``scale``.
    n : int
        Sample size.
    n_free : int
        Number of fitted (not fixed) parameters.
    log_likelihood : float
    aic : float
        ``2 n_free - 2 log_likelihood``.
    ks_statistic, ks_pvalue : float
        One-sample KS test of the data against the fit (p-value optimistic, see module).
    variable : str
        What was fitted: ``'value'``, or ``'1/aspect_ratio'`` for :func:`fit_aspect_ratio`.
    """

    family: str
    params: dict
    n: int
    n_free: int
    log_likelihood: float
    aic: float
    ks_statistic: float
    ks_pvalue: float
    variable: str = "value"

    def frozen(self):
        """The fitted ``scipy.stats`` frozen distribution."""
        return _SCIPY[self.family](**self.params)

    def pdf(self, x: Any) -> np.ndarray:
        """Density of the fit at ``x`` (in the fitted variable), as a float array.

        Examples
        --------
        >>> fit = fit_distribution([1.0, 2.0, 3.0], "exponential")
        >>> float(fit.pdf(0.0))
        0.5
        """
        return np.asarray(self.frozen().pdf(np.asarray(x, dtype=float)), dtype=float)

    def cdf(self, x: Any) -> np.ndarray:
        """Cumulative distribution of the fit at ``x``."""
        return np.asarray(self.frozen().cdf(np.asarray(x, dtype=float)), dtype=float)

    @property
    def mean(self) -> float:
        """Mean of the fitted distribution."""
        return float(self.frozen().mean())

    def to_dict(self) -> dict:
        """Plain-data copy."""
        return asdict(self)


@dataclass(frozen=True)
class KSResult:
    """Two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``, two-sided)."""

    statistic: float
    pvalue: float
    n_a: int
    n_b: int


@dataclass(frozen=True)
class SummaryStatistics:
    """Summary of a sample; NaN where undefined (empty sample, one value, values <= 0)."""

    n: int
    mean: float
    std: float
    median: float
    q1: float
    q3: float
    min: float
    max: float
    geometric_mean: float

    def to_dict(self) -> dict:
        """Plain-data copy."""
        return asdict(self)


@dataclass(frozen=True)
class DistributionComparison:
    """Two samples compared: their fits, JS distances and a two-sample KS test."""

    family: str
    fit_a: DistributionFit
    fit_b: DistributionFit
    js_pdf: float
    js_histogram: float
    ks: KSResult


# --------------------------------------------------------------------------- validation


def _as_sample(values: Any, name: str, *, min_n: int = 0) -> np.ndarray:
    if isinstance(values, pd.DataFrame):
        raise InputError(f"{name} must be a 1-D sequence of numbers; got a DataFrame (pick a column).")
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a 1-D sequence of numbers: {exc}") from exc
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D; got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise InputError(f"{name} has {bad} NaN or infinite values; drop them first.")
    if arr.size < min_n:
        raise InputError(
            f"{name} has {arr.size} value(s); a fit needs at least {min_n}. Use more grains "
            "(a larger image, several images, or a smaller minimum-size filter)."
        )
    return arr


def _quiet(func, *args, **kwargs):
    """Call a scipy routine with its RuntimeWarnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return func(*args, **kwargs)


def _squeeze_unit(x: np.ndarray) -> np.ndarray:
    if ((x <= 0) | (x >= 1)).any():
        n = x.size
        return (x * (n - 1) + 0.5) / n
    return x


# --------------------------------------------------------------------------- fits


def fit_distribution(
    values: Any,
    family: Literal["exponential", "lognormal", "gamma", "beta"],
    *,
    floc: float | None = 0.0,
    variable: str = "value",
) -> DistributionFit:
    """Fit one distribution family to a sample by maximum likelihood.

    Parameters
    ----------
    values : sequence of float, (n,)
        At least 3 finite values. For ``'exponential'``, ``'lognormal'`` and ``'gamma'``
        with ``floc=0`` all values must be > 0; for ``'beta'`` all in [0, 1].
    family : {'exponential', 'lognormal', 'gamma', 'beta'}
    floc : float or None, default 0
        Fixed location (``None``: fitted as a free parameter). Ignored for Beta, which is
        always fitted on [0, 1].
    variable : str
        Label of the fitted variable, stored in the result.

    Returns
    -------
    DistributionFit

    Raises
    ------
    InputError
        Unknown family, fewer than 3 values, values outside the support, all values equal
        (except for the exponential), or an optimiser failure.

    Examples
    --------
    >>> fit = fit_distribution([1.0, 2.0, 3.0], "exponential")
    >>> fit.params["scale"], fit.n_free
    (2.0, 1)
    """
    if family not in _SCIPY:
        raise unknown_name_error("distribution family", str(family), _SCIPY, InputError)
    x = _as_sample(values, "values", min_n=MIN_FIT_VALUES)
    dist = _SCIPY[family]
    kwargs: dict[str, float] = {}
    if family == "beta":
        if (x < 0).any() or (x > 1).any():
            raise InputError(
                f"a Beta fit needs values in [0, 1]; got values in [{x.min():.4g}, {x.max():.4g}]. "
                "For aspect ratios >= 1 use fit_aspect_ratio."
            )
        x = _squeeze_unit(x)
        kwargs = {"floc": 0.0, "fscale": 1.0}
    else:
        if floc is not None:
            if not math.isfinite(float(floc)):
                raise InputError(f"floc must be a finite number or None; got {floc!r}.")
            if (x <= floc).any():
                raise InputError(
                    f"a {family} fit with loc fixed at {floc:g} needs every value > {floc:g}; "
                    f"{int((x <= floc).sum())} value(s) are not (smallest {x.min():.4g}). "
                    "Drop them, or pass floc=None to fit the location."
                )
            kwargs = {"floc": float(floc)}
    if family != "exponential" and np.ptp(x) == 0:
        raise InputError(
            f"all {x.size} values are equal ({x[0]:.4g}); a {family} fit needs spread-out values."
        )
    try:
        fitted = _quiet(dist.fit, x, **kwargs)
    except (ValueError, RuntimeError, FloatingPointError) as exc:
        raise InputError(f"the {family} fit did not converge on these {x.size} values: {exc}") from exc
    names = _SHAPE_NAMES[family] + ("loc", "scale")
    params = {k: float(v) for k, v in zip(names, fitted)}
    if not all(math.isfinite(v) for v in params.values()) or params["scale"] <= 0:
        raise InputError(f"the {family} fit gave unusable parameters {params}; the data may be degenerate.")
    frozen = dist(**params)
    ll = float(np.sum(_quiet(frozen.logpdf, x)))
    n_free = len(names) - len(kwargs)
    ks = _quiet(stats.kstest, x, frozen.cdf)
    return DistributionFit(
        family=family,
        params=params,
        n=int(x.size),
        n_free=n_free,
        log_likelihood=ll,
        aic=2.0 * n_free - 2.0 * ll,
        ks_statistic=float(ks.statistic),
        ks_pvalue=float(ks.pvalue),
        variable=variable,
    )


def fit_sizes(
    sizes: Any,
    *,
    families: Sequence[str] = SIZE_FAMILIES,
    floc: float | None = 0.0,
) -> dict[str, DistributionFit]:
    """Fit several families to grain sizes (e.g. ECD) and return them best (lowest AIC) first.

    Parameters
    ----------
    sizes : sequence of float, (n,)
        At least 3 values > ``floc``.
    families : sequence of str, default ('exponential', 'lognormal', 'gamma')
    floc : float or None, default 0

    Returns
    -------
    dict of str to DistributionFit
        Ordered by AIC, best first.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fits = fit_sizes(rng.lognormal(1.0, 0.4, 500))
    >>> next(iter(fits))
    'lognormal'
    """
    fits = {f: fit_distribution(sizes, f, floc=floc, variable="size") for f in families}
    return dict(sorted(fits.items(), key=lambda kv: kv[1].aic))


def unit_aspect_ratio(aspect_ratio: Any) -> np.ndarray:
    """Map aspect ratios >= 1 (major/minor, as in the grain table) to (0, 1] by ``1 / AR``.

    Examples
    --------
    >>> unit_aspect_ratio([1.0, 2.0, 4.0]).tolist()
    [1.0, 0.5, 0.25]
    """
    ar = _as_sample(aspect_ratio, "aspect_ratio")
    if (ar < 1.0 - 1e-9).any():
        raise InputError(
            f"aspect_ratio must be >= 1 (major over minor axis, as grain_table gives it); "
            f"{int((ar < 1.0 - 1e-9).sum())} value(s) are below 1 (smallest {ar.min():.4g}). "
            "If yours is already minor over major, fit it with fit_distribution(x, 'beta')."
        )
    return 1.0 / np.maximum(ar, 1.0)


def fit_aspect_ratio(aspect_ratio: Any) -> DistributionFit:
    """Fit a Beta distribution to grain aspect ratios, as seed 000 does.

    Parameters
    ----------
    aspect_ratio : sequence of float, (n,)
        Aspect ratios >= 1 (major over minor, :func:`grainseg_core.grains.grain_table`);
        at least 3.

    Returns
    -------
    DistributionFit
        Beta on ``1 / aspect_ratio`` in (0, 1] (``variable='1/aspect_ratio'``); its ``pdf``
        takes values of ``1 / aspect_ratio``.

    Examples
    --------
    >>> fit = fit_aspect_ratio(1.0 / np.random.default_rng(1).beta(5.0, 2.0, 2000))
    >>> round(fit.params["a"], 1), round(fit.params["b"], 1)  # sample of Beta(5, 2)
    (4.7, 1.9)
    """
    return fit_distribution(unit_aspect_ratio(aspect_ratio), "beta", variable="1/aspect_ratio")


# --------------------------------------------------------------------------- distances and tests


def _grid_for(fit_a: DistributionFit, fit_b: DistributionFit, n_points: int) -> np.ndarray:
    if fit_a.family == "beta" or fit_b.family == "beta":
        edges = np.linspace(0.0, 1.0, n_points + 1)
    else:
        lo = min(fit_a.params["loc"], fit_b.params["loc"])
        hi = max(_quiet(fit_a.frozen().ppf, 0.9995), _quiet(fit_b.frozen().ppf, 0.9995))
        edges = np.linspace(lo, hi, n_points + 1)
    return 0.5 * (edges[:-1] + edges[1:])  # midpoints: no density singularity at an edge


def js_distance_pdfs(
    fit_a: DistributionFit,
    fit_b: DistributionFit,
    *,
    grid: Any = None,
    n_points: int = 512,
) -> float:
    """Jensen-Shannon distance (base 2) between two fitted densities on one common grid.

    Parameters
    ----------
    fit_a, fit_b : DistributionFit
        Fits of the same variable (e.g. two size fits, or two aspect-ratio fits).
    grid : sequence of float, optional
        Points where both densities are evaluated. Default: ``n_points`` bin midpoints over
        [0, 1] for Beta fits, else from the smaller ``loc`` to the larger 99.95th percentile.
    n_points : int, default 512

    Returns
    -------
    float
        In [0, 1]; 0 for identical fits.

    Examples
    --------
    >>> a = fit_distribution([1.0, 2.0, 3.0], "exponential")
    >>> js_distance_pdfs(a, a)
    0.0
    """
    for name, fit in (("fit_a", fit_a), ("fit_b", fit_b)):
        if not isinstance(fit, DistributionFit):
            raise InputError(f"{name} must be a DistributionFit; got {type(fit).__name__}.")
    if fit_a.variable != fit_b.variable:
        raise InputError(
            f"fit_a ({fit_a.variable}) and fit_b ({fit_b.variable}) describe different variables; "
            "compare sizes with sizes and aspect ratios with aspect ratios."
        )
    if grid is None:
        x = _grid_for(fit_a, fit_b, check_int(n_points, "n_points", low=2))
    else:
        x = _as_sample(grid, "grid", min_n=2)
    p = np.nan_to_num(fit_a.pdf(x), nan=0.0, posinf=0.0)
    q = np.nan_to_num(fit_b.pdf(x), nan=0.0, posinf=0.0)
    if p.sum() <= 0 or q.sum() <= 0:
        raise InputError("a fitted density is zero everywhere on the grid; choose a grid inside the data range.")
    return float(jensenshannon(p / p.sum(), q / q.sum(), base=2))


def js_distance_histograms(
    a: Any,
    b: Any,
    *,
    bins: int | Sequence[float] = 50,
    value_range: tuple[float, float] | None = None,
) -> float:
    """Jensen-Shannon distance (base 2) between the histograms of two samples on shared bins.

    Parameters
    ----------
    a, b : sequence of float
        The two samples (at least one value each).
    bins : int or sequence of float, default 50
        Number of equal bins over ``value_range``, or explicit bin edges.
    value_range : (low, high), optional
        Default: the range of both samples together.

    Returns
    -------
    float
        In [0, 1]. With few values per bin, sampling noise alone inflates it (two samples
        of 400 from one distribution read ~0.2 on 50 bins): use fewer bins for small samples,
        or compare fitted densities with :func:`js_distance_pdfs`.

    Examples
    --------
    >>> js_distance_histograms([0.1, 0.2], [0.8, 0.9], bins=2, value_range=(0, 1))
    1.0
    """
    xa = _as_sample(a, "a", min_n=1)
    xb = _as_sample(b, "b", min_n=1)
    if value_range is None:
        both = np.concatenate([xa, xb])
        value_range = (float(both.min()), float(both.max()))
        if value_range[1] <= value_range[0]:
            value_range = (value_range[0] - 0.5, value_range[1] + 0.5)
    try:
        edges = np.histogram_bin_edges(np.concatenate([xa, xb]), bins=bins, range=value_range)
    except (TypeError, ValueError) as exc:
        raise InputError(f"bins / value_range are not usable: {exc}") from exc
    ha, _ = np.histogram(xa, bins=edges)
    hb, _ = np.histogram(xb, bins=edges)
    if ha.sum() == 0 or hb.sum() == 0:
        raise InputError("a sample has no values inside value_range; widen the range.")
    return float(jensenshannon(ha / ha.sum(), hb / hb.sum(), base=2))


def ks_two_sample(a: Any, b: Any) -> KSResult:
    """Two-sided two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``).

    Parameters
    ----------
    a, b : sequence of float
        At least one value each.

    Returns
    -------
    KSResult
        ``statistic`` (largest gap between the empirical CDFs) and ``pvalue``.

    Examples
    --------
    >>> ks_two_sample([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]).statistic
    0.0
    """
    xa = _as_sample(a, "a", min_n=1)
    xb = _as_sample(b, "b", min_n=1)
    res = _quiet(stats.ks_2samp, xa, xb)
    return KSResult(float(res.statistic), float(res.pvalue), int(xa.size), int(xb.size))


def summary_statistics(values: Any) -> SummaryStatistics:
    """n, mean, standard deviation (ddof 1), median, quartiles, min, max, geometric mean.

    An empty sample gives ``n=0`` and NaN elsewhere; the geometric mean is NaN unless all
    values are > 0.

    Examples
    --------
    >>> s = summary_statistics([1.0, 2.0, 4.0])
    >>> s.n, s.median, round(s.geometric_mean, 6)
    (3, 2.0, 2.0)
    """
    x = _as_sample(values, "values")
    if x.size == 0:
        nan = math.nan
        return SummaryStatistics(0, nan, nan, nan, nan, nan, nan, nan, nan)
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    geo = float(np.exp(np.mean(np.log(x)))) if (x > 0).all() else math.nan
    return SummaryStatistics(
        n=int(x.size),
        mean=float(x.mean()),
        std=float(x.std(ddof=1)) if x.size > 1 else math.nan,
        median=float(med),
        q1=float(q1),
        q3=float(q3),
        min=float(x.min()),
        max=float(x.max()),
        geometric_mean=geo,
    )


# --------------------------------------------------------------------------- size filters


def filter_min_size(table: Any, min_ecd_px: float, *, column: str = "ecd_px") -> Any:
    """Keep grains whose equivalent circle diameter is at least ``min_ecd_px`` pixels.

    Seed 000's "minimum grain size of 3, 7 and 11 pixels" is a minimum *diameter* (ECD),
    see the module docstring.

    Parameters
    ----------
    table : pandas.DataFrame or sequence of float
        A grain table with column ``column``, or the ECD values themselves.
    min_ecd_px : float
        Smallest kept diameter (>= 0).
    column : str, default 'ecd_px'
        Column holding the diameter when ``table`` is a DataFrame.

    Returns
    -------
    pandas.DataFrame or numpy.ndarray
        The kept rows (index reset) or values, same kind as ``table``.

    Examples
    --------
    >>> filter_min_size([2.0, 3.0, 12.5], 3).tolist()
    [3.0, 12.5]
    """
    try:
        threshold = float(min_ecd_px)
    except (TypeError, ValueError) as exc:
        raise InputError(f"min_ecd_px must be a number of pixels >= 0; got {min_ecd_px!r}.") from exc
    if not math.isfinite(threshold) or threshold < 0:
        raise InputError(f"min_ecd_px must be a number of pixels >= 0; got {min_ecd_px!r}.")
    if isinstance(table, pd.DataFrame):
        if column not in table.columns:
            raise InputError(
                f"table has no column {column!r}; its columns are {list(table.columns)}. "
                "Pass the diameter column name with column=..."
            )
        return table[table[column] >= threshold].reset_index(drop=True)
    x = _as_sample(table, "table")
    return x[x >= threshold]


def sizes_by_min_size(
    table: Any,
    min_sizes_px: Sequence[float] = MIN_SIZE_FILTERS_PX,
    *,
    column: str = "ecd_px",
    value_column: str | None = None,
) -> dict[float, np.ndarray]:
    """Size samples after each minimum-diameter filter (seed 000's 3, 7 and 11 px).

    Parameters
    ----------
    table : pandas.DataFrame
        Grain table with the pixel diameter ``column``.
    min_sizes_px : sequence of float, default (3, 7, 11)
    column : str, default 'ecd_px'
        Diameter used for filtering (pixels).
    value_column : str, optional
        Column returned (e.g. ``'ecd_um'``); default ``column``.

    Returns
    -------
    dict of float to numpy.ndarray

    Examples
    --------
    >>> t = pd.DataFrame({"ecd_px": [2.0, 5.0, 9.0, 15.0]})
    >>> {k: v.tolist() for k, v in sizes_by_min_size(t).items()}
    {3: [5.0, 9.0, 15.0], 7: [9.0, 15.0], 11: [15.0]}
    """
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"table must be a grain table (DataFrame); got {type(table).__name__}.")
    value_column = value_column or column
    if value_column not in table.columns:
        raise InputError(f"table has no column {value_column!r}; its columns are {list(table.columns)}.")
    return {
        s: filter_min_size(table, s, column=column)[value_column].to_numpy(dtype=float)
        for s in min_sizes_px
    }


def compare_samples(
    a: Any,
    b: Any,
    *,
    family: Literal["exponential", "lognormal", "gamma", "beta", "aspect_ratio"] = "exponential",
    bins: int = 50,
) -> DistributionComparison:
    """Compare two samples (e.g. ground truth vs prediction): fits, JS distances, KS test.

    Parameters
    ----------
    a, b : sequence of float
        The samples; for ``family='aspect_ratio'`` aspect ratios >= 1 (fitted as Beta on
        ``1 / AR``, and the histogram distance is taken on ``1 / AR`` in [0, 1]).
    family : str, default 'exponential'
    bins : int, default 50
        Shared bins for the histogram JS distance.

    Returns
    -------
    DistributionComparison

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> c = compare_samples(rng.exponential(5, 2000), rng.exponential(5, 2000))
    >>> c.js_pdf < 0.1, c.ks.pvalue > 0.01
    (True, True)
    """
    if family == "aspect_ratio":
        fa, fb = fit_aspect_ratio(a), fit_aspect_ratio(b)
        ua, ub = unit_aspect_ratio(a), unit_aspect_ratio(b)
        js_h = js_distance_histograms(ua, ub, bins=bins, value_range=(0.0, 1.0))
        ks = ks_two_sample(ua, ub)
    else:
        fa = fit_distribution(a, family)
        fb = fit_distribution(b, family)
        js_h = js_distance_histograms(a, b, bins=bins)
        ks = ks_two_sample(a, b)
    return DistributionComparison(family, fa, fb, js_distance_pdfs(fa, fb), js_h, ks)
