"""Tests of grainseg_core.distributions: parameter recovery, JS distance, KS, filters."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from grainseg_core.distributions import (
    MIN_SIZE_FILTERS_PX,
    DistributionFit,
    compare_samples,
    filter_min_size,
    fit_aspect_ratio,
    fit_distribution,
    fit_sizes,
    js_distance_histograms,
    js_distance_pdfs,
    ks_two_sample,
    sizes_by_min_size,
    summary_statistics,
    unit_aspect_ratio,
)
from grainseg_core.errors import InputError

N = 5000


@pytest.fixture(scope="module")
def rng_samples():
    rng = np.random.default_rng(20240611)
    return {
        "exponential": rng.exponential(scale=8.0, size=N),
        "lognormal": rng.lognormal(mean=np.log(12.0), sigma=0.5, size=N),
        "gamma": rng.gamma(shape=2.5, scale=4.0, size=N),
        "beta": rng.beta(4.0, 2.0, size=N),
    }


# --------------------------------------------------------------------------- recovery


def test_fits_recover_known_parameters(rng_samples):
    exp = fit_distribution(rng_samples["exponential"], "exponential")
    assert exp.params["loc"] == 0.0 and exp.n_free == 1
    assert exp.params["scale"] == pytest.approx(8.0, rel=0.04)
    logn = fit_distribution(rng_samples["lognormal"], "lognormal")
    assert logn.params["s"] == pytest.approx(0.5, rel=0.04)
    assert logn.params["scale"] == pytest.approx(12.0, rel=0.04)
    gam = fit_distribution(rng_samples["gamma"], "gamma")
    assert gam.params["a"] == pytest.approx(2.5, rel=0.05)
    assert gam.params["scale"] == pytest.approx(4.0, rel=0.06)
    beta = fit_distribution(rng_samples["beta"], "beta")
    assert (beta.params["loc"], beta.params["scale"]) == (0.0, 1.0)
    assert beta.params["a"] == pytest.approx(4.0, rel=0.06)
    assert beta.params["b"] == pytest.approx(2.0, rel=0.06)


def test_fit_result_fields_are_consistent(rng_samples):
    x = rng_samples["gamma"]
    fit = fit_distribution(x, "gamma")
    assert isinstance(fit, DistributionFit) and fit.n == N and fit.n_free == 2
    from scipy import stats

    ll = stats.gamma(**fit.params).logpdf(x).sum()
    assert fit.log_likelihood == pytest.approx(ll)
    assert fit.aic == pytest.approx(2 * 2 - 2 * ll)
    assert 0 <= fit.ks_statistic < 0.03 and fit.ks_pvalue > 0.01
    assert fit.pdf([1.0, 5.0]).shape == (2,)
    assert fit.cdf(1e9) == pytest.approx(1.0)
    assert fit.mean == pytest.approx(x.mean(), rel=0.02)
    with pytest.raises(dataclass_error()):
        fit.n = 3  # frozen


def dataclass_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_fit_sizes_orders_by_aic_and_picks_the_true_family(rng_samples):
    fits = fit_sizes(rng_samples["lognormal"])
    assert list(fits)[0] == "lognormal"
    aics = [f.aic for f in fits.values()]
    assert aics == sorted(aics)
    assert list(fit_sizes(rng_samples["exponential"], families=("exponential", "lognormal")))[0] == "exponential"


def test_free_location_fit():
    rng = np.random.default_rng(3)
    x = 11.0 + rng.exponential(5.0, N)  # sizes after an 11 px filter
    fit = fit_distribution(x, "exponential", floc=None)
    assert fit.n_free == 2
    assert fit.params["loc"] == pytest.approx(11.0, abs=0.01)
    assert fit.params["scale"] == pytest.approx(5.0, rel=0.04)


def test_aspect_ratio_fit_maps_inverse_and_handles_exact_ones():
    rng = np.random.default_rng(7)
    unit = rng.beta(5.0, 2.0, N)
    fit = fit_aspect_ratio(1.0 / unit)
    assert fit.variable == "1/aspect_ratio"
    assert fit.params["a"] == pytest.approx(5.0, rel=0.06)
    assert fit.params["b"] == pytest.approx(2.0, rel=0.06)
    assert unit_aspect_ratio([1.0, 4.0]).tolist() == [1.0, 0.25]
    # equiaxed pixel grains (AR exactly 1) do not break the fit
    with_ones = np.concatenate([1.0 / unit[:500], np.ones(20)])
    fit1 = fit_aspect_ratio(with_ones)
    assert math.isfinite(fit1.log_likelihood) and fit1.params["b"] > 0
    with pytest.raises(InputError, match="aspect_ratio must be >= 1"):
        fit_aspect_ratio([0.5, 0.7, 0.9])


def test_fits_emit_no_warnings():
    rng = np.random.default_rng(11)
    samples = {
        "exponential": rng.exponential(3.0, 200),
        "lognormal": rng.lognormal(0.0, 1.5, 200),
        "gamma": rng.gamma(0.3, 2.0, 200),  # shape < 1: the optimiser sees infinities
        "beta": np.concatenate([rng.beta(0.5, 0.5, 200), [0.0, 1.0]]),
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for family, x in samples.items():
            fit_distribution(x, family)
        fit_aspect_ratio(np.concatenate([np.ones(10), 1 + rng.exponential(1.0, 50)]))
        compare_samples(samples["gamma"], samples["exponential"])
    assert [str(w.message) for w in caught] == []


def test_fit_validation():
    with pytest.raises(InputError, match="has 2 value\\(s\\); a fit needs at least 3"):
        fit_distribution([1.0, 2.0], "exponential")
    with pytest.raises(InputError, match="unknown distribution family 'weibul'"):
        fit_distribution([1.0, 2.0, 3.0], "weibul")
    with pytest.raises(InputError, match="needs every value > 0"):
        fit_distribution([0.0, 1.0, 2.0], "lognormal")
    with pytest.raises(InputError, match="all 4 values are equal"):
        fit_distribution([2.0, 2.0, 2.0, 2.0], "gamma")
    with pytest.raises(InputError, match="Beta fit needs values in \\[0, 1\\]"):
        fit_distribution([0.2, 0.5, 1.5], "beta")
    with pytest.raises(InputError, match="NaN or infinite"):
        fit_distribution([1.0, np.nan, 2.0, 3.0], "gamma")
    with pytest.raises(InputError, match="must be 1-D"):
        fit_distribution(np.ones((3, 3)), "gamma")
    # the exponential of equal values is fine: scale = the value
    assert fit_distribution([2.0, 2.0, 2.0], "exponential").params["scale"] == 2.0


# --------------------------------------------------------------------------- distances and tests


def test_js_distance_identical_zero_and_very_different_large(rng_samples):
    a = fit_distribution(rng_samples["exponential"], "exponential")
    assert js_distance_pdfs(a, a) == 0.0
    far = fit_distribution(rng_samples["exponential"] * 20.0, "exponential")
    assert js_distance_pdfs(a, far) > 0.5
    near = fit_distribution(rng_samples["exponential"] * 1.05, "exponential")
    assert 0 < js_distance_pdfs(a, near) < 0.05
    b1 = fit_distribution(rng_samples["beta"], "beta")
    b2 = fit_distribution(1.0 - rng_samples["beta"], "beta")
    assert js_distance_pdfs(b1, b2) > 0.5
    with pytest.raises(InputError, match="describe different variables"):
        js_distance_pdfs(a, fit_aspect_ratio(1.0 / rng_samples["beta"]))
    grid = np.linspace(0.1, 50, 100)
    assert js_distance_pdfs(a, near, grid=grid) > 0


def test_js_distance_histograms_exact_values():
    assert js_distance_histograms([1, 2, 3], [1, 2, 3]) == 0.0
    assert js_distance_histograms([0.1, 0.2], [0.8, 0.9], bins=2, value_range=(0, 1)) == 1.0
    # p = (1, 0), q = (1/2, 1/2): JSD = 1 - 0.75 log2(4/3) ... in closed form
    p, q = np.array([1.0, 0.0]), np.array([0.5, 0.5])
    m = 0.5 * (p + q)
    jsd = 0.5 * np.sum(p[p > 0] * np.log2(p[p > 0] / m[p > 0])) + 0.5 * np.sum(q * np.log2(q / m))
    got = js_distance_histograms([0.1, 0.2], [0.1, 0.9], bins=2, value_range=(0, 1))
    assert got == pytest.approx(math.sqrt(jsd))
    with pytest.raises(InputError, match="no values inside value_range"):
        js_distance_histograms([5.0], [0.5], bins=2, value_range=(0, 1))
    with pytest.raises(InputError, match="a has 0 value"):
        js_distance_histograms([], [1.0])


def test_ks_two_sample_behaviour():
    rng = np.random.default_rng(5)
    same = ks_two_sample(rng.exponential(5.0, 2000), rng.exponential(5.0, 2000))
    assert same.pvalue > 0.01 and same.statistic < 0.06 and (same.n_a, same.n_b) == (2000, 2000)
    diff = ks_two_sample(rng.exponential(5.0, 2000), rng.exponential(6.0, 2000))
    assert diff.pvalue < 1e-4
    exact = ks_two_sample([1.0, 2.0], [3.0, 4.0])
    assert exact.statistic == 1.0


def test_compare_samples_sizes_and_aspect_ratios():
    rng = np.random.default_rng(9)
    c = compare_samples(rng.exponential(5.0, 3000), rng.exponential(10.0, 3000))
    assert c.family == "exponential" and c.js_pdf > 0.2 and c.ks.pvalue < 1e-6
    ar = compare_samples(1 / rng.beta(5, 2, 3000), 1 / rng.beta(5, 2, 3000), family="aspect_ratio")
    assert ar.fit_a.family == "beta" and ar.js_pdf < 0.05 and ar.ks.pvalue > 0.001


# --------------------------------------------------------------------------- summaries and filters


def test_summary_statistics_hand_values():
    s = summary_statistics([1.0, 2.0, 4.0, 8.0])
    assert s.n == 4 and s.mean == 3.75 and s.median == 3.0
    assert s.std == pytest.approx(np.std([1, 2, 4, 8], ddof=1))
    assert (s.q1, s.q3, s.min, s.max) == (1.75, 5.0, 1.0, 8.0)
    assert s.geometric_mean == pytest.approx(64 ** 0.25)
    assert math.isnan(summary_statistics([-1.0, 2.0]).geometric_mean)
    empty = summary_statistics([])
    assert empty.n == 0 and math.isnan(empty.mean)
    assert math.isnan(summary_statistics([3.0]).std)
    assert set(s.to_dict()) == {"n", "mean", "std", "median", "q1", "q3", "min", "max", "geometric_mean"}


def test_min_size_filters_are_diameters():
    assert MIN_SIZE_FILTERS_PX == (3, 7, 11)
    table = pd.DataFrame(
        {"label": [1, 2, 3, 4], "area_px": [4, 40, 100, 200], "ecd_px": np.sqrt(4 * np.array([4, 40, 100, 200]) / np.pi)}
    )
    kept = filter_min_size(table, 7)
    # area 40 px has ECD 7.14 px: kept by a 7-px *diameter* filter (an area filter would drop it)
    assert kept["label"].tolist() == [2, 3, 4] and kept.index.tolist() == [0, 1, 2]
    by = sizes_by_min_size(table, value_column="area_px")
    assert {k: v.tolist() for k, v in by.items()} == {3: [40, 100, 200], 7: [40, 100, 200], 11: [100, 200]}
    assert filter_min_size(np.array([2.0, 11.0]), 11).tolist() == [11.0]
    with pytest.raises(InputError, match="no column 'ecd_um'"):
        filter_min_size(table, 3, column="ecd_um")
    with pytest.raises(InputError, match="min_ecd_px must be a number of pixels >= 0"):
        filter_min_size(table, -1)
    with pytest.raises(InputError, match="must be a grain table"):
        sizes_by_min_size([1.0, 2.0])


def test_with_grain_table_from_a_synthetic_map():
    from grainseg_core.grains import grain_table

    # 20 x 20 cells of 9 x 9 px: every ECD is sqrt(4 * 81 / pi) = 10.16 px, every AR 1
    b = np.zeros((201, 201), bool)
    b[::10, :] = True
    b[:, ::10] = True
    t = grain_table(b)
    assert len(filter_min_size(t, 11)) == 0 and len(filter_min_size(t, 7)) == 400
    assert np.allclose(t["aspect_ratio"], 1.0)
    with pytest.raises(InputError, match="all 400 values are equal"):
        fit_aspect_ratio(t["aspect_ratio"])  # no shape spread: nothing to fit
