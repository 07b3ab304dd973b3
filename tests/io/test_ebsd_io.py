"""Tests of grainseg_core.io.ebsd: EBSD readers, the EBSDMap type and bad input."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from grainseg_core.errors import EBSDError
from grainseg_core.io.ebsd import (
    SUPPORTED_EBSD_EXTENSIONS,
    EBSDMap,
    EBSDPhase,
    mask_by_quality,
    read_ebsd,
)

# ------------------------------------------------------------ file writers


def write_ang(
    path: Path,
    euler: np.ndarray,
    phase: np.ndarray,
    *,
    ci: np.ndarray | None = None,
    step: float = 1.0,
    symmetry: str = "43",
    zero_xy: bool = False,
) -> Path:
    """A small EDAX TSL .ang file (square grid, one cubic phase)."""
    m_rows, n_cols = phase.shape
    ci = np.full(phase.shape, 0.9) if ci is None else ci
    header = (
        "# TEM_PIXperUM 1.000000\n# x-star 0.5\n# y-star 0.5\n# z-star 0.5\n"
        "# WorkingDistance 15.0\n#\n"
        "# Phase 1\n# MaterialName Nickel\n# Formula Ni\n# Info\n"
        f"# Symmetry {symmetry}\n# LatticeConstants 3.520 3.520 3.520 90.000 90.000 90.000\n"
        "# NumberFamilies 0\n#\n# GRID: SqrGrid\n"
        f"# XSTEP: {step}\n# YSTEP: {step}\n# NCOLS_ODD: {n_cols}\n# NCOLS_EVEN: {n_cols}\n"
        f"# NROWS: {m_rows}\n#\n"
    )
    lines = []
    for r in range(m_rows):
        for c in range(n_cols):
            x, y = (0.0, 0.0) if zero_xy else (c * step, r * step)
            e = euler[r, c]
            lines.append(
                f"{e[0]:.5f} {e[1]:.5f} {e[2]:.5f} {x:.5f} {y:.5f} 100.0 {ci[r, c]:.3f} "
                f"{phase[r, c]} 0 1.0"
            )
    path.write_text(header + "\n".join(lines) + "\n")
    return path


def write_hex_ang(path: Path) -> Path:
    """A HexGrid .ang: rows of 4 and 3 points, x step 1, y step sqrt(3)/2.

    phi1 is 0.1 rad in the first two hex rows and 1.0 rad in the last two;
    the IQ column holds 10 * x so the source point of each pixel can be read back.
    """
    header = (
        "# Phase 1\n# MaterialName Nickel\n# Formula Ni\n# Info\n# Symmetry 43\n"
        "# LatticeConstants 3.52 3.52 3.52 90.000 90.000 90.000\n# NumberFamilies 0\n#\n"
        "# GRID: HexGrid\n# XSTEP: 1.000000\n# YSTEP: 0.866025\n# NCOLS_ODD: 4\n"
        "# NCOLS_EVEN: 3\n# NROWS: 4\n#\n"
    )
    lines = []
    for r in range(4):
        for c in range(4 if r % 2 == 0 else 3):
            x = c + (0.0 if r % 2 == 0 else 0.5)
            y = r * np.sqrt(3) / 2
            phi1 = 0.1 if r < 2 else 1.0
            lines.append(f"{phi1:.5f} 0.20000 0.30000 {x:.5f} {y:.5f} {10 * x:.1f} 0.900 1 0 1.0")
    path.write_text(header + "\n".join(lines) + "\n")
    return path


CTF_HEADER = (
    "Channel Text File\nPrj\ttest\nAuthor\t[Unknown]\nJobMode\tGrid\nXCells\t{nx}\nYCells\t{ny}\n"
    "XStep\t0.5000\nYStep\t0.5000\nAcqE1\t0.0000\nAcqE2\t0.0000\nAcqE3\t0.0000\n"
    "Euler angles refer to Sample Coordinate system (CS0)!\tMag\t100.0000\tCoverage\t100\tDevice\t0"
    "\tKV\t20.0000\tTiltAngle\t70.0000\tTiltAxis\t0\n"
    "Phases\t1\n3.524;3.524;3.524\t90.000;90.000;90.000\tNickel\t{laue}\t225\t\t\tref\n"
    "Phase\tX\tY\tBands\tError\tEuler1\tEuler2\tEuler3\tMAD\tBC\tBS\n"
)


def write_ctf(path: Path, euler_deg: np.ndarray, phase: np.ndarray, *, laue: int = 11) -> Path:
    """A small Oxford .ctf file (step 0.5 um); MAD = 0.1 * row, BC = 100 + col."""
    m_rows, n_cols = phase.shape
    lines = []
    for r in range(m_rows):
        for c in range(n_cols):
            e = euler_deg[r, c]
            lines.append(
                f"{phase[r, c]}\t{c * 0.5:.4f}\t{r * 0.5:.4f}\t8\t0"
                f"\t{e[0]:.3f}\t{e[1]:.3f}\t{e[2]:.3f}"
                f"\t{0.1 * r:.4f}\t{100 + c}\t150"
            )
    path.write_text(CTF_HEADER.format(nx=n_cols, ny=m_rows, laue=laue) + "\n".join(lines) + "\n")
    return path


def png_bytes() -> bytes:
    """A valid 1x1 grey PNG."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


