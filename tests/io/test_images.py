"""Image reading (formats, dtypes, colour, pixel size), bad input, writers, normalisation."""

from __future__ import annotations

import io
import struct
import tracemalloc
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

import grainseg_core.io
from grainseg_core.errors import (
    GrainsegWarning,
    ImageReadError,
    ImageTooLargeError,
    InputError,
    UnsupportedFormatError,
)
from grainseg_core.io import (
    ImageMeta,
    normalization_levels,
    normalize_image,
    normalize_to_levels,
    read_image,
    write_image,
    write_labels,
    write_mask,
)


# --------------------------------------------------------------------------- helpers
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _handmade_png(
    width: int, height: int, *, rows: bytes | None = None, phys: bytes = b""
) -> bytes:
    """An 8-bit gray PNG whose IHDR declares width x height; ``rows`` the raw scanlines."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    if rows is None:
        rows = b"".join(b"\x00" + bytes(width) for _ in range(min(height, 4)))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + (_png_chunk(b"pHYs", phys) if phys else b"")
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


def _pil_bytes(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _tiff_bytes(data: np.ndarray, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, data, **kwargs)
    return buf.getvalue()


# Pure colours and their BT.709 luma, rounded: 0.2126, 0.7152, 0.0722 of full scale.
RGB = np.zeros((8, 8, 3), np.uint8)
RGB[:, 0:2] = (255, 0, 0)
RGB[:, 2:4] = (0, 255, 0)
RGB[:, 4:6] = (0, 0, 255)
RGB[:, 6:8] = (100, 150, 200)
LUMA_ROW = [54, 54, 182, 182, 18, 18, 143, 143]  # 21.26+107.28+14.44 = 142.98 -> 143


# --------------------------------------------------------------------------- formats
def test_png_8_and_16_bit_gray_keep_dtype_and_values() -> None:
    gray8 = (np.arange(80).reshape(8, 10) * 3).astype(np.uint8)
    image, meta = read_image(_pil_bytes(Image.fromarray(gray8), "PNG"), name="g8.png")
    np.testing.assert_array_equal(image, gray8)
    assert image.flags.writeable and image.flags.owndata  # not a view into Pillow's buffer
    assert isinstance(meta, ImageMeta)
    assert (meta.format, meta.shape, meta.dtype, meta.bit_depth, meta.mode, meta.channels) == (
        "PNG",
        (8, 10),
        "uint8",
        8,
        "L",
        1,
    )
    assert meta.source_name == "g8.png" and meta.n_pages == 1 and meta.conversion is None

    gray16 = (np.arange(80).reshape(8, 10) * 800).astype(np.uint16)
    image, meta = read_image(_pil_bytes(Image.fromarray(gray16), "PNG"))
    np.testing.assert_array_equal(image, gray16)
    assert image.dtype == np.uint16 and meta.bit_depth == 16


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_png_colour_becomes_bt709_luma_alpha_ignored(mode: str) -> None:
    data = RGB if mode == "RGB" else np.dstack([RGB, np.arange(64, dtype=np.uint8).reshape(8, 8)])
    image, meta = read_image(_pil_bytes(Image.fromarray(data, mode), "PNG"))
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image[0], LUMA_ROW)
    assert meta.mode == mode and meta.channels == len(mode)
    assert "BT.709" in meta.conversion
    assert ("alpha ignored" in meta.conversion) == (mode == "RGBA")


def test_png_16_bit_rgb_keeps_16_bits() -> None:
    rgb16 = RGB.astype(np.uint16) * 257  # full scale 65535
    ok, encoded = cv2.imencode(".png", rgb16[:, :, ::-1])  # OpenCV writes BGR
    assert ok
    image, meta = read_image(encoded.tobytes())
    assert image.dtype == np.uint16 and meta.bit_depth == 16 and meta.channels == 3
    expected = np.rint(rgb16[0].astype(float) @ [0.2126, 0.7152, 0.0722])
    np.testing.assert_allclose(image[0], expected, atol=1)


def test_gray_saved_as_rgb_and_gray_palette_are_exact() -> None:
    gray = (np.arange(64).reshape(8, 8) * 4).astype(np.uint8)
    image, meta = read_image(_pil_bytes(Image.fromarray(np.dstack([gray] * 3)), "PNG"))
    np.testing.assert_array_equal(image, gray)
    assert meta.conversion == "RGB with equal channels: R kept"

    palette = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8), "P")
    palette.putpalette([v for i in range(256) for v in (255 - i,) * 3])  # inverted gray
    image, meta = read_image(_pil_bytes(palette, "PNG"))
    np.testing.assert_array_equal(image, 255 - np.arange(64).reshape(8, 8))
    assert meta.mode == "P"


def test_colour_palette_goes_through_luma() -> None:
    palette = Image.fromarray(np.array([[0, 1, 2, 3] * 2] * 8, np.uint8), "P")
    palette.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 100, 150, 200])
    image, _ = read_image(_pil_bytes(palette, "PNG"))
    np.testing.assert_array_equal(image[0, :4], [54, 182, 18, 143])


def test_bmp_and_jpeg() -> None:
    image, meta = read_image(_pil_bytes(Image.fromarray(RGB), "BMP"))
    np.testing.assert_array_equal(image[0], LUMA_ROW)
    assert meta.format == "BMP"
    smooth = np.tile(np.linspace(0, 255, 16).astype(np.uint8), (16, 1))
    image, meta = read_image(_pil_bytes(Image.fromarray(smooth), "JPEG", quality=95))
    assert meta.format == "JPEG" and image.dtype == np.uint8 and image.shape == (16, 16)
    assert np.abs(image.astype(int) - smooth).max() <= 8  # lossy


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.int16, np.float64])
def test_tiff_gray_keeps_native_dtype(dtype: type) -> None:
    data = (np.arange(120).reshape(10, 12) * 3).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        data = data / 7.0 - 3.5
    image, meta = read_image(_tiff_bytes(data))
    assert image.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(image, data)
    assert meta.format == "TIFF" and meta.bit_depth == np.dtype(dtype).itemsize * 8


def test_tiff_rgb_rgba_planar_palette_miniswhite() -> None:
    image, meta = read_image(_tiff_bytes(RGB, photometric="rgb"))
    np.testing.assert_array_equal(image[0], LUMA_ROW)
    assert (meta.mode, meta.channels) == ("RGB", 3)

    rgba = np.dstack([RGB, np.full((8, 8), 9, np.uint8)])
    image, meta = read_image(_tiff_bytes(rgba, photometric="rgb", extrasamples=["unassalpha"]))
    np.testing.assert_array_equal(image[0], LUMA_ROW)
    assert meta.channels == 4 and "alpha ignored" in meta.conversion

    rgb16 = RGB.astype(np.uint16) * 257
    image, _ = read_image(
        _tiff_bytes(np.moveaxis(rgb16, -1, 0), photometric="rgb", planarconfig="separate")
    )
    assert image.dtype == np.uint16
    np.testing.assert_allclose(image[0], np.rint(rgb16[0] @ [0.2126, 0.7152, 0.0722]), atol=1)

    colormap = np.tile(np.arange(256, dtype=np.uint16) * 257, (3, 1))
    index = np.arange(64, dtype=np.uint8).reshape(8, 8)
    image, meta = read_image(_tiff_bytes(index, photometric="palette", colormap=colormap))
    np.testing.assert_array_equal(image, index)
    assert meta.mode == "palette" and image.dtype == np.uint8

    image, meta = read_image(_tiff_bytes(index, photometric="miniswhite"))
    np.testing.assert_array_equal(image, 255 - index)


def test_lzw_tiff_is_read_without_imagecodecs() -> None:
    data = (np.arange(100).reshape(10, 10) * 600).astype(np.uint16)
    image, meta = read_image(_pil_bytes(Image.fromarray(data), "TIFF", compression="tiff_lzw"))
    np.testing.assert_array_equal(image, data)
    assert image.dtype == np.uint16


def test_multi_page_tiff_reads_first_page_with_warning() -> None:
    stack = np.stack([np.full((8, 9), k, np.uint16) for k in (1, 2, 3)])
    data = _tiff_bytes(stack, photometric="minisblack", metadata=None)
    with pytest.warns(
        GrainsegWarning, match=r"'stack\.tif' has 3 pages; only the first \(9x8\) was read"
    ):
        image, meta = read_image(data, name="stack.tif")
    assert meta.n_pages == 3 and image.shape == (8, 9) and (image == 1).all()


def test_animated_png_reads_first_frame_with_warning() -> None:
    frames = [Image.new("L", (8, 8), v) for v in (10, 20)]
    buf = io.BytesIO()
    frames[0].save(buf, format="PNG", save_all=True, append_images=frames[1:])
    with pytest.warns(GrainsegWarning, match=r"'a\.png' has 2 frames; only the first \(8x8\)"):
        image, meta = read_image(buf.getvalue(), name="a.png")
    assert meta.n_pages == 2 and (image == 10).all()


def test_path_and_file_object_sources(tmp_path: Path) -> None:
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, np.ones((8, 8), np.uint8))
    image, meta = read_image(path)
    assert meta.source_name == "x.tif" and image.sum() == 64
    with path.open("rb") as fh:
        assert read_image(fh)[1].source_name == "x.tif"
    assert read_image(str(path), name="upload.tif")[1].source_name == "upload.tif"


# --------------------------------------------------------------------------- pixel size
def test_pixel_size_from_fei_thermo_metadata() -> None:
    fei = (
        "[User]\nDate=01/02/2024\n[Beam]\nHV=15000\n"
        "[Scan]\nPixelWidth=1.5625e-08\nPixelHeight=1.5625e-08\n"
    )
    data = _tiff_bytes(np.zeros((8, 8), np.uint16), extratags=[(34682, "s", 0, fei, True)])
    # tifffile parses the tag we wrote (its FEI_HELIOS reader), not a hand parser.
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        assert tif.is_fei and tif.fei_metadata["Scan"]["PixelWidth"] == 1.5625e-08
    _, meta = read_image(data)
    assert meta.pixel_size_um == pytest.approx(0.015625)
    assert meta.pixel_size_source == "FEI/Thermo SEM metadata [Scan] PixelWidth = 1.5625e-08 m"


@pytest.mark.parametrize(
    ("line", "expected_um"),
    [("Image Pixel Size = 12.5 nm", 0.0125), ("Image Pixel Size = 1.2 \u00b5m", 1.2)],
)
def test_pixel_size_from_zeiss_metadata(line: str, expected_um: float) -> None:
    cz_sem = (
        f"0\n0\nAP_WD\nWD = 8.5 mm\nAP_IMAGE_PIXEL_SIZE\n{line}\n"
        "DP_DETECTOR_CHANNEL\nSignal A = SE2\n"
    )
    # Zeiss writes the micro sign as one latin-1 byte (0xB5), so the tag is raw bytes.
    raw = cz_sem.encode("latin-1")
    data = _tiff_bytes(np.zeros((8, 8), np.uint8), extratags=[(34118, "B", len(raw), raw, True)])
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        assert tif.is_sem and tif.sem_metadata["ap_image_pixel_size"][0] == "Image Pixel Size"
    _, meta = read_image(data)
    assert meta.pixel_size_um == pytest.approx(expected_um)
    assert meta.pixel_size_source.startswith("Zeiss SEM metadata Image Pixel Size = ")


def test_pixel_size_of_real_zeiss_sem_tiff(shared_data: Path) -> None:
    path = shared_data / "nist_steel" / "sem_alpha_beta_ti_6al_4v.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    image, meta = read_image(path)
    assert image.shape == (768, 1024) and image.dtype == np.uint8
    assert meta.pixel_size_um == pytest.approx(0.1116)  # "Image Pixel Size = 111.6 nm"
    assert meta.conversion == "RGB with equal channels: R kept"


@pytest.mark.parametrize(
    ("resolution", "unit", "expected"),
    [
        ((10000, 10000), "CENTIMETER", 1.0),
        ((50800, 50800), "INCH", 0.5),
        ((72, 72), "INCH", None),  # editor default, not a scale
        ((96, 96), "INCH", None),
        ((500, 500), "NONE", None),  # no unit: no scale
    ],
)
def test_pixel_size_from_tiff_resolution_tags(resolution, unit, expected) -> None:
    data = _tiff_bytes(np.zeros((8, 8), np.uint8), resolution=resolution, resolutionunit=unit)
    _, meta = read_image(data)
    if expected is None:
        assert meta.pixel_size_um is None and meta.pixel_size_source is None
    else:
        assert meta.pixel_size_um == pytest.approx(expected)
        assert meta.pixel_size_source.startswith("TIFF XResolution = ")


def test_pixel_size_from_imagej_tiff() -> None:
    data = _tiff_bytes(
        np.zeros((8, 8), np.float32), imagej=True, resolution=(4.0, 4.0), metadata={"unit": "um"}
    )
    _, meta = read_image(data)
    assert meta.pixel_size_um == pytest.approx(0.25)
    assert meta.pixel_size_source == "ImageJ metadata: 4 px per um"


def test_pixel_size_from_png_phys() -> None:
    phys = struct.pack(">IIB", 2_000_000, 2_000_000, 1)  # 2e6 px per metre = 0.5 um
    _, meta = read_image(_handmade_png(8, 8, phys=phys))
    assert meta.pixel_size_um == pytest.approx(0.5)
    assert meta.pixel_size_source == "PNG pHYs = 2000000 px/m"
    no_unit = struct.pack(">IIB", 2_000_000, 2_000_000, 0)  # aspect ratio only
    assert read_image(_handmade_png(8, 8, phys=no_unit))[1].pixel_size_um is None
    dpi72 = struct.pack(">IIB", 2835, 2835, 1)  # 72 dpi default
    assert read_image(_handmade_png(8, 8, phys=dpi72))[1].pixel_size_um is None


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_write_image_round_trips_pixel_size(tmp_path: Path, suffix: str) -> None:
    data = (np.arange(64).reshape(8, 8) * 1000).astype(np.uint16)
    write_image(tmp_path / f"a{suffix}", data, pixel_size_um=0.2252)
    image, meta = read_image(tmp_path / f"a{suffix}")
    np.testing.assert_array_equal(image, data)
    assert meta.pixel_size_um == pytest.approx(0.2252, rel=1e-6)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("content", "error", "match"),
    [
        (b"", ImageReadError, r"'x\.png' is empty \(0 bytes\).*Choose the file again"),
        (
            b"hello, I am a text file\n",
            ImageReadError,
            r"'x\.png' is not an image: it holds text \(starting 'hello, I am a text file'\), "
            r"although "
            r"its name ends in '\.png'",
        ),
        (
            b"%PDF-1.7\n%...",
            UnsupportedFormatError,
            r"'x\.png' is a PDF document, which grainseg does not read; "
            r"grainseg reads PNG, JPEG, BMP and TIFF",
        ),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", UnsupportedFormatError, r"is a WebP image"),
        (
            bytes(range(200, 256)) * 2,
            ImageReadError,
            r"not an image grainseg recognises \(first bytes c8 c9",
        ),
    ],
)
def test_bad_content(content: bytes, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        read_image(content, name="x.png")


def test_gif_animation_is_unsupported() -> None:
    frames = [Image.new("L", (8, 8), v) for v in (0, 128, 255)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(
        UnsupportedFormatError,
        match=r"'a\.gif' is a GIF image or animation, which grainseg does not read; "
        r"grainseg reads PNG, JPEG, BMP and TIFF",
    ):
        read_image(buf.getvalue(), name="a.gif")


def test_truncated_png() -> None:
    full = _pil_bytes(
        Image.fromarray((np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)), "PNG"
    )
    with pytest.raises(
        ImageReadError,
        match=r"'cut\.png' could not be decoded as PNG: the file is truncated or corrupt",
    ):
        read_image(full[: len(full) // 2], name="cut.png")
    with pytest.raises(
        ImageReadError, match=r"'cut\.png' could not be read as PNG: its header is broken"
    ):
        read_image(full[:20], name="cut.png")


def test_truncated_tiff() -> None:
    full = _tiff_bytes(np.ones((64, 64), np.uint16))
    with pytest.raises(ImageReadError, match=r"'cut\.tif' could not be (read|decoded) as TIFF"):
        read_image(full[:100], name="cut.tif")


@pytest.mark.parametrize(
    ("size", "match"),
    [
        ((0, 0), r"'z\.png' has no pixels \(0x0\)"),
        ((1, 1), r"'z\.png' is 1x1 pixels, too small to segment: grainseg needs at least 8x8"),
        ((100, 7), r"is 100x7 pixels, too small"),
    ],
)
def test_empty_and_tiny_images(size: tuple[int, int], match: str) -> None:
    with pytest.raises(ImageReadError, match=match):
        read_image(_handmade_png(*size), name="z.png")
    if min(size) > 0:  # the same rule for TIFF, from its page header
        with pytest.raises(ImageReadError, match=match.replace("png", "tif")):
            read_image(_tiff_bytes(np.zeros(size[::-1], np.uint8)), name="z.tif")


def test_pixel_limit_from_header() -> None:
    data = _pil_bytes(Image.new("L", (40, 30)), "PNG")
    with pytest.raises(
        ImageTooLargeError,
        match=r"'big\.png' has 1,200 pixels \(40x30\), more than the limit of 1,000\. "
        r"Raise the limit with read_image\(\.\.\., max_pixels=1200\) "
        r"or the environment variable GRAINSEG_MAX_PIXELS=1200",
    ):
        read_image(data, max_pixels=1000, name="big.png")
    assert read_image(data, max_pixels=1200)[0].shape == (30, 40)
    for payload in (
        _tiff_bytes(np.zeros((30, 40), np.uint8)),
        _pil_bytes(Image.new("L", (40, 30)), "JPEG"),
    ):
        with pytest.raises(ImageTooLargeError, match=r"more than the limit of 1,000"):
            read_image(payload, max_pixels=1000)
    with pytest.raises(InputError, match=r"max_pixels must be a positive number"):
        read_image(data, max_pixels=0)


def test_pixel_limit_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAINSEG_MAX_PIXELS", "100")
    with pytest.raises(ImageTooLargeError, match=r"more than the limit of 100\b"):
        read_image(_pil_bytes(Image.new("L", (20, 20)), "PNG"))


def _patched_tiff(width: int, height: int) -> bytes:
    """An 8x8 TIFF whose ImageWidth/ImageLength tags are rewritten to declare another size."""
    data = bytearray(_tiff_bytes(np.zeros((8, 8), np.uint8)))
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        tags = tif.pages.first.tags
        spots = [(tags["ImageWidth"], width), (tags["ImageLength"], height)]
        for tag, value in spots:
            fmt = "<H" if tag.dtype == 3 else "<I"
            struct.pack_into(fmt, data, tag.valueoffset, value)
    return bytes(data)


def _patched_jpeg(width: int, height: int) -> bytes:
    """A 16x16 JPEG whose SOF0 header is rewritten to declare another size."""
    data = bytearray(_pil_bytes(Image.new("L", (16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        # PNG declaring 100,000 x 100,000 pixels (10 GB once decoded) in a few dozen bytes.
        (
            _handmade_png(100_000, 100_000, rows=b"\x00" * 16),
            r"10,000,000,000 pixels \(100000x100000\)",
        ),
        (_patched_tiff(60_000, 60_000), r"3,600,000,000 pixels \(60000x60000\)"),
        # 3.6 GP is past Pillow's own bomb limit: Pillow must neither warn nor raise its error.
        (_patched_jpeg(60_000, 60_000), r"3,600,000,000 pixels \(60000x60000\)"),
    ],
    ids=["png", "tiff", "jpeg"],
)
def test_decompression_bomb_is_refused_before_any_allocation(payload: bytes, match: str) -> None:
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # neither grainseg nor Pillow may warn
            with pytest.raises(ImageTooLargeError, match=match):
                read_image(payload, name="bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # bytes: nothing image-sized was allocated


def test_missing_path_and_directory(tmp_path: Path) -> None:
    with pytest.raises(
        ImageReadError, match=r"image file '.*nope\.tif' does not exist; check the path"
    ):
        read_image(tmp_path / "nope.tif")
    with pytest.raises(ImageReadError, match=r"image file '.*' is a folder, not a file"):
        read_image(tmp_path)
    with pytest.raises(
        InputError, match=r"source must be a file path, bytes or a binary file object; got int"
    ):
        read_image(42)


def test_cmyk_and_3d_tiff_are_unsupported() -> None:
    cmyk = _tiff_bytes(np.zeros((8, 8, 4), np.uint8), photometric="separated")
    with pytest.raises(
        UnsupportedFormatError, match=r"is a CMYK TIFF.*save it as grayscale or RGB"
    ):
        read_image(cmyk, name="c.tif")
    volume = _tiff_bytes(
        np.zeros((3, 8, 8, 4), np.uint8), photometric="rgb", volumetric=True, tile=(16, 16)
    )
    with pytest.raises(UnsupportedFormatError, match=r"the first TIFF page has axes ZYXS"):
        read_image(volume, name="v.tif")


# --------------------------------------------------------------------------- writers
def test_write_mask_is_8_bit_0_255(tmp_path: Path) -> None:
    mask = np.zeros((8, 10), bool)
    mask[2:5, 3:8] = True
    write_mask(tmp_path / "m.png", mask)
    image, meta = read_image(tmp_path / "m.png")
    assert image.dtype == np.uint8 and meta.format == "PNG"
    np.testing.assert_array_equal(image, mask.astype(np.uint8) * 255)
    write_mask(tmp_path / "m2.png", mask.astype(np.uint8) * 7)  # > 0 counts as True
    np.testing.assert_array_equal(read_image(tmp_path / "m2.png")[0], image)
    with pytest.raises(InputError, match=r"a mask must be written to a \.png file; got 'm\.tif'"):
        write_mask(tmp_path / "m.tif", mask)
    with pytest.raises(InputError, match=r"folder '.*no_dir' does not exist"):
        write_mask(tmp_path / "no_dir" / "m.png", mask)


def test_write_labels_16_bit_tiff(tmp_path: Path) -> None:
    labels = np.arange(80, dtype=np.int32).reshape(8, 10) * 800
    write_labels(tmp_path / "l.tif", labels)
    image, meta = read_image(tmp_path / "l.tif")
    assert image.dtype == np.uint16 and meta.bit_depth == 16
    np.testing.assert_array_equal(image, labels)
    too_many = np.full((8, 8), 70_000, np.int32)
    with pytest.raises(
        InputError, match=r"labels has maximum 70,000, more than the 65,535 a 16-bit TIFF"
    ):
        write_labels(tmp_path / "l.tif", too_many)
    with pytest.raises(InputError, match=r"labels must be >= 0"):
        write_labels(tmp_path / "l.tif", -np.ones((8, 8), np.int32))
    with pytest.raises(InputError, match=r"labels must be an integer array; got dtype float64"):
        write_labels(tmp_path / "l.tif", np.ones((8, 8)))


def test_write_image_validation(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"writes \.tif, \.tiff or \.png files; got '\.jpg'"):
        write_image(tmp_path / "a.jpg", np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match=r"PNG holds uint8 or uint16 images; got dtype float32"):
        write_image(tmp_path / "a.png", np.zeros((8, 8), np.float32))
    with pytest.raises(InputError, match=r"format .* is needed when writing to a file object"):
        write_image(io.BytesIO(), np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match=r"pixel_size_um must be a positive"):
        write_image(tmp_path / "a.tif", np.zeros((8, 8), np.uint8), pixel_size_um=-1)
    write_image(tmp_path / "f.tif", np.full((8, 8), 0.5, np.float32))
    assert read_image(tmp_path / "f.tif")[0].dtype == np.float32


# --------------------------------------------------------------------------- normalisation
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_percentile_normalisation_matches_numpy(dtype: type) -> None:
    rng = np.random.default_rng(1)
    top = 200 if dtype == np.uint8 else 60000
    image = rng.integers(0, top, size=(50, 70)).astype(dtype)
    out = normalize_image(image, percentiles=(2, 98))
    lo, hi = np.percentile(image, (2, 98))
    expected = np.clip((image.astype(np.float64) - lo) / (hi - lo), 0, 1)
    assert out.dtype == np.float32 and out.shape == image.shape
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert out.min() == 0.0 and out.max() == 1.0


def test_dtype_and_minmax_normalisation() -> None:
    u8 = np.array([[0, 51], [102, 255]], np.uint8)
    np.testing.assert_allclose(normalize_image(u8, method="dtype"), [[0, 0.2], [0.4, 1.0]])
    u16 = np.array([[0, 65535], [13107, 0]], np.uint16)
    np.testing.assert_allclose(normalize_image(u16, method="dtype"), [[0, 1], [0.2, 0]])
    f = np.array([[-0.5, 0.25], [0.75, 2.0]], np.float32)
    np.testing.assert_allclose(normalize_image(f, method="dtype"), [[0, 0.25], [0.75, 1.0]])
    np.testing.assert_allclose(
        normalize_image(f, method="minmax"), [[0, 0.3], [0.5, 1.0]], atol=1e-7
    )
    assert not normalize_image(np.full((4, 4), 7, np.uint16)).any()  # constant -> zeros
    withnan = np.array([[0.0, np.nan], [1.0, 2.0]], np.float32)
    np.testing.assert_allclose(normalize_image(withnan, method="minmax"), [[0, 0], [0.5, 1]])


def test_normalisation_validation() -> None:
    with pytest.raises(
        InputError, match=r"unknown normalisation method 'min-max'; did you mean 'minmax'"
    ):
        normalize_image(np.zeros((4, 4)), method="min-max")
    with pytest.raises(
        InputError, match=r"percentiles must satisfy 0 <= low < high <= 100; got \(99\.0, 1\.0\)"
    ):
        normalize_image(np.zeros((4, 4)), percentiles=(99, 1))
    with pytest.raises(InputError, match=r"image must be a 2-D array"):
        normalize_image(np.zeros((4, 4, 3)))
    with pytest.raises(InputError, match=r"image must hold real numbers; got dtype complex128"):
        normalize_image(np.zeros((4, 4), complex))


def test_normalization_levels_known_answers() -> None:
    ramp = np.arange(101, dtype=np.uint8).reshape(1, -1)
    assert normalization_levels(ramp, percentiles=(10, 90)) == (10.0, 90.0)
    assert normalization_levels(ramp, percentiles=(0.5, 99.5)) == (0.5, 99.5)
    assert normalization_levels(ramp, method="minmax") == (0.0, 100.0)
    assert normalization_levels(ramp, method="dtype") == (0.0, 255.0)
    assert normalization_levels(ramp.astype(np.int16), method="dtype") == (-32768.0, 32767.0)
    assert normalization_levels(ramp.astype(np.float32), method="dtype") == (0.0, 1.0)
    assert normalization_levels(np.array([[True, False]]), method="minmax") == (0.0, 1.0)
    withnan = np.array([[np.nan, 2.0], [-np.inf, 6.0]], np.float32)
    assert normalization_levels(withnan, method="minmax") == (2.0, 6.0)
    assert normalization_levels(np.full((2, 2), np.nan), method="minmax") == (0.0, 0.0)
    lo, hi = normalization_levels(ramp)
    assert type(lo) is float and type(hi) is float


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("method", ["percentile", "minmax", "dtype"])
def test_normalize_image_maps_its_levels_to_0_and_1(dtype: type, method: str) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 250, size=(40, 30)).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        image /= 250
    lo, hi = normalization_levels(image, method=method, percentiles=(5, 95))
    out = normalize_image(image, method=method, percentiles=(5, 95))
    scaled = np.clip((image.astype(np.float64) - lo) / (hi - lo), 0, 1)
    np.testing.assert_allclose(out, scaled, atol=1e-6)


def test_normalization_levels_validation() -> None:
    with pytest.raises(InputError, match=r"unknown normalisation method 'percentiles'"):
        normalization_levels(np.zeros((4, 4)), method="percentiles")
    with pytest.raises(InputError, match=r"percentiles must satisfy 0 <= low < high <= 100"):
        normalization_levels(np.zeros((4, 4)), percentiles=(5, 105))
    with pytest.raises(InputError, match=r"percentiles must be two numbers \(low, high\)"):
        normalization_levels(np.zeros((4, 4)), percentiles=5)
    with pytest.raises(InputError, match=r"image must be a 2-D array"):
        normalization_levels(np.zeros(4))
    with pytest.raises(InputError, match=r"image must hold real numbers; got dtype <U1"):
        normalization_levels(np.array([["a"]]))


def test_io_package_exports_what_its_modules_export() -> None:
    from grainseg_core.io import annotations, images

    assert grainseg_core.io.__all__ == [*images.__all__, *annotations.__all__]
    assert all(hasattr(grainseg_core.io, name) for name in grainseg_core.io.__all__)


def test_normalize_to_levels_scales_a_crop_as_its_whole_image() -> None:
    rng = np.random.default_rng(4)
    image = rng.integers(0, 4000, size=(60, 80)).astype(np.uint16)
    for method in ("percentile", "minmax"):
        whole = normalize_image(image, method=method)
        levels = normalization_levels(image, method=method)
        assert np.array_equal(normalize_to_levels(image, levels), whole)
        assert np.array_equal(normalize_to_levels(image[10:30, 5:45], levels), whole[10:30, 5:45])
    np.testing.assert_array_equal(
        normalize_to_levels(np.array([[0, 50], [100, 300]], np.uint16), (0, 200)),
        np.array([[0, 0.25], [0.5, 1.0]], np.float32),
    )
    assert not normalize_to_levels(np.ones((3, 3)), (5.0, 5.0)).any()  # high <= low: zeros
    with pytest.raises(InputError, match=r"levels must be two numbers \(low, high\); got 3"):
        normalize_to_levels(np.ones((3, 3)), 3)
    with pytest.raises(InputError, match=r"image must be a 2-D array"):
        normalize_to_levels(np.ones(3), (0, 1))
