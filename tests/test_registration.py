"""Tests of grainseg_core.registration on pairs with a known drift.

The pairs are made here, independently of the package's own generator: Voronoi grains
with dark Gaussian grooves as the "SEM" image, and the same Voronoi cells seen on a
grid displaced by a known field as the "EBSD" boundary map (computed from the cells,
not by resampling the mask, so the map is a clean 1-px line drawing). By construction
``ebsd[r + d_row, c + d_col] == truth[r, c]`` up to pixelisation, the package convention.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.measure import label as cc_label

from grainseg_core.errors import ConfigError, InputError, RegistrationError
from grainseg_core.metrics import pixel_metrics
from grainseg_core.registration import (
    GlobalAlignment,
    RegistrationConfig,
    RegistrationQuality,
    RegistrationResult,
    matrix_displacement,
    measure_alignment,
    register,
    warp_label,
)

# --------------------------------------------------------------------------- pair generator


def _smooth_field(shape, amplitude, seed, *, rigid=(0.0, 0.0)):
    """Rigid shift + sum of three Gaussian bumps per component (sigma = 1/6 of the image).

    The bumps vary over about a third of the image, the scale of the drift in seed 000;
    each component reaches ``amplitude`` somewhere.
    """
    rng = np.random.default_rng(seed)
    m, n = shape
    rr, cc = np.mgrid[0:m, 0:n].astype(np.float64)
    field = np.zeros((2, m, n))
    sigma = max(m, n) / 6.0
    for k in range(2):
        for _ in range(3):
            r0, c0 = rng.uniform(0, m), rng.uniform(0, n)
            field[k] += rng.choice([-1.0, 1.0]) * np.exp(
                -((rr - r0) ** 2 + (cc - c0) ** 2) / (2 * sigma**2)
            )
        if amplitude:
            field[k] *= amplitude / np.abs(field[k]).max()
        else:
            field[k] = 0.0
        field[k] += rigid[k]
    return field.astype(np.float32)


def _cell_boundary(cells):
    """1-px boundary: pixels whose right or lower neighbour is another cell."""
    b = np.zeros(cells.shape, bool)
    b[:-1, :] |= cells[:-1, :] != cells[1:, :]
    b[:, :-1] |= cells[:, :-1] != cells[:, 1:]
    return b


def _source_positions(positions, drift):
    """Solve ``p + drift(p) = q`` for p by fixed-point iteration (drift is smooth)."""
    p = positions - np.stack(
        [ndimage.map_coordinates(drift[k], positions, order=1, mode="nearest") for k in range(2)]
    )
    for _ in range(8):
        d = np.stack(
            [ndimage.map_coordinates(drift[k], p, order=1, mode="nearest") for k in range(2)]
        )
        p = positions - d
    return p


@functools.lru_cache(maxsize=16)
def _scene(shape, seed, grain_px):
    """(sem uint8, truth bool, KD-tree of the Voronoi seeds) of one synthetic microstructure."""
    rng = np.random.default_rng(seed)
    m, n = shape
    pad = 80
    count = int((m + 2 * pad) * (n + 2 * pad) / grain_px**2)
    seeds = np.column_stack([rng.uniform(-pad, m + pad, count), rng.uniform(-pad, n + pad, count)])
    tree = cKDTree(seeds)
    rr, cc = np.mgrid[0:m, 0:n].astype(np.float64)
    cells = tree.query(np.column_stack([rr.ravel(), cc.ravel()]))[1].reshape(m, n)
    truth = _cell_boundary(cells)
    dist = ndimage.distance_transform_edt(~truth)
    img = rng.uniform(0.35, 0.85, count)[cells] - 0.45 * np.exp(-(dist**2) / (2 * 1.5**2))
    img += 0.1 * cc / n + rng.normal(0, 0.08, shape)
    sem = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    sem.setflags(write=False)
    truth.setflags(write=False)
    return sem, truth, tree


def _ebsd_map(tree, drift, ebsd_scale=1.0):
    """Boundary map of the cells of ``tree`` seen on a grid displaced by ``drift``."""
    m, n = drift.shape[1:]
    em, en = int(round(m * ebsd_scale)), int(round(n * ebsd_scale))
    er, ec = np.mgrid[0:em, 0:en].astype(np.float64)
    # EBSD pixel i sits at SEM position (i + 0.5) / scale - 0.5 (pixel centres).
    q = np.stack([(er + 0.5) / ebsd_scale - 0.5, (ec + 0.5) / ebsd_scale - 0.5])
    p = _source_positions(q, drift)
    cells = tree.query(np.column_stack([p[0].ravel(), p[1].ravel()]))[1].reshape(em, en)
    return _cell_boundary(cells)


@functools.lru_cache(maxsize=32)
def _pair(shape=(512, 512), seed=0, amplitude=0.0, rigid=(0.0, 0.0), ebsd_scale=1.0, grain_px=40.0):
    """(sem uint8, truth bool on the SEM grid, ebsd bool, drift (2, M, N)); cached, read-only."""
    sem, truth, tree = _scene(shape, seed, grain_px)
    drift = _smooth_field(shape, amplitude, seed + 1000, rigid=rigid)
    ebsd = _ebsd_map(tree, drift, ebsd_scale)
    ebsd.setflags(write=False)
    drift.setflags(write=False)
    return sem, truth, ebsd, drift


@functools.lru_cache(maxsize=16)
def _registered(shape, seed, amplitude=0.0, rigid=(0.0, 0.0)):
    """``register`` with default options on ``_pair(...)``, computed once per file run."""
    sem, _, ebsd, _ = _pair(shape, seed=seed, amplitude=amplitude, rigid=rigid)
    return register(sem, ebsd)


def _rms(err, margin):
    inner = err[:, margin:-margin, margin:-margin]
    return float(np.sqrt((inner**2).sum(axis=0).mean()))


def _f1(pred, true):
    return pixel_metrics(pred, true, tolerance_px=0)["f1"]


def _grains(boundary, crop=100):
    return int(cc_label(~boundary[crop:-crop, crop:-crop], connectivity=1).max())


# --------------------------------------------------------------------------- rigid shifts


@pytest.mark.parametrize(
    "shift",
    [(40.0, 0.0), (0.0, -40.0), (-40.0, 40.0), (40.0, 40.0), (-17.0, 23.0), (12.5, -7.25)],
)
def test_rigid_shift_recovered_within_one_pixel(shift):
    sem, truth, ebsd, drift = _pair((384, 384), seed=1, rigid=shift)
    res = _registered((384, 384), 1, rigid=shift)
    err = res.drift - drift
    assert np.abs(err[:, 48:-48, 48:-48]).max() < 1.0
    assert _rms(err, 48) < 0.5
    # The global step alone already finds the shift.
    assert res.global_alignment.shift == pytest.approx(shift, abs=1.0)
    # Boundary F1 at tolerance 0 against the truth: 0.05 as given; corrected 0.90-0.95 for
    # integer shifts (the strip the shifted map does not cover is lost) and 0.75 for the
    # fractional one (a 1-px line half a pixel off cannot match at tolerance 0).
    # Measured max errors 0.1-0.25 px.
    before, after = _f1(ebsd, truth), _f1(res.warped_boundary, truth)
    assert before < 0.15
    assert after > 0.65
    assert res.quality_after.ncc > res.quality_before.ncc + 0.5
    assert res.quality_after.mean_distance_px < res.quality_before.mean_distance_px


@pytest.mark.parametrize("motion", ["translation", "euclidean", "affine", "homography"])
def test_every_ecc_motion_recovers_a_shift(motion):
    sem, _, ebsd, drift = _pair((384, 384), seed=1, rigid=(-17.0, 23.0))
    res = register(sem, ebsd, config=RegistrationConfig(motion=motion, local=False))
    assert res.global_alignment.motion == motion and res.global_alignment.ecc_converged
    assert np.abs((res.drift - drift)[:, 48:-48, 48:-48]).max() < 0.5  # measured 0.05-0.19


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_non_square_image_of_any_dtype(dtype):
    sem, _, ebsd, drift = _pair((300, 700), seed=2, rigid=(5.0, -7.0), grain_px=20.0)
    image = sem.astype(dtype) * (257 if dtype == np.uint16 else 1)
    res = register(image, ebsd)
    assert res.drift.shape == (2, 300, 700)
    assert np.abs((res.drift - drift)[:, 50:-50, 50:-50]).max() < 0.5  # measured 0.06


def test_integer_shift_warps_label_exactly_inside_frame():
    sem, truth, ebsd, _ = _pair((384, 384), seed=2, rigid=(20.0, -30.0))
    res = register(sem, ebsd)
    inner = (slice(60, -60), slice(60, -60))
    # Integer shift, recovered to a fraction of a pixel: the warped map IS the truth.
    assert np.array_equal(res.warped_boundary[inner], truth[inner])


# --------------------------------------------------------------------------- smooth drift


@pytest.mark.parametrize(
    "amplitude, rigid, seed",
    [(20.0, (10.0, -5.0), 4), (30.0, (0.0, 0.0), 5), (40.0, (20.0, 0.0), 6)],
)
def test_smooth_drift_field_recovered_within_two_px_rms(amplitude, rigid, seed):
    sem, truth, ebsd, drift = _pair((512, 512), seed=seed, amplitude=amplitude, rigid=rigid)
    assert np.abs(drift).max() >= amplitude  # the field really is that large
    res = _registered((512, 512), seed, amplitude, rigid)
    assert res.drift.shape == (2, 512, 512) and res.drift.dtype == np.float32
    rms = _rms(res.drift - drift, 64)
    assert rms < 2.0  # measured 0.38, 0.44, 0.48 px
    # F1 at tolerance 0: 0.06/0.15/0.06 as given -> 0.72/0.70/0.65 corrected (ceiling,
    # warping with the true field: 0.79/0.78/0.76, the sub-pixel resampling of 1-px lines).
    before, after = _f1(ebsd, truth), _f1(res.warped_boundary, truth)
    assert before < 0.2
    assert after > 0.45
    assert after > before + 0.35
    assert res.quality_after.p95_distance_px < res.quality_before.p95_distance_px


def test_local_drift_is_total_minus_global():
    res = _registered((512, 512), 4, 20.0, (10.0, -5.0))
    glob = matrix_displacement(res.global_alignment.matrix, (512, 512))
    np.testing.assert_allclose(res.local_drift, res.drift - glob, atol=1e-4)
    assert np.abs(res.local_drift).max() > 5  # the global model cannot explain a bump field


def test_global_only_leaves_non_rigid_residual():
    sem, _, ebsd, drift = _pair((512, 512), seed=5, amplitude=30.0)
    only_global = register(sem, ebsd, config=RegistrationConfig(local=False))
    full = _registered((512, 512), 5, 30.0, (0.0, 0.0))
    assert np.all(only_global.local_drift == 0)
    assert only_global.tiles.empty
    assert _rms(full.drift - drift, 64) < 0.5 * _rms(only_global.drift - drift, 64)


def test_affine_global_transform_recovered_by_ecc():
    # A 1.5% scale change plus a 0.8-degree rotation about the centre, and a shift.
    shape = (512, 512)
    a = math.radians(0.8)
    lin = 1.015 * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    centre = np.array([255.5, 255.5])
    matrix = np.eye(3)
    matrix[:2, :2] = lin
    matrix[:2, 2] = centre - lin @ centre + np.array([6.0, -9.0])
    field = matrix_displacement(matrix, shape)
    sem, truth, tree = _scene(shape, 7, 40.0)
    ebsd = _ebsd_map(tree, field)
    res = register(sem, ebsd, config=RegistrationConfig(local=False, motion="affine"))
    err = res.drift - field
    assert _rms(err, 32) < 0.5
    np.testing.assert_allclose(res.global_alignment.affine[:, :2], lin, atol=2e-3)
    assert res.global_alignment.ecc_converged
    assert 0 < res.global_alignment.ecc <= 1


# --------------------------------------------------------------------------- scale


@pytest.mark.parametrize("ebsd_scale", [0.5, 2.0])
def test_other_pixel_size_is_resampled_then_registered(ebsd_scale):
    sem, truth, ebsd, drift = _pair(
        (512, 512), seed=3, amplitude=15.0, rigid=(12.0, -8.0), ebsd_scale=ebsd_scale
    )
    assert ebsd.shape == (int(512 * ebsd_scale),) * 2
    res = register(sem, ebsd, sem_pixel_size_um=0.05 * ebsd_scale, ebsd_step_um=0.05)
    assert res.scale == pytest.approx(ebsd_scale)
    assert _rms(res.drift - drift, 64) < 1.5  # measured 0.4-0.7
    # ``displacement`` is in EBSD pixels: EBSD index = scale * (SEM pos + 0.5) - 0.5.
    rows = np.arange(512)[:, None]
    expected = (rows + res.drift[0] + 0.5) * ebsd_scale - 0.5 - rows
    np.testing.assert_allclose(res.displacement[0], expected, atol=1e-3)
    assert res.warped_boundary.shape == (512, 512)
    assert pixel_metrics(res.warped_boundary, truth, tolerance_px=1)["f1"] > 0.8


# --------------------------------------------------------------------------- package generator


def test_pairs_from_make_microstructure():
    synthetic = pytest.importorskip("grainseg_core.synthetic")
    cfg = synthetic.SyntheticConfig(
        drift=synthetic.DriftConfig(shift_px=(30.0, -25.0), max_nonrigid_px=20.0, spacing_px=200.0)
    )
    m = synthetic.make_microstructure((512, 512), seed=1, config=cfg)
    assert np.abs(m.drift).max() > 35
    res = register(m.image, m.ebsd.boundary)
    assert _rms(res.drift - m.drift, 64) < 2.0  # measured 0.8
    before, after = _f1(m.ebsd.boundary, m.boundary), _f1(res.warped_boundary, m.boundary)
    assert before < 0.15 and after > 0.45  # measured 0.06 -> 0.58


# --------------------------------------------------------------------------- real data


def _nist_steel(shared_data):
    tifffile = pytest.importorskip("tifffile")
    folder = shared_data / "nist_steel"
    image = tifffile.imread(folder / "grain_structures_steel.tif")
    boundary = tifffile.imread(folder / "grains_steel_highlighted_segmented.tif") > 0
    return image, boundary


def test_real_steel_map_with_known_drift_is_recovered(shared_data):
    image, boundary = _nist_steel(shared_data)
    shape = image.shape  # (600, 800), etched steel, hand-traced boundaries
    drift = _smooth_field(shape, 12.0, 21, rigid=(-15.0, 22.0))
    # Displace the real map: moved[q] = boundary[p] with q = p + drift(p).
    rr, cc = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    p = _source_positions(np.stack([rr, cc]), drift)
    moved = warp_label(boundary, (p - np.stack([rr, cc])).astype(np.float32))
    res = register(image, moved)
    assert res.global_alignment.polarity == "dark"  # etched grooves
    assert _rms(res.drift - drift, 64) < 2.0  # measured ~0.6
    assert res.quality_before.ncc < 0.2 < 0.6 < res.quality_after.ncc
    assert res.quality_after.median_distance_px <= 1.0


def test_real_steel_map_already_aligned_gets_no_drift(shared_data):
    image, boundary = _nist_steel(shared_data)
    res = register(image, boundary)
    assert np.abs(res.drift[:, 32:-32, 32:-32]).max() < 1.5
    assert res.quality_after.ncc >= res.quality_before.ncc - 0.02
    assert not res.warnings


def test_real_bse_image_picks_bright_polarity(shared_data):
    tifffile = pytest.importorskip("tifffile")
    folder = shared_data / "nist_steel"
    image = tifffile.imread(folder / "sem_alpha_beta_ti_6al_4v.tif")[..., :3].mean(axis=2)
    boundary = tifffile.imread(folder / "sem_alpha_beta_ti_6al_4v_segmented.tif") > 0
    moved = np.zeros_like(boundary)
    moved[9:, :-14] = boundary[:-9, 14:]  # moved[r, c] = boundary[r - 9, c + 14]
    res = register(image, moved)
    assert res.global_alignment.polarity == "bright"  # phase boundaries are bright lines here
    assert res.global_alignment.shift == pytest.approx((9.0, -14.0), abs=5.0)  # coarse start
    inner = res.drift[:, 64:-64, 64:-64]
    assert np.abs(inner[0] - 9.0).max() < 1.5 and np.abs(inner[1] + 14.0).max() < 1.5


# --------------------------------------------------------------------------- warp_label


def test_warp_label_integer_shift_is_exact_and_methods_agree():
    lab = np.zeros((20, 30), bool)
    lab[5, 3:25] = True
    lab[2:18, 12] = True
    d = np.zeros((2, 20, 30), np.float32)
    d[0], d[1] = 2.0, -3.0  # out[r, c] = lab[r + 2, c - 3]
    expected = np.zeros_like(lab)
    expected[3, 6:28] = True
    expected[0:16, 15] = True
    for method in ("distance", "nearest"):
        out = warp_label(lab, d, method=method)
        assert out.dtype == bool
        np.testing.assert_array_equal(out, expected)


def test_warp_label_outside_source_is_not_boundary():
    lab = np.ones((10, 10), bool)
    d = np.full((2, 10, 10), 20.0, np.float32)
    assert not warp_label(lab, d).any()
    assert not warp_label(lab, d, method="nearest").any()


def test_warp_label_output_takes_the_field_shape():
    lab = np.zeros((10, 10), bool)
    lab[4, :] = True
    out = warp_label(lab, np.zeros((2, 6, 8), np.float32))
    assert out.shape == (6, 8)
    assert out[4].all() and out.sum() == 8


def test_warp_label_half_pixel_shift_keeps_grains_apart():
    # A staircase (8-connected) diagonal separates two grains; a half-pixel shift must
    # not open a 4-connected gap in it.
    n = 40
    lab = np.zeros((n, n), bool)
    idx = np.arange(n)
    lab[idx, idx] = True
    lab[idx[:-1], idx[:-1] + 1] = True  # the right-hand neighbours: a staircase
    assert cc_label(~lab, connectivity=1).max() == 2
    d = np.zeros((2, n, n), np.float32)
    d[0], d[1] = 0.5, 0.25
    out = warp_label(lab, d)[2:-2, 2:-2]  # away from the frame, where samples fall outside
    assert cc_label(~out, connectivity=1).max() == 2
    nearest = warp_label(lab, d, method="nearest")[2:-2, 2:-2]
    assert cc_label(~nearest, connectivity=1).max() == 2


def test_warp_label_smooth_field_keeps_grain_count():
    # "nearest" breaks 1-px lines under a fractional non-uniform field (grains merge);
    # the distance method keeps every interior grain (documented behaviour).
    _, truth, ebsd, drift = _pair((512, 512), seed=6, amplitude=40.0, rigid=(20.0, 0.0))
    n_true = _grains(truth)
    assert _grains(warp_label(ebsd, drift)) == n_true
    assert _grains(warp_label(ebsd, drift, method="nearest")) < n_true


@pytest.mark.parametrize(
    "label, disp, method, match",
    [
        (np.zeros((4, 4, 2)), np.zeros((2, 4, 4)), "distance", "label must be a 2-D"),
        (np.zeros((4, 4), bool), np.zeros((3, 4, 4)), "distance", r"shape \(2, M, N\)"),
        (np.zeros((4, 4), bool), np.full((2, 4, 4), np.nan), "distance", "NaN"),
        (np.zeros((4, 4), bool), np.zeros((2, 4, 4)), "cubic", "method must be"),
        (np.array([["a"]]), np.zeros((2, 1, 1)), "distance", "boolean mask"),
    ],
)
def test_warp_label_validation(label, disp, method, match):
    with pytest.raises(InputError, match=match):
        warp_label(label, disp, method=method)


# --------------------------------------------------------------------------- helpers


def test_matrix_displacement_of_translation_and_scale():
    m = np.array([[2.0, 0.0, 1.0], [0.0, 1.0, -3.0], [0.0, 0.0, 1.0]])
    d = matrix_displacement(m, (3, 4))
    assert d.shape == (2, 3, 4) and d.dtype == np.float32
    np.testing.assert_allclose(d[0], np.arange(3)[:, None] + 1.0 + np.zeros((3, 4)))
    np.testing.assert_allclose(d[1], -3.0)
    np.testing.assert_allclose(matrix_displacement(m[:2], (3, 4)), d)
    with pytest.raises(InputError, match=r"\(3, 3\) or \(2, 3\)"):
        matrix_displacement(np.eye(4), (3, 4))


def test_measure_alignment_prefers_the_aligned_map():
    sem, truth, _, _ = _pair((384, 384), seed=8)
    aligned = measure_alignment(sem, truth)
    shifted = measure_alignment(sem, np.roll(truth, (7, -5), axis=(0, 1)))
    assert isinstance(aligned, RegistrationQuality)
    assert aligned.ncc > 0.6 > 0.3 > shifted.ncc
    assert aligned.median_distance_px <= 1.0 < 2.5 < shifted.median_distance_px
    assert aligned.n_boundary_px == int(truth.sum())
    assert set(aligned.as_dict()) == {
        "ncc",
        "mean_distance_px",
        "median_distance_px",
        "p95_distance_px",
        "n_boundary_px",
    }


def test_result_structure_and_progress():
    sem, _, ebsd, _ = _pair((256, 256), seed=1, rigid=(20.0, 0.0))
    calls = []
    res = register(sem, ebsd, progress=lambda done, total: calls.append((done, total)))
    assert isinstance(res, RegistrationResult)
    assert isinstance(res.global_alignment, GlobalAlignment)
    total = calls[-1][1]
    assert [c[0] for c in calls] == list(range(1, total + 1))
    assert all(c[1] == total for c in calls)
    assert res.warped_boundary.dtype == bool and res.warped_boundary.shape == (256, 256)
    for arr in (res.drift, res.local_drift, res.displacement):
        assert arr.shape == (2, 256, 256) and arr.dtype == np.float32
    np.testing.assert_array_equal(res.displacement, res.drift)  # same pixel size
    assert list(res.tiles.columns) == [
        "pass",
        "tile_px",
        "row",
        "col",
        "d_row",
        "d_col",
        "psr",
        "isotropy",
        "accepted",
        "pass_model",
    ]
    assert res.tiles["accepted"].mean() > 0.8
    table = res.quality_table()
    assert isinstance(table, pd.DataFrame) and list(table.index) == ["before", "after"]
    assert set(res.timings_s) == {"representation", "global", "local", "warp", "quality"}
    assert res.global_alignment.matrix.shape == (3, 3)
    assert res.global_alignment.affine.shape == (2, 3)


# --------------------------------------------------------------------------- failures


def test_unrelated_map_is_reported_as_no_overlap():
    sem, _, _, _ = _pair((384, 384), seed=10)
    _, _, other, _ = _pair((384, 384), seed=11, grain_px=25.0)
    with pytest.raises(
        RegistrationError,
        match="no overlap: the global correlation peak is indistinguishable from noise",
    ):
        register(sem, other)


def test_noise_image_is_reported_as_no_overlap():
    _, _, ebsd, _ = _pair((384, 384), seed=10)
    noise = np.random.default_rng(0).normal(100, 10, (384, 384))
    with pytest.raises(RegistrationError, match="indistinguishable from noise"):
        register(noise, ebsd)


def test_shift_leaving_too_little_overlap_is_reported():
    sem, _, ebsd, _ = _pair((384, 384), seed=12, rigid=(120.0, 0.0))
    with pytest.raises(
        RegistrationError,
        match=r"no overlap: the estimated shift \(12\d\.\d, -?0\.\d\) px leaves only 6\d%",
    ):
        register(sem, ebsd, config=RegistrationConfig(min_overlap=0.8))


def test_flat_sem_image_is_reported():
    _, _, ebsd, _ = _pair((384, 384), seed=10)
    with pytest.raises(RegistrationError, match="sem_image is flat"):
        register(np.full((384, 384), 120, np.uint8), ebsd)


@pytest.mark.parametrize(
    "sem, ebsd, kwargs, match",
    [
        (np.zeros((64, 64, 3)), np.ones((64, 64), bool), {}, "sem_image must be a 2-D grey image"),
        (np.zeros((16, 64)), np.ones((16, 64), bool), {}, "too small"),
        (
            np.where(np.eye(64, dtype=bool), np.nan, 1.0),
            np.eye(64, dtype=bool),
            {},
            "sem_image has 64 NaN",
        ),
        (np.ones((64, 64)), np.zeros((64, 64), bool), {}, "ebsd_boundary is empty"),
        (np.ones((64, 64)), np.ones((64, 64), bool), {}, "all boundary"),
        (np.ones((64, 64)), np.full((64, 64), np.nan), {}, "ebsd_boundary has 4096 NaN"),
        (np.ones((64, 64)), np.zeros((64, 64, 2)), {}, "ebsd_boundary must be a 2-D"),
        (
            np.ones((64, 64)),
            np.eye(48, dtype=bool),
            {},
            r"shapes incompatible: sem_image is \(64, 64\) but ebsd_boundary is \(48, 48\)",
        ),
        (
            np.ones((64, 64)),
            np.eye(64, dtype=bool),
            {"ebsd_step_um": 0.1},
            "give both sem_pixel_size_um and ebsd_step_um",
        ),
        (
            np.ones((64, 64)),
            np.eye(64, dtype=bool),
            {"ebsd_step_um": 0.1, "sem_pixel_size_um": -1},
            "sem_pixel_size_um must be a positive",
        ),
        (
            np.ones((64, 64)),
            np.eye(64, dtype=bool),
            {"ebsd_step_um": "x", "sem_pixel_size_um": 1},
            "ebsd_step_um must be a number",
        ),
        (
            np.ones((64, 64)),
            np.eye(64, dtype=bool),
            {"ebsd_step_um": 1.0, "sem_pixel_size_um": 100.0},
            "covers less than 5%",
        ),
        (np.array([["a"] * 64] * 64), np.eye(64, dtype=bool), {}, "sem_image must be numeric"),
    ],
)
def test_bad_input_raises_registration_error(sem, ebsd, kwargs, match):
    with pytest.raises(RegistrationError, match=match):
        register(sem, ebsd, **kwargs)


def test_measure_alignment_rejects_shape_mismatch():
    with pytest.raises(
        RegistrationError, match=r"boundary \(shape \(32, 40\)\) must match sem_image"
    ):
        measure_alignment(np.ones((32, 32)), np.eye(32, 40, dtype=bool))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"polarity": "dim"}, "polarity must be one of auto, dark"),
        ({"motion": "spline"}, "motion must be one of translation"),
        ({"warp_method": "cubic"}, "warp_method must be"),
        ({"ridge_sigmas": ()}, "ridge_sigmas must be positive"),
        ({"label_sigma": -1.0}, "label_sigma must be >= 0"),
        ({"tile_sizes": (8,)}, "tile_sizes must be >= 16"),
        ({"tile_fractions": (0.0,)}, r"tile_fractions must lie in \(0, 1\]"),
        ({"tile_overlap": 0.95}, r"tile_overlap must lie in \[0, 0.9\]"),
        ({"min_overlap": 0.0}, r"min_overlap must lie in \(0, 1\]"),
        ({"whitening": 2.0}, r"whitening must lie in \[0, 1\]"),
        ({"global_max_side": 10}, "must be >= 64 px"),
        ({"ecc_gauss_size": 4}, "positive odd number"),
        ({"min_tile_px": 4}, "must be >= 16 px"),
        ({"flow_factor": 0}, "flow_factor must be None or an integer >= 1"),
        ({"flow_window_px": 0.0}, "flow_window_px must be > 0"),
        ({"min_tile_isotropy": 1.5}, r"min_tile_isotropy must lie in \[0, 1\]"),
        ({"spline_smoothing": -1.0}, "spline_smoothing must be >= 0 or None"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RegistrationConfig(**kwargs)


def test_pass_tiles_schedule():
    cfg = RegistrationConfig()
    # Fractions 0.375, 0.25, 0.1875, 0.125 of the short side; work tiles <= 128 px.
    assert cfg.pass_tiles((512, 512)) == [(192, 2), (128, 1), (96, 1), (64, 1)]
    assert cfg.pass_tiles((1536, 2048)) == [(576, 5), (384, 3), (288, 3), (192, 2)]
    # A sparse label raises the smallest tiles to hold ~250 boundary pixels ...
    assert cfg.pass_tiles((512, 512), 0.05) == [(192, 2), (128, 1), (96, 1), (71, 1)]
    # ... and drops passes that would then (nearly) repeat the previous one.
    assert cfg.pass_tiles((512, 512), 0.01) == [(192, 2), (158, 2)]
    # Explicit sizes, clipped to the image and to min_tile_px.
    assert RegistrationConfig(tile_sizes=(100, 40)).pass_tiles((64, 300)) == [(64, 1), (48, 1)]