def euler_quat(phi1: float, phi: float, phi2: float) -> np.ndarray:
    from orix.quaternion import Rotation

    return np.asarray(Rotation.from_euler([[phi1, phi, phi2]]).data)[0]


def same_rotation(q: np.ndarray, ref: np.ndarray) -> bool:
    return bool(np.isclose(abs(float(np.dot(q, ref))), 1.0, atol=1e-6))


# ------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def sdss(shared_data: Path) -> EBSDMap:
    return read_ebsd(shared_data / "ebsd" / "orix_sdss" / "sdss_ferrite_austenite.ang")


def test_sdss_ang_grid_phases_and_step(sdss: EBSDMap, shared_data: Path) -> None:
    assert sdss.shape == (100, 117)
    assert sdss.step_size_um == (1.5, 1.5)
    assert {k: (p.name, p.point_group) for k, p in sdss.phases.items()} == {
        1: ("austenite/austenite", "432"),
        2: ("ferrite/ferrite", "432"),
    }
    assert sdss.indexed.all()
    assert set(sdss.quality) == {"iq", "dp"}
    # The file's rows run x fastest: compare the whole grid with the raw columns.
    raw = np.loadtxt(shared_data / "ebsd" / "orix_sdss" / "sdss_ferrite_austenite.ang")
    assert np.array_equal(sdss.phase_id, raw[:, 7].reshape(100, 117).astype(int))
    assert np.allclose(sdss.quality["iq"], raw[:, 5].reshape(100, 117))
    assert same_rotation(sdss.quaternions[0, 0], euler_quat(3.54788, 0.67696, 2.98719))
    last = raw[-1]
    assert (last[3], last[4]) == (116 * 1.5, 99 * 1.5)
    assert same_rotation(sdss.quaternions[99, 116], euler_quat(*last[:3]))
    assert np.allclose(np.linalg.norm(sdss.quaternions, axis=-1), 1.0)
    assert sdss.metadata["format"] == "ang" and sdss.metadata["grid"] == "SqrGrid"


def test_ebsdmap_arrays_are_read_only(sdss: EBSDMap) -> None:
    with pytest.raises(ValueError):
        sdss.phase_id[0, 0] = 5
    with pytest.raises(ValueError):
        sdss.quaternions[0, 0, 0] = 0.0


@pytest.mark.parametrize("name", ["testDataEBSD.cpr", "testDataEBSD.crc"])
def test_defdap_oxford_binary(shared_data: Path, name: str) -> None:
    pytest.importorskip("defdap")
    ebsd = read_ebsd(shared_data / "ebsd" / "defdap_ni" / name)
    assert ebsd.shape == (243, 359)
    assert ebsd.step_size_um == (0.12, 0.12)
    assert {k: (p.name, p.point_group) for k, p in ebsd.phases.items()} == {
        1: ("Ni-superalloy", "m-3m")
    }
    assert set(ebsd.quality) == {"MAD", "BC", "BS"}
    assert all(v.shape == (243, 359) for v in ebsd.quality.values())
    assert ebsd.indexed.all()
    assert ebsd.metadata["reader"] == "defdap"


# ------------------------------------------------------------ small files


