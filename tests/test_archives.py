"""Uploads and zip archives: base names, zip slip, size bombs, masks zip."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from grainseg_core.archives import (
    ArchiveError,
    ArchiveLimits,
    collect_files,
    is_zip,
    masks_zip,
    write_zip,
)
from grainseg_core.errors import InputError
from grainseg_core.io import read_image


def _zip(members: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_plain_uploads_are_keyed_by_base_name_first_wins():
    bundle = collect_files([("dir/a.png", b"1"), ("C:\\x\\b.csv", b"2"), ("other/a.png", b"3")])
    assert list(bundle.files) == ["a.png", "b.csv"]
    assert bundle.files["a.png"].data == b"1"
    assert bundle.files["a.png"].suffix == ".png"
    assert len(bundle.notes) == 1 and "came first" in bundle.notes[0]
    assert bundle.data() == {"a.png": b"1", "b.csv": b"2"}
    assert list(bundle.with_suffix(".PNG")) == ["a.png"]


def test_zip_members_are_expanded_and_unsafe_ones_refused():
    data = _zip(
        {
            "set/IMG_1.png": b"one",
            "../evil.png": b"x",
            "/etc/passwd": b"x",
            "C:/win.png": b"x",
            "a/../../up.png": b"x",
            "__MACOSX/set/._IMG_1.png": b"fork",
            "set/.hidden": b"h",
            "set/sub/": b"",
            "set/poly.csv": b"image_url;point;polygon",
        }
    )
    bundle = collect_files([("upload.zip", data)])
    assert sorted(bundle.files) == ["IMG_1.png", "poly.csv"]
    assert bundle.files["IMG_1.png"].origin == "upload.zip:set/IMG_1.png"
    notes = "\n".join(bundle.notes)
    assert notes.count("zip slip") == 4
    assert "macOS resource fork" in notes and "hidden file" in notes
    # expand_zips=False keeps the archive as one file
    kept = collect_files([("upload.zip", data)], expand_zips=False)
    assert list(kept.files) == ["upload.zip"]


def test_is_zip_by_content_not_name():
    assert is_zip(_zip({"a": b"1"}))
    assert not is_zip(b"\x89PNG\r\n")
    assert list(collect_files([("fake.zip", b"not a zip")]).files) == ["fake.zip"]


def test_corrupt_zip_raises():
    data = _zip({"a.png": b"1" * 100})
    broken = data[:30] + b"\x00" * 10 + data[40:60]
    with pytest.raises(ArchiveError, match="not a readable zip"):
        collect_files([("x.zip", broken)])


def test_zip_bomb_by_ratio_is_refused():
    bomb = _zip({"big.tif": b"\0" * (8 * 1024 * 1024)})
    assert len(bomb) < 100_000
    with pytest.raises(ArchiveError, match="compressed .*zip bomb"):
        collect_files([("bomb.zip", bomb)])


def test_member_over_size_limits_is_refused():
    data = _zip({"a.png": b"x" * 5000}, compression=zipfile.ZIP_STORED)
    with pytest.raises(ArchiveError, match="MiB allowed per file"):
        collect_files([("a.zip", data)], limits=ArchiveLimits(max_file_bytes=4000))
    with pytest.raises(ArchiveError, match="would unpack to"):
        collect_files([("a.zip", data)], limits=ArchiveLimits(max_total_bytes=4000))
    with pytest.raises(ArchiveError, match="more than 1 files"):
        collect_files([("a", b"1"), ("b", b"2")], limits=ArchiveLimits(max_files=1))


def test_forged_header_size_drops_the_member():
    data = bytearray(_zip({"a.png": b"y" * 3000}, compression=zipfile.ZIP_STORED))
    # Understate the uncompressed size in the central directory (offset 24 of its entry).
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (10).to_bytes(4, "little")
    # zipfile stops at the declared size and the CRC then fails: the member is dropped.
    bundle = collect_files([("forged.zip", bytes(data))])
    assert "a.png" not in bundle.files
    assert "could not be unpacked" in bundle.notes[0]


def test_limits_and_inputs_are_validated():
    with pytest.raises(InputError, match="max_files must be an integer >= 1"):
        ArchiveLimits(max_files=0)
    with pytest.raises(InputError, match="max_ratio"):
        ArchiveLimits(max_ratio=0.5)
    with pytest.raises(InputError, match="must be a \\(name, bytes\\) pair"):
        collect_files([b"abc"])
    with pytest.raises(InputError, match="content must be bytes"):
        collect_files([("a.png", "text")])
    with pytest.raises(InputError, match="limits must be an ArchiveLimits"):
        collect_files([], limits={"max_files": 3})


def test_write_zip_and_masks_zip_round_trip():
    data = write_zip({"dir/a b.txt": b"hi", "c.bin": b"\x00"})
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["a_b.txt", "c.bin"]
        assert zf.read("a_b.txt") == b"hi"
    with pytest.raises(InputError, match="stored as 'a.txt'"):
        write_zip({"x/a.txt": b"1", "y/a.txt": b"2"})
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:9] = True
    out = masks_zip({"IMG_1.jpg": mask, "plain": ~mask})
    with zipfile.ZipFile(io.BytesIO(out)) as zf:
        assert zf.namelist() == ["IMG_1_mask.png", "plain_mask.png"]
        image, _ = read_image(zf.read("IMG_1_mask.png"))
    np.testing.assert_array_equal(image, mask.astype(np.uint8) * 255)
