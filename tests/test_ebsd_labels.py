"""EBSD uploads -> maps, boundary-map images, resampling and drift-corrected labels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from grainseg_core.ebsd import GBConfig, classify_boundaries
from grainseg_core.ebsd_labels import (
    boundary_at_sem_scale,
    boundary_map_from_image,
    correct_label,
    read_ebsd_files,
)
from grainseg_core.errors import EBSDError, ImageReadError, InputError, RegistrationError
from grainseg_core.registration import RegistrationConfig
from grainseg_core.synthetic import make_microstructure


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"scan.png": b"\x89PNG"}, "no EBSD map among.*'scan.png' looks like an image"),
        ({"notes.csv": b"a,b"}, "no EBSD map among.*expected .ang, .ctf"),
        ({"map.cpr": b"[General]"}, "its data file 'map.crc' is missing"),
        ({"map.crc": b"\x00"}, "its header 'map.cpr' is missing"),
        ({"a.ang": b"x", "b.ctf": b"y"}, "several EBSD maps"),
        ({"a.ang": b""}, "is empty"),
        (
            {"bad.ang": b"# not really\nhello world\n1 2 3\n"},
            "bad.ang could not be read as an EBSD map",
        ),
    ],
)
def test_wrong_kinds_of_file_give_plain_messages(files, message):
    with pytest.raises(EBSDError, match=message):
        read_ebsd_files(files)


def test_temporary_paths_are_not_shown_in_messages():
    with pytest.raises(EBSDError) as info:
        read_ebsd_files({"../../weird name.ang": b"garbage\n1 2\n"})
    assert "grainseg-ebsd-" not in str(info.value)
    assert "weird name.ang" in str(info.value)


def test_bad_arguments():
    with pytest.raises(InputError, match="non-empty mapping"):
        read_ebsd_files({})
    with pytest.raises(InputError, match="must be bytes"):
        read_ebsd_files({"a.ang": "text"})


def test_real_ang_and_oxford_pair_from_bytes(shared_data):
    ang = shared_data / "ebsd" / "orix_sdss" / "sdss_ferrite_austenite.ang"
    ebsd = read_ebsd_files({"upload/" + ang.name: ang.read_bytes(), "readme.txt": b"ignored"})
    assert ebsd.shape == (100, 117) and ebsd.step_size_um == (1.5, 1.5)
    folder = shared_data / "ebsd" / "defdap_ni"
    pair = {
        p.name: p.read_bytes() for p in (folder / "testDataEBSD.cpr", folder / "testDataEBSD.crc")
    }
    ni = read_ebsd_files(pair)
    assert ni.shape == (243, 359) and ni.step_size_um == (0.12, 0.12)
    gb = classify_boundaries(
        ni, config=GBConfig(lagb_min_deg=5, hagb_min_deg=10, include_lagb=False)
    )
    assert 0.01 < gb.boundary.mean() < 0.5


def test_boundary_map_from_image_polarity_and_scales():
    white_lines = np.zeros((10, 12), np.uint8)
    white_lines[4] = 255
    np.testing.assert_array_equal(
        boundary_map_from_image(_png(white_lines), name="w.png"), white_lines > 0
    )
    black_lines = 255 - white_lines
    np.testing.assert_array_equal(boundary_map_from_image(black_lines), white_lines > 0)
    np.testing.assert_array_equal(
        boundary_map_from_image(black_lines, foreground="black"), white_lines > 0
    )
    # 0/1 maps and 16-bit maps are rescaled to the 0-255 scale
    np.testing.assert_array_equal(
        boundary_map_from_image((white_lines > 0).astype(np.uint8)), white_lines > 0
    )
    np.testing.assert_array_equal(
        boundary_map_from_image(white_lines.astype(np.uint16) * 257), white_lines > 0
    )
    with pytest.raises(InputError, match="has no boundary pixels"):
        boundary_map_from_image(np.zeros((10, 10), np.uint8), foreground="white")
    with pytest.raises(InputError, match="foreground must be"):
        boundary_map_from_image(white_lines, foreground="red")
    with pytest.raises(InputError, match="threshold must lie"):
        boundary_map_from_image(white_lines, threshold=0)
    with pytest.raises(InputError, match="gray \\(M, N\\)"):
        boundary_map_from_image(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ImageReadError):
        boundary_map_from_image(b"not an image", name="x.png")


def test_boundary_at_sem_scale_doubles_a_line():
    b = np.zeros((8, 8), bool)
    b[:, 3] = True  # EBSD column 3 covers SEM columns 6..7 at 2 SEM px per EBSD px
    out = boundary_at_sem_scale(b, (16, 16), 0.5)
    assert np.flatnonzero(out[8]).tolist() == [6, 7]
    np.testing.assert_array_equal(boundary_at_sem_scale(b, (8, 8), 1.0), b)
    with pytest.raises(InputError, match="scale must be a positive"):
        boundary_at_sem_scale(b, (8, 8), 0)
    with pytest.raises(InputError, match="shape must be"):
        boundary_at_sem_scale(b, "x", 1.0)


def test_correct_label_recovers_a_known_shift():
    ms = make_microstructure((256, 256), seed=3, mean_grain_size_px=30)
    moved = np.roll(ms.boundary, (4, -3), axis=(0, 1))  # the "EBSD" map, drifted by (4, -3)
    calls = []
    out = correct_label(
        ms.image,
        moved,
        config=RegistrationConfig(local=False),
        progress=lambda d, t: calls.append((d, t)),
    )
    assert np.round(out.drift[:, 128, 128]).tolist() == [4.0, -3.0]
    np.testing.assert_array_equal(out.before, moved)
    inner = (slice(8, -8), slice(8, -8))
    assert (out.corrected[inner] == ms.boundary[inner]).mean() > 0.99
    assert out.labels.dtype == np.int32 and out.labels.max() > 30
    assert calls and calls[-1][0] == calls[-1][1]
    assert out.registration.quality_after.ncc > out.registration.quality_before.ncc


def test_correct_label_needs_pixel_sizes_for_other_shapes():
    sem = np.random.default_rng(0).integers(0, 255, (64, 64)).astype(np.uint8)
    with pytest.raises(RegistrationError, match="shapes incompatible"):
        correct_label(sem, np.eye(32, dtype=bool))