def test_ang_non_indexed_from_ci(tmp_path: Path) -> None:
    euler = np.zeros((2, 3, 3))
    euler[:, :, 0] = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
    ci = np.array([[0.9, -1.0, 0.9], [0.9, 0.9, 0.05]])
    ebsd = read_ebsd(write_ang(tmp_path / "m.ang", euler, np.ones((2, 3), int), ci=ci, step=0.25))
    assert ebsd.shape == (2, 3)
    assert ebsd.step_size_um == (0.25, 0.25)
    assert ebsd.indexed.tolist() == [[True, False, True], [True, True, True]]
    assert ebsd.phase_id.tolist() == [[1, -1, 1], [1, 1, 1]]
    assert same_rotation(ebsd.quaternions[1, 2], euler_quat(0.6, 0.0, 0.0))
    masked = mask_by_quality(ebsd, "ci", minimum=0.1)
    assert masked.indexed.tolist() == [[True, False, True], [True, True, False]]


def test_hexgrid_ang_is_resampled_by_nearest_neighbour(tmp_path: Path) -> None:
    ebsd = read_ebsd(write_hex_ang(tmp_path / "hex.ang"))
    # x spans 0..3 and y spans 0..2.6 at step 1: a 4 x 4 square grid.
    assert ebsd.shape == (4, 4)
    assert ebsd.step_size_um == (1.0, 1.0)
    assert "HexGrid" in ebsd.metadata["grid"]
    low, high = euler_quat(0.1, 0.2, 0.3), euler_quat(1.0, 0.2, 0.3)
    # Square pixel (r, c) sits at (y, x) = (r, c): rows 0 and 1 lie nearest hex rows
    # 0 (y = 0) and 1 (y = 0.87), rows 2 and 3 nearest hex rows 2 (y = 1.73) and 3 (y = 2.6).
    got_low = np.array(
        [[same_rotation(ebsd.quaternions[r, c], low) for c in range(4)] for r in range(4)]
    )
    got_high = np.array(
        [[same_rotation(ebsd.quaternions[r, c], high) for c in range(4)] for r in range(4)]
    )
    assert got_low[:2].all() and got_high[2:].all()
    iq = ebsd.quality["iq"]
    # Full hex rows give x = c exactly; shifted rows give x = c +- 0.5 (ties at c = 1, 2).
    assert np.allclose(iq[0], [0, 10, 20, 30]) and np.allclose(iq[2], [0, 10, 20, 30])
    assert np.allclose(iq[[1, 3]][:, [0, 3]], [[5, 25], [5, 25]])


def test_ctf_phase_zero_is_non_indexed(tmp_path: Path) -> None:
    euler = np.zeros((2, 3, 3))
    euler[..., 0] = 10.0
    euler[1, 2] = (30.0, 40.0, 50.0)
    phase = np.array([[1, 1, 0], [1, 1, 1]])
    ebsd = read_ebsd(write_ctf(tmp_path / "m.ctf", euler, phase))
    assert ebsd.shape == (2, 3)
    assert ebsd.step_size_um == (0.5, 0.5)
    assert ebsd.phases[1].point_group == "m-3m"
    assert ebsd.indexed.tolist() == [[True, True, False], [True, True, True]]
    assert np.allclose(ebsd.quality["MAD"], [[0, 0, 0], [0.1, 0.1, 0.1]])
    assert np.allclose(ebsd.quality["BC"], [[100, 101, 102]] * 2)
    assert same_rotation(ebsd.quaternions[1, 2], euler_quat(*np.radians([30.0, 40.0, 50.0])))


def test_orix_hdf5_round_trip(tmp_path: Path) -> None:
    from orix.crystal_map import CrystalMap, Phase, PhaseList
    from orix.io import save
    from orix.quaternion import Rotation

    rng = np.random.default_rng(3)
    rot = Rotation.random(12)
    y, x = np.mgrid[0:3, 0:4] * 0.2
    phase_id = np.array([1, 1, 2, 2, 1, 1, 2, 2, 1, -1, 2, 2])
    xmap = CrystalMap(
        rotations=rot,
        phase_id=phase_id,
        x=x.ravel(),
        y=y.ravel(),
        phase_list=PhaseList(
            [Phase("fcc", point_group="m-3m"), Phase("hcp", point_group="6/mmm")], ids=[1, 2]
        ),
        prop={"iq": rng.random(12)},
    )
    save(str(tmp_path / "m.h5"), xmap)
    ebsd = read_ebsd(tmp_path / "m.h5")
    assert ebsd.shape == (3, 4)
    assert ebsd.step_size_um == pytest.approx((0.2, 0.2))
    assert ebsd.phase_id.ravel().tolist() == phase_id.tolist()
    assert {k: p.point_group for k, p in ebsd.phases.items()} == {1: "m-3m", 2: "6/mmm"}
    assert ebsd.phases[2].proper_point_group == "622"
    ok = phase_id >= 0
    dots = np.abs(np.sum(ebsd.quaternions.reshape(-1, 4)[ok] * np.asarray(rot.data)[ok], axis=1))
    assert np.allclose(dots, 1.0)
    assert np.allclose(ebsd.quality["iq"].ravel()[ok], xmap.prop["iq"][ok])


