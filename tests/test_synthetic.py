"""Tests of the synthetic microstructure generator (grainseg_core.synthetic)."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from skimage.measure import label as sk_label
from skimage.transform import warp

from grainseg_core._synthetic_orientation import (
    channelling_intensity,
    euler_to_matrix,
    matrix_to_euler,
    random_euler,
    twin_euler,
)
from grainseg_core._synthetic_tessellation import anisotropy_matrix, place_seeds, power_labels
from grainseg_core.errors import ConfigError, GrainsegWarning, InputError
from grainseg_core.grains import grain_table, label_grains
from grainseg_core.io import polygons_to_mask, read_polygon_csv
from grainseg_core.synthetic import (
    ContrastConfig,
    DriftConfig,
    GrainConfig,
    ParticleConfig,
    SyntheticConfig,
    TwinConfig,
    make_microstructure,
    make_particles,
    write_particles_csv,
)

NO_DRIFT = DriftConfig(enabled=False)
CLEAN = ContrastConfig(photons=0, gaussian_noise=0, scratches=0, gradient=0, blur_sigma_px=0)


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
        h.update(str(a.dtype).encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def default_ms():
    return make_microstructure((192, 256), seed=7, mean_grain_size_px=24)


@pytest.fixture(scope="module")
def drifted_ms():
    cfg = SyntheticConfig(drift=DriftConfig(max_shift_px=10.0, max_nonrigid_px=20.0))
    return make_microstructure((256, 320), seed=11, mean_grain_size_px=24, config=cfg)


# ---------------------------------------------------------------- outputs and their agreement


def test_output_types_and_shapes(default_ms):
    ms = default_ms
    m, n = 192, 256
    assert ms.image.shape == (m, n) and ms.image.dtype == np.uint8
    assert ms.boundary.shape == (m, n) and ms.boundary.dtype == bool
    assert ms.labels.dtype == np.int32
    assert ms.twins.dtype == bool and ms.twin_boundary.dtype == bool
    assert ms.euler.shape == (ms.n_grains, 3)
    assert ms.drift.shape == (2, m, n) and ms.drift.dtype == np.float32
    assert ms.ebsd.euler.shape == (m, n, 3) and ms.ebsd.euler.dtype == np.float32
    assert ms.ebsd.labels.dtype == np.int32 and ms.ebsd.boundary.dtype == bool
    assert ms.seed == 7 and ms.config.grains.mean_size_px == 24
    assert ms.pixel_size_um == 0.1


def test_grain_table_equals_measured(default_ms):
    ms = default_ms
    pd.testing.assert_frame_equal(
        ms.grain_table, grain_table(ms.labels, pixel_size_um=ms.pixel_size_um)
    )
    assert len(ms.grain_table) == ms.n_grains


def test_labels_are_the_4_connected_complement_of_boundary(default_ms):
    ms = default_ms
    np.testing.assert_array_equal(ms.labels, label_grains(ms.boundary))
    # Each label is one 4-connected component: relabelling the labels changes nothing.
    assert sk_label(ms.labels, connectivity=1, background=0).max() == ms.n_grains
    assert not ms.labels[ms.boundary].any()
    assert (ms.labels[~ms.boundary] > 0).all()


def test_same_seed_same_bytes_and_different_seed_differs():
    kw = dict(seed=3, mean_grain_size_px=20)
    a = make_microstructure((96, 128), **kw)
    b = make_microstructure((96, 128), **kw)
    c = make_microstructure((96, 128), seed=4, mean_grain_size_px=20)

    def d(ms):
        return _digest(
            ms.image, ms.labels, ms.boundary, ms.drift, ms.ebsd.labels, ms.ebsd.euler, ms.euler
        )

    assert d(a) == d(b)
    assert a.shift == b.shift
    assert d(a) != d(c)
    assert not np.array_equal(a.image, c.image)


# ---------------------------------------------------------------- grain statistics


@pytest.mark.parametrize("sigma", [0.2, 0.4])
def test_grain_count_and_lognormal_sizes(sigma):
    mean = 24.0
    cfg = SyntheticConfig(grains=GrainConfig(size_sigma=sigma), drift=NO_DRIFT)
    ms = make_microstructure((512, 512), seed=2, mean_grain_size_px=mean, config=cfg)
    expected = 512 * 512 / (math.pi / 4 * mean**2 * math.exp(sigma**2))
    assert 0.85 * expected <= ms.n_grains <= 1.25 * expected
    inner = ms.grain_table[~ms.grain_table["touches_edge"]]
    log_ecd = np.log(inner["ecd_px"].to_numpy())
    q25, q75 = np.percentile(log_ecd, [25, 75])
    # Robust sigma of ln(ECD) (a few slivers would inflate the plain std).
    assert abs((q75 - q25) / 1.349 - sigma) < 0.08
    # ECDs of labelled grains exclude their 1-px boundary: slightly below the drawn mean.
    assert 0.85 * mean < inner["ecd_px"].mean() < 1.1 * mean


def test_strong_elongation_gives_high_aspect_along_angle():
    cfg = SyntheticConfig(
        grains=GrainConfig(elongation=3.0, elongation_angle_deg=30.0), drift=NO_DRIFT
    )
    ms = make_microstructure((384, 384), seed=5, mean_grain_size_px=24, config=cfg)
    t = ms.grain_table[~ms.grain_table["touches_edge"] & (ms.grain_table["area_px"] >= 20)]
    assert t["aspect_ratio"].mean() > 1.5
    assert abs(t["orientation_deg"].median() - 30.0) < 5.0


def test_no_elongation_gives_equiaxed_grains():
    ms = make_microstructure(
        (384, 384), seed=5, mean_grain_size_px=24, config=SyntheticConfig(drift=NO_DRIFT)
    )
    t = ms.grain_table[~ms.grain_table["touches_edge"] & (ms.grain_table["area_px"] >= 20)]
    assert 1.0 <= t["aspect_ratio"].median() <= 1.3
    assert t["aspect_ratio"].mean() < 1.4


# ---------------------------------------------------------------- twins


def test_twins_marked_inside_grains_only(default_ms):
    ms = default_ms
    assert ms.twins.any() and ms.twin_boundary.any()
    assert not (ms.twins & ms.boundary).any()
    assert (ms.labels[ms.twins] > 0).all()
    # Default: twin boundaries are a class of their own, outside the GB mask.
    assert not (ms.twin_boundary & ms.boundary).any()
    assert (ms.labels[ms.twin_boundary] > 0).all()


def test_no_twins_when_fraction_zero():
    ms = make_microstructure((96, 128), seed=1, mean_grain_size_px=20, twin_fraction=0.0)
    assert not ms.twins.any() and not ms.twin_boundary.any()


def test_twins_in_boundary_split_lamellae_into_grains():
    kw = dict(seed=9, mean_grain_size_px=32, twin_fraction=0.6)
    apart = make_microstructure((192, 192), **kw)
    merged = make_microstructure(
        (192, 192), config=SyntheticConfig(twins=TwinConfig(in_boundary=True)), **kw
    )
    assert merged.twin_boundary.any()
    assert not (merged.twin_boundary & ~merged.boundary).any()
    assert merged.n_grains > apart.n_grains
    np.testing.assert_array_equal(merged.labels, label_grains(merged.boundary))
    # A lamella grain carries the twin orientation: 60 degrees from its parent.
    parent_of = apart.labels  # same tessellation: lamella pixels lie in the parent's grain
    lamella = np.flatnonzero(np.bincount(merged.labels[merged.twins]))
    lamella = lamella[lamella > 0][:5]
    for k in lamella:
        pix = np.argwhere(merged.labels == k)[0]
        p = parent_of[tuple(pix)]
        g_t = euler_to_matrix(merged.euler[k - 1][None])[0]
        g_p = euler_to_matrix(apart.euler[p - 1][None])[0]
        angle = math.degrees(math.acos(np.clip((np.trace(g_t @ g_p.T) - 1) / 2, -1, 1)))
        assert abs(angle - 60.0) < 1e-6


def test_twin_operator_is_60_degrees_about_111():
    rng = np.random.default_rng(0)
    euler = random_euler(rng, 50)
    variant = rng.integers(0, 4, 50)
    g_p, g_t = euler_to_matrix(euler), euler_to_matrix(twin_euler(euler, variant))
    delta = g_t @ np.transpose(g_p, (0, 2, 1))  # rotation in the crystal frame
    angle = np.degrees(np.arccos(np.clip((np.trace(delta, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    np.testing.assert_allclose(angle, 60.0, atol=1e-9)
    axis = np.stack(
        [
            delta[:, 2, 1] - delta[:, 1, 2],
            delta[:, 0, 2] - delta[:, 2, 0],
            delta[:, 1, 0] - delta[:, 0, 1],
        ],
        1,
    )
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    np.testing.assert_allclose(np.abs(axis), 1 / math.sqrt(3), atol=1e-9)


def test_euler_round_trip_and_proper_rotations():
    euler = random_euler(np.random.default_rng(1), 200)
    g = euler_to_matrix(euler)
    np.testing.assert_allclose(
        g @ np.transpose(g, (0, 2, 1)), np.broadcast_to(np.eye(3), g.shape), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(g), 1.0, atol=1e-12)
    np.testing.assert_allclose(euler_to_matrix(matrix_to_euler(g)), g, atol=1e-9)
    assert (euler[:, 1] >= 0).all() and (euler[:, 1] <= math.pi).all()
    # Phi = 0: only phi1 + phi2 is defined.
    flat = np.array([[0.3, 0.0, 0.5]])
    np.testing.assert_allclose(
        matrix_to_euler(euler_to_matrix(flat)), [[0.8, 0.0, 0.0]], atol=1e-12
    )


# ---------------------------------------------------------------- contrast


def test_grain_grey_level_follows_orientation():
    cfg = SyntheticConfig(contrast=CLEAN, twins=TwinConfig(fraction=0.0), drift=NO_DRIFT)
    ms = make_microstructure((192, 192), seed=4, mean_grain_size_px=24, config=cfg)
    inner = ms.labels.ravel()
    mean_grey = np.bincount(inner, ms.image.ravel().astype(float))[1:] / np.bincount(inner)[1:]
    rho = spearmanr(mean_grey, channelling_intensity(ms.euler)).statistic
    assert rho > 0.9
    # Grooves: boundary pixels are darker than grain interiors.
    assert ms.image[ms.boundary].mean() < 0.8 * ms.image[~ms.boundary].mean()


def test_uint16_and_boundary_width():
    cfg = SyntheticConfig(
        grains=GrainConfig(boundary_width_px=3),
        contrast=ContrastConfig(dtype="uint16"),
        drift=NO_DRIFT,
    )
    wide = make_microstructure((128, 128), seed=2, mean_grain_size_px=24, config=cfg)
    thin = make_microstructure(
        (128, 128), seed=2, mean_grain_size_px=24, config=SyntheticConfig(drift=NO_DRIFT)
    )
    assert wide.image.dtype == np.uint16 and wide.image.max() > 255
    assert wide.boundary.mean() > 2 * thin.boundary.mean()
    np.testing.assert_array_equal(wide.labels, label_grains(wide.boundary))
    assert wide.ebsd is None and wide.drift is None and wide.shift is None


# ---------------------------------------------------------------- EBSD companion and drift


def test_rigid_shift_is_exact():
    cfg = SyntheticConfig(drift=DriftConfig(shift_px=(5.0, -7.0), max_nonrigid_px=0.0))
    ms = make_microstructure((128, 160), seed=3, mean_grain_size_px=20, config=cfg)
    assert ms.shift == (5.0, -7.0)
    np.testing.assert_array_equal(ms.drift[0], 5.0)
    np.testing.assert_array_equal(ms.drift[1], -7.0)
    # ebsd[r + 5, c - 7] == sem[r, c]
    np.testing.assert_array_equal(ms.ebsd.labels[5:, :-7], ms.labels[:-5, 7:])
    assert not ms.ebsd.in_sem_frame[:5].any() and not ms.ebsd.in_sem_frame[:, -7:].any()
    assert (ms.ebsd.labels[:5] == 0).all()


def test_drift_within_configured_maximum(drifted_ms):
    ms = drifted_ms
    assert math.hypot(*ms.shift) <= 10.0
    nonrigid = ms.drift - np.array(ms.shift, dtype=np.float32)[:, None, None]
    magnitude = np.hypot(nonrigid[0], nonrigid[1])
    assert magnitude.max() <= 20.0 + 1e-3
    assert magnitude.max() > 5.0  # it really is non-rigid
    # Smooth: neighbouring pixels drift by far less than a pixel.
    assert np.abs(np.diff(ms.drift, axis=2)).max() < 0.5


def test_warping_ebsd_back_with_drift_recovers_sem(drifted_ms):
    ms = drifted_ms
    m, n = ms.labels.shape
    coords = np.mgrid[:m, :n].astype(np.float64) + ms.drift
    back = warp(ms.ebsd.labels, coords, order=0, preserve_range=True, mode="constant", cval=0)
    border = 32  # > largest drift: these pixels see the EBSD map inside its frame
    inner = (slice(border, m - border), slice(border, n - border))
    assert (back.astype(np.int32)[inner] == ms.labels[inner]).mean() >= 0.99
    back_b = warp(ms.ebsd.boundary.astype(float), coords, order=0, mode="constant") > 0.5
    assert (back_b[inner] == ms.boundary[inner]).mean() >= 0.97
    # Without the drift the maps disagree much more (the test can fail).
    assert (ms.ebsd.labels[inner] == ms.labels[inner]).mean() < 0.9


def test_ebsd_euler_matches_grain_orientation():
    cfg = SyntheticConfig(twins=TwinConfig(fraction=0.0))
    ms = make_microstructure((128, 160), seed=6, mean_grain_size_px=24, config=cfg)
    e = ms.ebsd
    ok = e.labels > 0
    np.testing.assert_allclose(
        e.euler[ok], ms.euler[e.labels[ok] - 1].astype(np.float32), atol=1e-6
    )
    assert np.isfinite(e.euler).all()


def test_ebsd_boundary_is_closed():
    ms = make_microstructure((128, 160), seed=6, mean_grain_size_px=24)
    # Its grains are cells of the same tessellation: about as many as on the SEM grid.
    n_ebsd = label_grains(ms.ebsd.boundary).max()
    assert abs(n_ebsd - ms.n_grains) <= 0.15 * ms.n_grains


# ---------------------------------------------------------------- tessellation exactness


@pytest.mark.parametrize(("elongation", "angle"), [(1.0, 0.0), (3.0, 37.0)])
def test_power_labels_match_brute_force(elongation, angle):
    rng = np.random.default_rng(3)
    a = anisotropy_matrix(elongation, angle)
    seeds = place_seeds(
        rng, np.array([-20.0, -20.0]), np.array([90.0, 120.0]), a, mean_diameter=12, sigma=0.5
    )
    got = power_labels((70, 100), (-3.0, 5.0), a, seeds)
    rr, cc = np.mgrid[:70, :100]
    q = np.stack([rr.ravel() - 3.0, cc.ravel() + 5.0], -1) @ a.T
    power = ((q[:, None, :] - seeds.points[None]) ** 2).sum(-1) - seeds.radii**2
    np.testing.assert_array_equal(got, power.argmin(1).reshape(70, 100))


# ---------------------------------------------------------------- config and validation


def test_config_dict_round_trip():
    cfg = SyntheticConfig(
        grains=GrainConfig(mean_size_px=30, elongation=2.0),
        twins=TwinConfig(thickness=(0.1, 0.2)),
        drift=DriftConfig(shift_px=(1.0, 2.0)),
        pixel_size_um=0.05,
    )
    assert SyntheticConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown SyntheticConfig option 'grain'"):
        SyntheticConfig.from_dict({"grain": {}})
    with pytest.raises(ConfigError, match=r"unknown grains option\(s\) \['size'\]"):
        SyntheticConfig.from_dict({"grains": {"size": 3}})


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: GrainConfig(size_sigma=-0.1), r"GrainConfig.size_sigma must lie in \[0.0, 1.5\]"),
        (lambda: GrainConfig(elongation=0.5), "GrainConfig.elongation must lie"),
        (
            lambda: GrainConfig(boundary_width_px=2.5),
            "GrainConfig.boundary_width_px must be an integer",
        ),
        (lambda: TwinConfig(fraction=1.5), "TwinConfig.fraction must lie"),
        (lambda: TwinConfig(thickness=(0.3, 0.1)), "TwinConfig.thickness must have low <= high"),
        (
            lambda: ContrastConfig(dtype="float32"),
            "ContrastConfig.dtype must be 'uint8' or 'uint16'",
        ),
        (
            lambda: ContrastConfig(groove_fwhm_px=3.0),
            r"groove_fwhm_px must be a \(low, high\) tuple",
        ),
        (lambda: DriftConfig(shift_px=(1.0,)), "DriftConfig.shift_px must be a"),
        (lambda: DriftConfig(max_nonrigid_px=float("nan")), "DriftConfig.max_nonrigid_px must lie"),
        (
            lambda: SyntheticConfig(grains=TwinConfig()),
            "SyntheticConfig.grains must be a GrainConfig",
        ),
        (lambda: SyntheticConfig(pixel_size_um=0.0), "SyntheticConfig.pixel_size_um must lie"),
    ],
)
def test_config_validation(build, match):
    with pytest.raises(ConfigError, match=match):
        build()


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((8, 64), r"at least \(16, 16\)"),
        ((64,), r"two integers \(M, N\)"),
        ("ab", "two integers"),
        ((20.5, 30), "two integers"),
    ],
)
def test_rejects_bad_shape(shape, match):
    with pytest.raises(InputError, match=match):
        make_microstructure(shape, seed=0)


@pytest.mark.parametrize("seed", [-1, 1.5, True, None])
def test_rejects_bad_seed(seed):
    with pytest.raises(InputError, match="seed must be an integer >= 0"):
        make_microstructure((32, 32), seed=seed)


def test_rejects_bad_config_and_pixel_limit(monkeypatch):
    with pytest.raises(InputError, match="config must be a SyntheticConfig; got dict"):
        make_microstructure((32, 32), seed=0, config={})
    with pytest.raises(ConfigError, match="GrainConfig.mean_size_px must lie"):
        make_microstructure((32, 32), seed=0, mean_grain_size_px=1.0)
    monkeypatch.setenv("GRAINSEG_MAX_PIXELS", "1000")
    with pytest.raises(InputError, match="over the limit of 1000"):
        make_microstructure((64, 64), seed=0)


# ---------------------------------------------------------------- particles


def _touching_pairs(labels: np.ndarray) -> int:
    """Number of 8-neighbour pixel pairs with two different particle labels."""
    count = 0
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = labels[: labels.shape[0] - dr, max(0, -dc) : labels.shape[1] - max(0, dc)]
        b = labels[dr:, max(0, dc) : labels.shape[1] - max(0, -dc) or None]
        count += int(((a > 0) & (b > 0) & (a != b)).sum())
    return count


@pytest.fixture(scope="module")
def particles():
    return make_particles((160, 200), seed=5, n_particles=25)


def test_particles_labels_and_polygons_agree(particles):
    p = particles
    assert p.image.shape == (160, 200) and p.image.dtype == np.uint8
    assert p.labels.dtype == np.int32
    assert p.n_particles == 25 == p.labels.max() == len(p.annotations)
    assert set(np.unique(p.labels)) == set(range(26))
    # One 4-connected region per particle, and no two particles touch (even diagonally).
    assert sk_label(p.labels > 0, connectivity=2).max() == 25
    assert _touching_pairs(p.labels) == 0
    # The polygons follow pixel edges: refilling them gives the labels back exactly.
    refilled = polygons_to_mask(p.annotations, p.labels.shape, mode="instance")
    np.testing.assert_array_equal(refilled, p.labels)
    assert p.annotations.image_name == "IMG_00005.png"
    # Bright particles on a darker matrix (the default, seed 001 style).
    assert p.image[p.labels > 0].mean() > p.image[p.labels == 0].mean() + 50


def test_particles_csv_round_trip(particles, tmp_path):
    other = make_particles((64, 80), seed=6, n_particles=3, image_name="IMG_99999.png")
    path = tmp_path / "particles.csv"
    text = write_particles_csv([particles, other], path)
    assert path.read_text() == text
    lines = text.splitlines()
    assert lines[0] == "image_url;point;polygon"
    assert len(lines) == 1 + 25 + 3
    assert lines[1].startswith("IMG_00005.png;(")
    back = read_polygon_csv(path)
    assert list(back.images) == ["IMG_00005.png", "IMG_99999.png"]
    mask = polygons_to_mask(back["IMG_00005.png"], particles.labels.shape)
    np.testing.assert_array_equal(mask, particles.labels > 0)
    # One image alone gives the same rows for it.
    assert text.startswith(write_particles_csv(particles))


def test_particles_seeded_and_edge_cases():
    a = make_particles((96, 96), seed=1, n_particles=6)
    b = make_particles((96, 96), seed=1, n_particles=6)
    c = make_particles((96, 96), seed=2, n_particles=6)
    assert _digest(a.image, a.labels) == _digest(b.image, b.labels) != _digest(c.image, c.labels)
    empty = make_particles((32, 32), seed=0, n_particles=0)
    assert empty.n_particles == 0 and not empty.labels.any() and len(empty.annotations) == 0
    assert write_particles_csv(empty) == "image_url;point;polygon\n"
    with pytest.warns(
        GrainsegWarning, match=r"placed \d+ of 400 particles: the image is too crowded"
    ):
        crowded = make_particles((64, 64), seed=0, n_particles=400)
    assert 0 < crowded.n_particles < 400
    assert _touching_pairs(crowded.labels) == 0
    dark_cfg = ParticleConfig(matrix_level=0.8, particle_level=0.2)
    dark = make_particles((96, 96), seed=1, n_particles=6, config=dark_cfg)
    assert dark.image[dark.labels > 0].mean() < dark.image[dark.labels == 0].mean()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_particles": -1}, InputError, "n_particles must be an integer >= 0"),
        ({"n_particles": 2.5}, InputError, "n_particles must be an integer >= 0"),
        ({"n_particles": 3, "config": {}}, InputError, "config must be a ParticleConfig"),
        (
            {"n_particles": 3, "image_name": "a/b.png"},
            InputError,
            "image_name must be a plain file name",
        ),
        ({"n_particles": 3, "seed": -2}, InputError, "seed must be an integer >= 0"),
    ],
)
def test_particles_validation(kwargs, error, match):
    kwargs = {"seed": 0, **kwargs}
    with pytest.raises(error, match=match):
        make_particles((32, 32), **kwargs)


def test_particle_config_and_csv_validation():
    with pytest.raises(ConfigError, match=r"ParticleConfig.max_aspect must lie in \[1.0, 10.0\]"):
        ParticleConfig(max_aspect=0.5)
    with pytest.raises(ConfigError, match=r"ParticleConfig.min_gap_px must lie in \[1.5"):
        ParticleConfig(min_gap_px=0.0)
    with pytest.raises(InputError, match="particles must be Particles objects; got str"):
        write_particles_csv(["x"])
