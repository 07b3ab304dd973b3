"""Tests of grainseg_core.augment: paired geometry, label sampling, intensity, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import label as cc_label
from skimage.segmentation import find_boundaries

from grainseg_core.augment import (
    AugmentConfig,
    affine_pair,
    augment_pair,
    flip_pair,
    rot90_pair,
    scale_intensity,
)
from grainseg_core.errors import ConfigError, InputError


def voronoi_grains(size: int = 128, n: int = 25, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, size, (n, 2))
    rr, cc = np.mgrid[:size, :size]
    d2 = (rr[..., None] - pts[:, 0]) ** 2 + (cc[..., None] - pts[:, 1]) ** 2
    return (d2.argmin(axis=-1) + 1).astype(np.int32)


def l_shape(size: int = 64) -> np.ndarray:
    """An asymmetric pattern: every element of the square's symmetry group moves it."""
    lab = np.zeros((size, size), bool)
    lab[10:50, 12:18] = True
    lab[44:50, 12:40] = True
    lab[20:24, 30:33] = True
    return lab


def test_flip_and_rot90_known_answers():
    img = np.array([[1, 2, 3], [4, 5, 6]])
    lab = img > 3
    out, out_lab = flip_pair(img, lab, horizontal=True)
    assert out.tolist() == [[3, 2, 1], [6, 5, 4]] and out_lab.tolist() == [[False] * 3, [True] * 3]
    out, _ = flip_pair(img, lab, vertical=True)
    assert out.tolist() == [[4, 5, 6], [1, 2, 3]]
    out, _ = flip_pair(img, lab, horizontal=True, vertical=True)
    assert out.tolist() == [[6, 5, 4], [3, 2, 1]]
    out, out_lab = rot90_pair(img, lab, k=1)
    assert out.tolist() == [[3, 6], [2, 5], [1, 4]] and out_lab.tolist() == [[False, True]] * 3
    assert rot90_pair(img, lab, k=4)[0].tolist() == img.tolist()
    assert out.flags["C_CONTIGUOUS"]


def test_affine_quarter_turn_equals_rot90():
    rng = np.random.default_rng(0)
    img = rng.random((33, 33)).astype(np.float32)
    lab = rng.random((33, 33)) > 0.7
    for kind in ("boundary", "mask"):
        out, out_lab = affine_pair(img, lab, angle_deg=90, label_kind=kind)
        ref, ref_lab = rot90_pair(img, lab, k=1)
        np.testing.assert_allclose(out, ref, atol=1e-5)
        assert np.array_equal(out_lab, ref_lab)  # exact grid maps do not widen boundaries


@pytest.mark.parametrize("angle", [30, -30, 17, 45, 63])
def test_one_pixel_line_stays_one_8_connected_component(angle):
    lab = np.zeros((101, 101), bool)
    lab[50, 30:71] = True
    out_img, out = affine_pair(lab.astype(np.float32), lab, angle_deg=angle)
    rr, cc = np.mgrid[:101, :101]
    disk = (rr - 50) ** 2 + (cc - 50) ** 2 < 48**2  # outside it the reflection shows copies
    assert cc_label(out & disk, connectivity=2).max() == 1
    assert out.dtype == bool and out_img.dtype == np.float32
    # thin-ish: a 41-px line rotated stays at most about twice as many pixels
    assert 41 <= int(out.sum()) <= 2.2 * 41


def test_rotated_boundaries_never_let_grains_touch():
    """No two different grains meet through non-boundary pixels after rotation or zoom.

    Plain nearest-neighbour sampling of the boundary ("mask" sampling) opens gaps in
    diagonal boundary steps; boundary sampling keeps them closed.
    """

    def touching(grains: np.ndarray, boundary: np.ndarray) -> int:
        h = (grains[:, 1:] != grains[:, :-1]) & ~boundary[:, 1:] & ~boundary[:, :-1]
        v = (grains[1:] != grains[:-1]) & ~boundary[1:] & ~boundary[:-1]
        return int(h.sum() + v.sum())

    zero = np.zeros((128, 128), np.float32)
    gaps = {"boundary": 0, "mask": 0}
    for seed in range(2):
        grains = voronoi_grains(seed=seed)
        boundary = find_boundaries(grains, mode="inner")
        assert touching(grains, boundary) == 0
        for angle in (7, 23, 38, 52, 81):
            for scale in (0.8, 1.0, 1.25):
                _, g = affine_pair(zero, grains, angle_deg=angle, scale=scale, label_kind="mask")
                assert g.dtype == np.int32 and set(np.unique(g)) <= set(np.unique(grains))
                for kind in gaps:
                    _, b = affine_pair(zero, boundary, angle_deg=angle, scale=scale, label_kind=kind)
                    gaps[kind] += touching(g, b)
    assert gaps["boundary"] == 0
    assert gaps["mask"] > 0  # the failure boundary sampling exists to prevent


def test_affine_mask_keeps_area_and_zoom_scales_it():
    lab = np.zeros((101, 101), bool)
    lab[40:61, 40:61] = True  # 21 x 21, centred
    _, rot = affine_pair(np.zeros((101, 101), np.float32), lab, angle_deg=30, label_kind="mask")
    assert abs(int(rot.sum()) - 441) <= 0.05 * 441
    _, zoomed = affine_pair(np.zeros((101, 101), np.uint8), lab, scale=2.0, label_kind="mask")
    assert abs(int(zoomed.sum()) - 4 * 441) <= 0.06 * 4 * 441
    assert zoomed[50, 50] and not zoomed[50, 50 + 23]
    # zooming out brings reflected copies of the patch in at the borders, in image and label
    img = lab.astype(np.float32)
    out_img, out = affine_pair(img, lab, scale=0.5, label_kind="mask")
    assert out[50, 50] and np.array_equal(out_img > 0.5, out)


