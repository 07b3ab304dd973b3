"""Empirical CDF with fitted CDFs: exact steps, fitted lines, aspect-ratio variable, empty state."""

from __future__ import annotations

import numpy as np
import pytest

from grainseg_core.distributions import fit_aspect_ratio, fit_distribution
from grainseg_core.errors import InputError
from grainseg_core.fit_figures import cdf_with_fits_figure


def test_steps_are_the_empirical_cdf() -> None:
    fig = cdf_with_fits_figure([3.0, 1.0, np.nan, 2.0, 4.0])
    data = fig.data[0]
    assert list(data.x) == [1.0, 2.0, 3.0, 4.0]
    assert list(data.y) == [0.25, 0.5, 0.75, 1.0]
    assert data.name == "grains (n=4)"


def test_fitted_lines_follow_the_fit() -> None:
    x = np.random.default_rng(0).exponential(5.0, 500)
    fits = [fit_distribution(x, "exponential"), fit_distribution(x, "lognormal")]
    fig = cdf_with_fits_figure(x, fits=fits, x_title="ECD (µm)")
    assert [t.meta["family"] for t in fig.data[1:]] == ["exponential", "lognormal"]
    line = fig.data[1]
    np.testing.assert_allclose(line.y, fits[0].cdf(np.asarray(line.x)))
    assert line.x[0] == 0.0 and line.x[-1] == pytest.approx(x.max() * 1.05)
    assert fig.layout.xaxis.title.text == "ECD (µm)"


def test_aspect_ratio_is_drawn_as_minor_over_major() -> None:
    ar = np.array([1.0, 2.0, 4.0, 1.25])
    fig = cdf_with_fits_figure(ar, fits=[fit_aspect_ratio(ar)], aspect_ratio=True)
    assert list(fig.data[0].x) == [0.25, 0.5, 0.8, 1.0]
    assert fig.data[1].x[0] == 0.0 and fig.data[1].x[-1] == 1.0


def test_empty_and_validation() -> None:
    fig = cdf_with_fits_figure([np.nan])
    assert not fig.data and "No grains" in fig.layout.annotations[0].text
    with pytest.raises(InputError, match="values must be numbers"):
        cdf_with_fits_figure(["a", "b"])
    with pytest.raises(InputError, match=r"fits\[0\] must be a DistributionFit"):
        cdf_with_fits_figure([1.0, 2.0], fits=[{"family": "beta"}])
    with pytest.raises(InputError, match="n_points must be an integer >= 2"):
        cdf_with_fits_figure([1.0, 2.0], n_points=1)
