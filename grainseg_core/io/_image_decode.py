"""Decode PNG/JPEG/BMP (Pillow, OpenCV for 16-bit colour PNG) and TIFF (tifffile) to gray.

Every decoder learns the image size from the header and calls :func:`check_pixels`
before it decodes a single pixel, so a decompression bomb is refused before any
allocation. Colour becomes gray by ITU-R BT.709 luma in the image's own dtype.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass
from typing import IO, Any

import cv2
import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from grainseg_core.errors import (
    GrainsegWarning,
    ImageReadError,
    ImageTooLargeError,
    UnsupportedFormatError,
)
from grainseg_core.io._pixel_size import pil_pixel_size, tiff_pixel_size

__all__ = ["Decoded", "decode_pil", "decode_tiff", "check_pixels", "MIN_IMAGE_SIDE", "LUMA_BT709"]

#: Smallest image side grainseg segments (a network needs some context around a pixel).
MIN_IMAGE_SIDE: int = 8

#: ITU-R BT.709 luma weights (R, G, B).
LUMA_BT709: tuple[float, float, float] = (0.2126, 0.7152, 0.0722)

# grainseg checks every image against its own limit (config.max_pixels) from the header,
# before decoding; Pillow's own guard would print a warning or refuse images the user
# allowed, so it is switched off here.
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class Decoded:
    """A decoded gray image and what the file said about it."""

    image: np.ndarray
    format: str
    mode: str
    channels: int
    bit_depth: int
    n_pages: int
    pixel_size_um: float | None
    pixel_size_source: str | None
    conversion: str | None


def check_pixels(width: int, height: int, name: str, limit: int) -> None:
    """Refuse empty, tiny or over-limit images from their header size."""
    if width <= 0 or height <= 0:
        raise ImageReadError(
            f"'{name}' has no pixels ({width}x{height}); the file is empty or broken, re-export it."
        )
    n_pixels = int(width) * int(height)
    if n_pixels > limit:
        raise ImageTooLargeError(
            f"'{name}' has {n_pixels:,} pixels ({width}x{height}), more than the limit of "
            f"{limit:,}. Raise the limit with read_image(..., max_pixels={n_pixels}) or the "
            f"environment variable GRAINSEG_MAX_PIXELS={n_pixels}, or downscale the image."
        )
    if min(width, height) < MIN_IMAGE_SIDE:
        raise ImageReadError(
            f"'{name}' is {width}x{height} pixels, too small to segment: grainseg needs at "
            f"least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} pixels. Use the full-size micrograph."
        )


def _native(arr: np.ndarray) -> np.ndarray:
    """Native byte order; float16 widened to float32 (few libraries compute in it)."""
    if arr.dtype == np.float16:
        return arr.astype(np.float32)
    if not arr.dtype.isnative:
        return arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _cast_like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)


def to_gray(arr: np.ndarray, mode: str) -> tuple[np.ndarray, str | None]:
    """(M, N) or (M, N, C) -> (M, N) gray in the same dtype, and how it was made."""
    arr = _native(arr)
    if arr.dtype == bool:
        return arr.astype(np.uint8) * np.uint8(255), "bilevel image scaled to 0/255"
    if arr.ndim == 2:
        return arr, None
    channels = arr.shape[2]
    if channels == 1:
        return arr[:, :, 0], None
    if channels == 2:
        return np.ascontiguousarray(arr[:, :, 0]), f"{mode}: gray channel kept, alpha ignored"
    rgb = arr[:, :, :3]
    alpha = ", alpha ignored" if channels > 3 else ""
    if np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 0], rgb[:, :, 2]):
        # Gray saved as colour (common for SEM exports): exact, no rounding.
        return np.ascontiguousarray(rgb[:, :, 0]), f"{mode} with equal channels: R kept{alpha}"
    work = np.float64 if arr.dtype.itemsize > 2 else np.float32
    luma = rgb.astype(work) @ np.asarray(LUMA_BT709, dtype=work)
    return _cast_like(
        luma, arr.dtype
    ), f"{mode}: ITU-R BT.709 luma 0.2126 R + 0.7152 G + 0.0722 B{alpha}"


def _png_header(head: bytes) -> tuple[int, int, int, int] | None:
    """(width, height, bit depth, colour type) from a PNG's IHDR chunk, or None."""
    if len(head) < 26 or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height, head[24], head[25]