def test_ebsdmap_from_euler_and_validation() -> None:
    phases = {1: EBSDPhase(1, "Ni", "m-3m")}
    ebsd = EBSDMap.from_euler(np.zeros((2, 2, 3)), np.ones((2, 2), int), phases, (0.5, 0.25))
    assert ebsd.step_size_um == (0.5, 0.25)
    assert np.allclose(ebsd.quaternions[..., 0], 1.0)
    q = np.zeros((2, 2, 4))
    q[..., 0] = 2.0  # not normalised: normalised on construction
    assert np.allclose(EBSDMap(q, np.ones((2, 2), int), phases, 1.0).quaternions[..., 0], 1.0)
    with pytest.raises(EBSDError, match="phase ids \\[2\\] occur in the map but have no phase"):
        EBSDMap(q, np.array([[1, 2], [1, 1]]), phases, 1.0)
    with pytest.raises(EBSDError, match="quaternions must have shape \\(2, 2, 4\\)"):
        EBSDMap(q[:, :1], np.ones((2, 2), int), phases, 1.0)
    with pytest.raises(EBSDError, match="phase_id must hold integers"):
        EBSDMap(q, np.ones((2, 2)), phases, 1.0)
    with pytest.raises(EBSDError, match="step_size_um must be one or two positive"):
        EBSDMap(q, np.ones((2, 2), int), phases, (1.0, -1.0))
    with pytest.raises(EBSDError, match="missing step size"):
        EBSDMap(q, np.ones((2, 2), int), phases, None)  # type: ignore[arg-type]
    bad = q.copy()
    bad[0, 0] = np.nan
    with pytest.raises(EBSDError, match="non-finite or zero at indexed pixels"):
        EBSDMap(bad, np.ones((2, 2), int), phases, 1.0)
    # NaN orientations are fine where the pixel is non-indexed.
    assert EBSDMap(bad, np.array([[-1, 1], [1, 1]]), phases, 1.0).indexed.sum() == 3
    with pytest.raises(EBSDError, match="no indexed pixel"):
        EBSDMap(q, -np.ones((2, 2), int), phases, 1.0)


def test_phase_with_unknown_point_group() -> None:
    assert EBSDPhase(1, "Ni", "m-3m").is_cubic
    assert not EBSDPhase(2, "Ti", "6/mmm").is_cubic
    with pytest.raises(EBSDError, match="unknown phase symmetry: point group 'm3x'"):
        EBSDPhase(1, "X", "m3x")


def test_mask_by_quality_errors(tmp_path: Path) -> None:
    ebsd = read_ebsd(write_ang(tmp_path / "m.ang", np.zeros((1, 2, 3)), np.ones((1, 2), int)))
    with pytest.raises(EBSDError, match="quality map 'MAD' is not in this EBSD map"):
        mask_by_quality(ebsd, "MAD", maximum=1.0)
    with pytest.raises(EBSDError, match="needs minimum, maximum or both"):
        mask_by_quality(ebsd, "ci")
    with pytest.raises(EBSDError, match="no indexed pixel"):
        mask_by_quality(ebsd, "ci", minimum=0.95)


# ------------------------------------------------------------ bad input