def test_affine_validation():
    img = np.zeros((8, 8), np.float32)
    with pytest.raises(InputError, match="scale a positive number"):
        affine_pair(img, img > 0, scale=0)
    with pytest.raises(InputError, match="label_kind"):
        affine_pair(img, img > 0, label_kind="lines")
    with pytest.raises(InputError, match=r"must match"):
        affine_pair(img, np.zeros((8, 9), bool))
    with pytest.raises(InputError, match="numeric"):
        affine_pair(img > 0, img > 0)


def test_scale_intensity_ranges():
    assert scale_intensity(np.array([[100, 250]], np.uint8), 1.05).tolist() == [[105, 255]]
    assert scale_intensity(np.array([[1000, 65000]], np.uint16), 1.05).tolist() == [[1050, 65535]]
    unit = np.array([[0.5, 0.98]], np.float32)
    out = scale_intensity(unit, 1.05)
    assert out.dtype == np.float32 and out[0].tolist() == pytest.approx([0.525, 1.0])
    raw = np.array([[10.0, 200.0]], np.float32)  # not normalised: not clipped
    assert scale_intensity(raw, 1.05)[0].tolist() == pytest.approx([10.5, 210.0])
    with pytest.raises(InputError, match="positive"):
        scale_intensity(unit, -1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rotate_deg": 200}, r"\[0, 180\]"),
        ({"scale_range": (0.2, 1.0)}, "0.5 <= low <= high <= 2"),
        ({"scale_range": (1.2, 1.1)}, "0.5 <= low <= high <= 2"),
        ({"scale_range": "big"}, "pair"),
        ({"affine_p": 1.5}, r"\[0, 1\]"),
        ({"intensity": 0.6}, r"\[0, 0.5\]"),
        ({"intensity": float("nan")}, "finite"),
    ],
)
def test_augment_config_validation(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        AugmentConfig(**kwargs)


def test_augment_config_round_trip():
    cfg = AugmentConfig(rotate_deg=180, scale_range=(0.9, 1.1), intensity=0.05)
    assert AugmentConfig.from_dict(cfg.to_dict()) == cfg
    assert AugmentConfig(flips=False, rot90=False).is_identity and not cfg.is_identity
    with pytest.raises(ConfigError, match="unknown AugmentConfig keys"):
        AugmentConfig.from_dict({"flip": True})


def test_augment_pair_covers_the_eight_symmetries_and_keeps_alignment():
    lab = l_shape()
    img = lab.astype(np.float32) * 0.8 + 0.1
    results = set()
    for seed in range(60):
        out_img, out_lab = augment_pair(img, lab, seed)
        assert np.array_equal(out_img > 0.5, out_lab)  # image and label moved alike
        results.add(out_lab.tobytes())
    assert len(results) == 8  # all of flips x quarter turns, nothing else


def test_augment_pair_free_rotation_keeps_alignment():
    lab = l_shape()
    img = lab.astype(np.float32)
    cfg = AugmentConfig(rotate_deg=180, scale_range=(0.9, 1.1), affine_p=1.0, intensity=0.05)
    for seed in range(10):
        out_img, out_lab = augment_pair(img, lab, seed, cfg, label_kind="mask")
        agree = np.mean((out_img > 0.5) == out_lab)
        assert agree > 0.98  # bilinear image vs sampled label differ only along edges
        assert out_lab.dtype == bool and out_img.max() <= 1.0


def test_augment_pair_is_reproducible_and_seed_dependent():
    rng = np.random.default_rng(5)
    img = rng.random((48, 48)).astype(np.float32)
    lab = rng.random((48, 48)) > 0.8
    cfg = AugmentConfig(rotate_deg=45, scale_range=(0.8, 1.2), affine_p=1.0, intensity=0.05)
    a = augment_pair(img, lab, np.random.default_rng(11), cfg)
    b = augment_pair(img, lab, 11, cfg)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    c = augment_pair(img, lab, 12, cfg)
    assert not np.array_equal(a[0], c[0])
    # the inputs are never modified
    assert np.array_equal(img, np.random.default_rng(5).random((48, 48)).astype(np.float32))


def test_augment_pair_intensity_within_five_percent():
    img = np.full((16, 16), 0.5, np.float32)
    lab = np.zeros((16, 16), bool)
    cfg = AugmentConfig(flips=False, rot90=False, intensity=0.05)
    values = [float(augment_pair(img, lab, s, cfg)[0][0, 0]) for s in range(40)]
    assert all(0.475 - 1e-6 <= v <= 0.525 + 1e-6 for v in values)
    assert np.ptp(values) > 0.03  # it does vary
    same, same_lab = augment_pair(img, lab, 0, AugmentConfig(flips=False, rot90=False))
    assert np.array_equal(same, img) and np.array_equal(same_lab, lab)


def test_augment_pair_validation():
    img = np.zeros((8, 8), np.float32)
    with pytest.raises(InputError, match="config must be an AugmentConfig"):
        augment_pair(img, img > 0, 0, {"flips": True})
    with pytest.raises(InputError, match="label_kind"):
        augment_pair(img, img > 0, 0, label_kind="edges")