_PNG_COLOUR = {0: "gray", 2: "RGB", 3: "palette", 4: "gray+alpha", 6: "RGBA"}


def _decode_png16_colour(data: bytes, name: str, colour_type: int) -> tuple[np.ndarray, str, int]:
    """16-bit colour PNG: Pillow would drop to 8 bits, OpenCV keeps 16."""
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ImageReadError(
            f"'{name}' could not be decoded as a 16-bit PNG: truncated or corrupt."
        )
    if arr.ndim == 3 and arr.shape[2] >= 3:
        arr = np.concatenate([arr[:, :, 2::-1], arr[:, :, 3:]], axis=2)  # BGR(A) -> RGB(A)
    mode = _PNG_COLOUR.get(colour_type, "RGB")
    return arr, f"{mode} 16-bit", (arr.shape[2] if arr.ndim == 3 else 1)


def decode_pil(fh: IO[bytes], fmt: str, name: str, limit: int) -> Decoded:
    """Decode a PNG, JPEG or BMP file object with Pillow (header checked first)."""
    head = fh.read(32)
    fh.seek(0)
    png = _png_header(head) if fmt == "PNG" else None
    if png is not None:
        check_pixels(png[0], png[1], name, limit)  # before Pillow even parses the file
    try:
        im = Image.open(fh, formats=[fmt])
    except (UnidentifiedImageError, SyntaxError, OSError, ValueError, struct.error) as exc:
        raise ImageReadError(
            f"'{name}' could not be read as {fmt}: its header is broken or truncated ({exc}). "
            "Re-export or re-upload the file."
        ) from exc
    with im:
        width, height = im.size
        check_pixels(width, height, name, limit)
        n_frames = int(getattr(im, "n_frames", 1) or 1)
        pixel_size, source = pil_pixel_size(dict(im.info), fmt)
        mode = im.mode
        bit_depth = 16 if png is not None and png[2] == 16 else {"1": 1, "I;16": 16}.get(mode, 8)
        if png is not None and png[2] == 16 and png[3] in (2, 4, 6):
            fh.seek(0)
            arr, mode, channels = _decode_png16_colour(fh.read(), name, png[3])
        else:
            try:
                im.load()
                arr, channels = _pil_array(im)
            except (OSError, SyntaxError, ValueError, struct.error) as exc:
                raise ImageReadError(
                    f"'{name}' could not be decoded as {fmt}: the file is truncated or corrupt "
                    f"({exc}). Re-export or re-upload it."
                ) from exc
    if arr.dtype == np.int32 and fmt == "PNG" and bit_depth == 16:
        arr = arr.astype(np.uint16)  # Pillow's "I" mode for 16-bit gray PNG
    if mode.startswith("I;16"):
        bit_depth = 16
    if n_frames > 1:
        _warn_extra_pages(name, n_frames, arr.shape, "frames")
    gray, conversion = to_gray(arr, mode)
    return Decoded(gray, fmt, mode, channels, bit_depth, n_frames, pixel_size, source, conversion)


def _pil_array(im: Image.Image) -> tuple[np.ndarray, int]:
    """Array of a loaded Pillow image, colour modes made RGB(A), and the original channels."""
    mode = im.mode
    channels = len(im.getbands())
    if mode in ("P", "PA"):
        # Palette entries to colour; a gray palette gives R = G = B and stays exact.
        im = im.convert("RGBA" if mode == "PA" or "transparency" in im.info else "RGB")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")
    return np.asarray(im), channels


_TIFF_MODES = {
    0: "miniswhite",
    1: "minisblack",
    2: "RGB",
    3: "palette",
    4: "mask",
    5: "CMYK",
    6: "YCbCr",
}