@pytest.mark.parametrize("ext", [".ang", ".ctf", ".h5"])
def test_text_file_renamed_to_ebsd_extension(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"notes{ext}"
    path.write_text("hello world\nthis is not an EBSD map\n")
    with pytest.raises(EBSDError, match=f"notes\\{ext} could not be read as an EBSD map"):
        read_ebsd(path)


@pytest.mark.parametrize("ext", [".ang", ".ctf", ".h5"])
def test_png_renamed_to_ebsd_extension(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"image{ext}"
    path.write_bytes(png_bytes())
    with pytest.raises(EBSDError, match="could not be read as an EBSD map"):
        read_ebsd(path)


def test_png_renamed_to_cpr(tmp_path: Path) -> None:
    pytest.importorskip("defdap")
    (tmp_path / "image.cpr").write_bytes(png_bytes())
    (tmp_path / "image.crc").write_bytes(png_bytes())
    with pytest.raises(EBSDError, match="could not be read as an Oxford binary EBSD map"):
        read_ebsd(tmp_path / "image.cpr")


def test_every_pixel_non_indexed(tmp_path: Path) -> None:
    ang = write_ang(
        tmp_path / "a.ang", np.zeros((2, 2, 3)), np.ones((2, 2), int), ci=-np.ones((2, 2))
    )
    with pytest.raises(EBSDError, match="a.ang: the EBSD map has no indexed pixel"):
        read_ebsd(ang)
    ctf = write_ctf(tmp_path / "c.ctf", np.zeros((2, 2, 3)), np.zeros((2, 2), int))
    with pytest.raises(EBSDError, match="c.ctf: the EBSD map has no indexed pixel"):
        read_ebsd(ctf)


def test_missing_step_size(tmp_path: Path, shared_data: Path) -> None:
    ang = write_ang(tmp_path / "z.ang", np.zeros((2, 3, 3)), np.ones((2, 3), int), zero_xy=True)
    with pytest.raises(EBSDError, match="z.ang: missing step size"):
        read_ebsd(ang)
    pytest.importorskip("defdap")
    src = shared_data / "ebsd" / "defdap_ni"
    cpr = (src / "testDataEBSD.cpr").read_text()
    (tmp_path / "o.cpr").write_text(
        "\n".join(l for l in cpr.splitlines() if not l.startswith("GridDistX"))
    )
    shutil.copy(src / "testDataEBSD.crc", tmp_path / "o.crc")
    with pytest.raises(EBSDError, match="o.cpr: missing step size \\(GridDistX"):
        read_ebsd(tmp_path / "o.cpr")


def test_hexgrid_without_xstep(tmp_path: Path) -> None:
    path = write_hex_ang(tmp_path / "h.ang")
    path.write_text(path.read_text().replace("# XSTEP: 1.000000\n", ""))
    with pytest.raises(
        EBSDError, match="h.ang: missing step size: the header has no positive XSTEP"
    ):
        read_ebsd(path)


def test_unknown_phase_symmetry(tmp_path: Path, shared_data: Path) -> None:
    ang = write_ang(tmp_path / "s.ang", np.zeros((2, 2, 3)), np.ones((2, 2), int), symmetry="99")
    with pytest.raises(EBSDError, match="s.ang: unknown phase symmetry"):
        read_ebsd(ang)
    pytest.importorskip("defdap")
    src = shared_data / "ebsd" / "defdap_ni"
    (tmp_path / "o.cpr").write_text(
        (src / "testDataEBSD.cpr").read_text().replace("LaueGroup=11", "LaueGroup=42")
    )
    shutil.copy(src / "testDataEBSD.crc", tmp_path / "o.crc")
    with pytest.raises(EBSDError, match="o.cpr: unknown phase symmetry"):
        read_ebsd(tmp_path / "o.crc")


@pytest.mark.parametrize("name", ["map.txt", "map.png", "map"])
def test_unsupported_extension_lists_supported(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("x")
    with pytest.raises(
        EBSDError, match="unsupported EBSD file extension.*supported: \\.ang, \\.ctf, \\.h5"
    ):
        read_ebsd(path)
    assert ".cpr" in SUPPORTED_EBSD_EXTENSIONS


def test_missing_files(tmp_path: Path, shared_data: Path) -> None:
    with pytest.raises(EBSDError, match="EBSD file not found: .*nope.ang"):
        read_ebsd(tmp_path / "nope.ang")
    shutil.copy(shared_data / "ebsd" / "defdap_ni" / "testDataEBSD.cpr", tmp_path / "half.cpr")
    with pytest.raises(EBSDError, match="EBSD file not found: .*half.crc .*needs both"):
        read_ebsd(tmp_path / "half.cpr")