def decode_tiff(fh: IO[bytes], name: str, limit: int) -> Decoded:
    """Decode the first page of a TIFF with tifffile (Pillow for codecs it lacks)."""
    try:
        tif = tifffile.TiffFile(fh)
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types for broken files
        raise ImageReadError(
            f"'{name}' could not be read as TIFF: its header is broken or truncated ({exc}). "
            "Re-export or re-upload the file."
        ) from exc
    with tif:
        if not tif.pages:
            raise ImageReadError(f"'{name}' is a TIFF file with no image in it; re-export it.")
        page = tif.pages.first
        check_pixels(int(page.imagewidth), int(page.imagelength), name, limit)
        n_pages = len(tif.pages)
        photometric = int(page.photometric)
        mode = _TIFF_MODES.get(photometric, f"photometric {photometric}")
        if photometric in (5, 8, 9, 10):  # CMYK, CIELab: no faithful gray here
            raise UnsupportedFormatError(
                f"'{name}' is a {mode} TIFF, which grainseg does not read; save it as "
                "grayscale or RGB TIFF."
            )
        if page.dtype is not None and np.dtype(page.dtype).kind == "c":
            raise UnsupportedFormatError(
                f"'{name}' holds complex numbers; grainseg reads real-valued images."
            )
        pixel_size, source = tiff_pixel_size(tif)
        arr = _tiff_page_array(page, fh, name)
        axes = str(page.axes)
        if arr.ndim == 3 and axes == "SYX" and arr.shape == tuple(page.shape):
            arr = np.moveaxis(arr, 0, -1)  # planar (separate) samples -> (M, N, S)
        if arr.ndim not in (2, 3) or axes not in ("YX", "YXS", "SYX"):
            raise UnsupportedFormatError(
                f"'{name}': the first TIFF page has axes {axes} (shape {arr.shape}); grainseg "
                "reads 2-D gray or colour images. Save one plane as a separate TIFF."
            )
        channels = int(page.samplesperpixel)
        bit_depth = int(page.bitspersample)
        if photometric == 3 and page.colormap is not None:
            arr = _apply_colormap(arr, page.colormap, bit_depth)
        elif photometric == 0:
            arr = _invert_miniswhite(arr, bit_depth)
    if n_pages > 1:
        _warn_extra_pages(name, n_pages, arr.shape, "pages")
    gray, conversion = to_gray(arr, mode)
    return Decoded(gray, "TIFF", mode, channels, bit_depth, n_pages, pixel_size, source, conversion)


def _warn_extra_pages(name: str, count: int, shape: tuple[int, ...], what: str) -> None:
    warnings.warn(
        f"'{name}' has {count} {what}; only the first ({shape[1]}x{shape[0]}) was read. "
        "Save each micrograph as its own file to use the others.",
        GrainsegWarning,
        stacklevel=4,
    )


def _tiff_page_array(page: Any, fh: IO[bytes], name: str) -> np.ndarray:
    try:
        return page.asarray()
    except ValueError as exc:
        if "imagecodecs" not in str(exc):
            raise ImageReadError(
                f"'{name}' could not be decoded as TIFF: truncated or corrupt ({exc})."
            ) from exc
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a broken file to the user
        raise ImageReadError(
            f"'{name}' could not be decoded as TIFF: truncated or corrupt ({exc})."
        ) from exc
    # Compression tifffile cannot decode without imagecodecs (LZW, JPEG): Pillow's libtiff can.
    fh.seek(0)
    try:
        with Image.open(fh, formats=["TIFF"]) as im:
            im.load()
            return np.asarray(im)
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(
            f"'{name}' uses TIFF compression {page.compression.name} that could not be decoded "
            f"({exc}); re-save it uncompressed or with zlib/deflate compression."
        ) from exc


def _apply_colormap(index: np.ndarray, colormap: np.ndarray, bit_depth: int) -> np.ndarray:
    rgb = np.moveaxis(np.asarray(colormap)[:, index], 0, -1)  # 16-bit colour entries
    if bit_depth <= 8:
        return np.rint(rgb / 257.0).astype(np.uint8)
    return rgb.astype(np.uint16)


def _invert_miniswhite(arr: np.ndarray, bit_depth: int) -> np.ndarray:
    if arr.dtype == bool:
        return ~arr
    if np.issubdtype(arr.dtype, np.unsignedinteger):
        top = (
            (1 << bit_depth) - 1 if bit_depth < arr.dtype.itemsize * 8 else np.iinfo(arr.dtype).max
        )
        return (top - arr).astype(arr.dtype)
    return arr
