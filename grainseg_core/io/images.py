"""Read micrographs (PNG, JPEG, BMP, TIFF) as gray arrays in native bit depth; write masks.

* :func:`read_image` returns the image as (M, N) in its own dtype (uint8, uint16, float32,
  ...) and an :class:`ImageMeta` with the pixel size when the file states it.
* Colour becomes gray by ITU-R BT.709 luma (0.2126 R + 0.7152 G + 0.0722 B), alpha
  ignored, rounded back to the image's dtype; gray saved as colour (R = G = B) is kept
  exactly; palette images are looked up first.
* :func:`normalize_image` is THE normalisation step of grainseg (float32 in [0, 1]); models
  and their cards name the method they were trained with. :func:`normalization_levels`
  gives the (low, high) levels it maps to 0 and 1; :func:`normalize_to_levels` scales with
  given levels (a crop with its whole image's levels).
* The pixel limit (:func:`grainseg_core.config.max_pixels`, 150 MP by default) is checked
  from the file header before any pixel is decoded.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import tifffile
from PIL import Image

from grainseg_core._validation import as_2d_array, as_boundary_mask, check_pixel_size
from grainseg_core.config import max_pixels as _max_pixels
from grainseg_core.errors import ImageReadError, InputError, unknown_name_error
from grainseg_core.io._image_decode import LUMA_BT709, MIN_IMAGE_SIDE, decode_pil, decode_tiff
from grainseg_core.io._image_sniff import SUPPORTED_FORMATS, sniff_format
from grainseg_core.io._source import check_path_readable, source_name
from grainseg_core.types import PathOrBytes

__all__ = [
    "ImageMeta",
    "read_image",
    "normalize_image",
    "normalization_levels",
    "normalize_to_levels",
    "write_mask",
    "write_labels",
    "write_image",
    "NORMALIZE_METHODS",
    "SUPPORTED_FORMATS",
    "MIN_IMAGE_SIDE",
    "LUMA_BT709",
]

#: Methods of :func:`normalize_image`.
NORMALIZE_METHODS: tuple[str, ...] = ("percentile", "dtype", "minmax")


@dataclass(frozen=True)
class ImageMeta:
    """What :func:`read_image` learned about an image file.

    Parameters
    ----------
    source_name : str
        File name (or the ``name`` given for bytes).
    format : str
        ``"PNG"``, ``"JPEG"``, ``"BMP"`` or ``"TIFF"``.
    shape : (int, int)
        (M, N) of the returned gray image.
    dtype : str
        Its dtype (``"uint8"``, ``"uint16"``, ``"float32"``...).
    bit_depth : int
        Bits per sample in the file (1, 8, 12, 16, 32...).
    mode : str
        Original colour mode (Pillow mode such as ``"L"``, ``"RGB"``, ``"P"``, ``"I;16"``,
        or the TIFF photometric such as ``"minisblack"``, ``"RGB"``, ``"palette"``).
    channels : int
        Original number of channels (1 gray, 2 gray + alpha, 3 RGB, 4 RGBA).
    n_pages : int
        Pages (TIFF) or frames in the file; only the first is read.
    pixel_size_um : float or None
        Micrometres per pixel when the file states it.
    pixel_size_source : str or None
        Where the pixel size came from, e.g. ``"FEI/Thermo SEM metadata [Scan] PixelWidth
        = 1.5e-08 m"``.
    conversion : str or None
        How the file's samples became the gray image, when they did.
    """

    source_name: str
    format: str
    shape: tuple[int, int]
    dtype: str
    bit_depth: int
    mode: str
    channels: int
    n_pages: int = 1
    pixel_size_um: float | None = None
    pixel_size_source: str | None = None
    conversion: str | None = None


def _check_limit(max_pixels: int | None) -> int:
    limit = _max_pixels(max_pixels)
    if limit < 1:
        raise InputError(f"max_pixels must be a positive number of pixels; got {limit}.")
    return limit


def _open(source: Any, name: str) -> IO[bytes]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        check_path_readable(path, "image file", ImageReadError)
        try:
            return path.open("rb")
        except OSError as exc:
            raise ImageReadError(
                f"image file '{path}' could not be opened: {exc.strerror}."
            ) from exc
    if callable(getattr(source, "read", None)) and callable(getattr(source, "seek", None)):
        return source
    raise InputError(
        f"source must be a file path, bytes or a binary file object; got {type(source).__name__}."
    )


def read_image(
    source: PathOrBytes | IO[bytes],
    *,
    max_pixels: int | None = None,
    name: str | None = None,
) -> tuple[np.ndarray, ImageMeta]:
    """Read a micrograph as a gray (M, N) array in its native dtype.

    Parameters
    ----------
    source : path, bytes or seekable binary file object
        PNG, JPEG, BMP or TIFF (8/16-bit integer, float; gray, RGB, RGBA, palette). The
        format is told from the content, not the file name.
    max_pixels : int, optional
        Largest accepted M * N; default :func:`grainseg_core.config.max_pixels`
        (``$GRAINSEG_MAX_PIXELS`` or 150 MP). Checked from the header before decoding.
    name : str, optional
        Name for messages and ``meta.source_name`` (e.g. an upload's file name).

    Returns
    -------
    image : ndarray, shape (M, N)
        uint8, uint16, float32... as stored; colour converted by BT.709 luma in that dtype.
    meta : ImageMeta
        Format, original mode and channels, pages, bit depth, pixel size if stated.

    Raises
    ------
    ImageReadError
        Missing file, folder, empty or truncated file, not an image, 0x0 or smaller than
        8x8 pixels.
    UnsupportedFormatError
        A format grainseg does not read (PDF, GIF, WebP, CMYK TIFF...).
    ImageTooLargeError
        More pixels than the limit (the message says how to raise it).

    Warns
    -----
    GrainsegWarning
        A multi-page TIFF (or multi-frame file): only the first page is read.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("L", (16, 8), 7).save(buf, format="PNG")
    >>> image, meta = read_image(buf.getvalue(), name="a.png")
    >>> image.shape, image.dtype.name, meta.format, meta.pixel_size_um
    ((8, 16), 'uint8', 'PNG', None)
    """
    label = source_name(source, name)
    limit = _check_limit(max_pixels)
    fh = _open(source, label)
    owned = fh is not source
    try:
        head = fh.read(64)
        fh.seek(0)
        if not head:
            raise ImageReadError(
                f"'{label}' is empty (0 bytes); the upload or copy may have failed. "
                "Choose the file again."
            )
        fmt = sniff_format(head, label)
        if fmt == "TIFF":
            decoded = decode_tiff(fh, label, limit)
        else:
            decoded = decode_pil(fh, fmt, label, limit)
    finally:
        if owned:
            fh.close()
    # Pillow hands out read-only views; callers may edit the image in place.
    image = np.require(decoded.image, requirements=["C_CONTIGUOUS", "WRITEABLE", "OWNDATA"])
    meta = ImageMeta(
        source_name=label,
        format=decoded.format,
        shape=(int(image.shape[0]), int(image.shape[1])),
        dtype=image.dtype.name,
        bit_depth=decoded.bit_depth,
        mode=decoded.mode,
        channels=decoded.channels,
        n_pages=decoded.n_pages,
        pixel_size_um=decoded.pixel_size_um,
        pixel_size_source=decoded.pixel_size_source,
        conversion=decoded.conversion,
    )
    return image, meta


def _percentiles_of(image: np.ndarray, qs: tuple[float, float]) -> tuple[float, float]:
    """Percentiles as ``np.percentile`` (linear) gives them; by histogram for <= 16-bit ints."""
    if image.dtype in (np.uint8, np.uint16, bool):
        counts = np.bincount(image.ravel().astype(np.uint16, copy=False))
        cum = np.cumsum(counts)
        n = int(cum[-1])
        out = []
        for q in qs:
            pos = q / 100.0 * (n - 1)
            lo_i, frac = int(np.floor(pos)), pos - np.floor(pos)
            # value at sorted index k = first v with cum[v] > k
            v_lo = int(np.searchsorted(cum, lo_i, side="right"))
            v_hi = int(np.searchsorted(cum, min(lo_i + 1, n - 1), side="right"))
            out.append(v_lo + frac * (v_hi - v_lo))
        return out[0], out[1]
    finite = image[np.isfinite(image)] if np.issubdtype(image.dtype, np.floating) else image
    if finite.size == 0:
        return 0.0, 0.0
    lo, hi = np.percentile(finite, qs)
    return float(lo), float(hi)


def _real_image(image: Any) -> np.ndarray:
    """``image`` as a 2-D array of real numbers (bool as uint8), or an InputError."""
    arr = as_2d_array(image, "image")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"image must hold real numbers; got dtype {arr.dtype}.")
    return arr


def _checked_percentiles(percentiles: Any) -> tuple[float, float]:
    try:
        low, high = (float(p) for p in percentiles)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"percentiles must be two numbers (low, high); got {percentiles!r}."
        ) from exc
    if not 0.0 <= low < high <= 100.0:
        raise InputError(f"percentiles must satisfy 0 <= low < high <= 100; got ({low}, {high}).")
    return low, high


def _levels(arr: np.ndarray, method: str, percentiles: Any) -> tuple[float, float]:
    """The levels of a checked image (see :func:`normalization_levels`)."""
    if method not in NORMALIZE_METHODS:
        raise unknown_name_error("normalisation method", method, NORMALIZE_METHODS, InputError)
    if method == "dtype":
        if np.issubdtype(arr.dtype, np.integer):
            info = np.iinfo(arr.dtype)
            return float(min(info.min, 0)), float(info.max)
        return 0.0, 1.0
    if method == "percentile":
        return _percentiles_of(arr, _checked_percentiles(percentiles))
    return _percentiles_of(arr, (0.0, 100.0))


def normalization_levels(
    image: np.ndarray,
    *,
    method: str = "percentile",
    percentiles: tuple[float, float] = (0.5, 99.5),
) -> tuple[float, float]:
    """The (low, high) levels that :func:`normalize_image` maps to 0 and 1.

    :func:`normalize_image` computes its levels here, so levels recorded for an image (for
    instance per source image of a training set, to scale crops of it later) are the very
    same numbers, bit for bit, as the ones its normalisation used.

    Parameters
    ----------
    image : ndarray, shape (M, N)
        Gray image in any real dtype; bool counts as 0 / 1.
    method : {"percentile", "dtype", "minmax"}
        As in :func:`normalize_image`. ``"percentile"``: the ``percentiles`` of the image
        (linear interpolation as ``np.percentile``; NaN and infinities ignored).
        ``"minmax"``: its finite minimum and maximum. ``"dtype"``: the dtype's range,
        ``(min(dtype min, 0), dtype max)`` for integers and ``(0, 1)`` for floats; it does
        not depend on the pixels.
    percentiles : (float, float)
        Low and high percentiles for ``"percentile"``, 0 <= low < high <= 100.

    Returns
    -------
    (float, float)
        ``(low, high)`` as Python floats. ``high <= low`` (a constant image) means
        :func:`normalize_image` returns zeros; an image without finite values gives (0, 0).

    Raises
    ------
    InputError
        Not a 2-D real image, an unknown method, or percentiles out of range.

    Examples
    --------
    >>> normalization_levels(np.array([[0, 50], [100, 200]], np.uint8), method="minmax")
    (0.0, 200.0)
    >>> normalization_levels(np.arange(101, dtype=np.uint8).reshape(1, -1), percentiles=(10, 90))
    (10.0, 90.0)
    """
    lo, hi = _levels(_real_image(image), method, percentiles)
    return float(lo), float(hi)


def _scale(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``(arr - lo) / (hi - lo)`` clipped to [0, 1] in float32 (zeros when ``hi <= lo``)."""
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.float32)
    scale = np.float32(1.0 / (hi - lo))
    out = (arr.astype(np.float32) - np.float32(lo)) * scale
    return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0)


def normalize_to_levels(image: np.ndarray, levels: tuple[float, float]) -> np.ndarray:
    """Scale an image to float32 [0, 1] with given (low, high) levels, as normalize_image does.

    :func:`normalize_image` with ``method="percentile"`` or ``"minmax"`` is
    ``normalize_to_levels(image, normalization_levels(image, ...))``. Given the levels of a
    whole image, a crop of it comes out equal, element for element, to the same crop of the
    whole normalised image (training patches are scaled this way).

    Parameters
    ----------
    image : ndarray, shape (M, N)
        Gray image in any real dtype; bool counts as 0 / 1.
    levels : (float, float)
        The values mapped to 0 and 1 (:func:`normalization_levels`).

    Returns
    -------
    ndarray, shape (M, N), float32
        Values in [0, 1], clipped; zeros when ``high <= low``; NaN gives 0.

    Raises
    ------
    InputError
        Not a 2-D real image, or ``levels`` not two numbers.

    Examples
    --------
    >>> normalize_to_levels(np.array([[0, 50], [100, 200]], np.uint8), (0.0, 200.0))
    array([[0.  , 0.25],
           [0.5 , 1.  ]], dtype=float32)
    """
    arr = _real_image(image)
    try:
        lo, hi = (float(v) for v in levels)
    except (TypeError, ValueError) as exc:
        raise InputError(f"levels must be two numbers (low, high); got {levels!r}.") from exc
    return _scale(arr, lo, hi)


def normalize_image(
    image: np.ndarray,
    *,
    method: str = "percentile",
    percentiles: tuple[float, float] = (0.5, 99.5),
) -> np.ndarray:
    """Scale an image to float32 in [0, 1]: the one normalisation step of grainseg.

    Parameters
    ----------
    image : ndarray, shape (M, N)
        Gray image in any real dtype (as :func:`read_image` returns it).
    method : {"percentile", "dtype", "minmax"}
        ``"percentile"``: map the ``percentiles`` (low, high) of the image to 0 and 1 and
        clip (robust to a few saturated or dead pixels). ``"dtype"``: divide by the dtype's
        maximum (255, 65535...; floats are taken as already in [0, 1] and clipped).
        ``"minmax"``: map the image's minimum and maximum to 0 and 1.
    percentiles : (float, float)
        Low and high percentiles for ``"percentile"``, 0 <= low < high <= 100.

    Returns
    -------
    ndarray, shape (M, N), float32
        Values in [0, 1]. A constant image gives zeros; NaN gives 0.

    See Also
    --------
    normalization_levels : the (low, high) levels used here.
    normalize_to_levels : the same scaling with given levels.

    Examples
    --------
    >>> normalize_image(np.array([[0, 50], [100, 200]], np.uint8), method="minmax")
    array([[0.  , 0.25],
           [0.5 , 1.  ]], dtype=float32)
    """
    arr = _real_image(image)
    lo, hi = _levels(arr, method, percentiles)
    if method == "dtype":
        if np.issubdtype(arr.dtype, np.integer):
            out = (arr.astype(np.float32) - np.float32(lo)) / np.float32(hi - lo)
        else:
            out = arr.astype(np.float32)
        return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0)
    return _scale(arr, lo, hi)


def _destination(destination: Any, what: str, suffixes: tuple[str, ...]) -> Any:
    if isinstance(destination, (str, os.PathLike)):
        path = Path(destination)
        if path.suffix.lower() not in suffixes:
            raise InputError(
                f"{what} must be written to a {' or '.join(suffixes)} file; got '{path.name}'."
            )
        if not path.parent.is_dir():
            raise InputError(
                f"cannot write '{path}': folder '{path.parent}' does not exist; create it first."
            )
        return path
    if callable(getattr(destination, "write", None)):
        return destination
    raise InputError(
        "destination must be a file path or a binary file object; got "
        f"{type(destination).__name__}."
    )


def write_mask(destination: str | os.PathLike | IO[bytes], mask: np.ndarray) -> None:
    """Write a binary mask as an 8-bit PNG with values 0 and 255.

    Parameters
    ----------
    destination : path ending in .png, or binary file object
        Where to write.
    mask : ndarray, shape (M, N)
        bool, or numbers (> 0 counts as True).

    Examples
    --------
    >>> buf = io.BytesIO()
    >>> write_mask(buf, np.eye(8, dtype=bool))
    >>> img, _ = read_image(buf.getvalue()); sorted(np.unique(img).tolist())
    [0, 255]
    """
    arr = as_boundary_mask(mask, "mask")
    target = _destination(destination, "a mask", (".png",))
    Image.fromarray(arr.astype(np.uint8) * np.uint8(255), mode="L").save(target, format="PNG")


def write_labels(destination: str | os.PathLike | IO[bytes], labels: np.ndarray) -> None:
    """Write a label image (0 = background/boundary) as a 16-bit zlib-compressed TIFF.

    Parameters
    ----------
    destination : path ending in .tif/.tiff, or binary file object
        Where to write.
    labels : ndarray, shape (M, N)
        Integer labels in [0, 65535].

    Raises
    ------
    InputError
        Non-integer labels, negative labels, or more than 65,535 labels.

    Examples
    --------
    >>> buf = io.BytesIO()
    >>> write_labels(buf, np.arange(64, dtype=np.int32).reshape(8, 8))
    >>> img, meta = read_image(buf.getvalue()); img.dtype.name, int(img.max())
    ('uint16', 63)
    """
    arr = as_2d_array(labels, "labels")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"labels must be an integer array; got dtype {arr.dtype}.")
    low, high = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    if low < 0:
        raise InputError(f"labels must be >= 0 (0 = boundary/background); got minimum {low}.")
    if high > 65535:
        raise InputError(
            f"labels has maximum {high:,}, more than the 65,535 a 16-bit TIFF can hold; relabel "
            "the grains (skimage.segmentation.relabel_sequential) or save them with numpy.save."
        )
    target = _destination(destination, "labels", (".tif", ".tiff"))
    tifffile.imwrite(target, arr.astype(np.uint16), photometric="minisblack", compression="zlib")


def write_image(
    destination: str | os.PathLike | IO[bytes],
    image: np.ndarray,
    *,
    pixel_size_um: float | None = None,
    format: str | None = None,
) -> None:
    """Write a gray image as TIFF (any real dtype) or PNG (uint8/uint16), with its pixel size.

    Parameters
    ----------
    destination : path (.tif, .tiff, .png) or binary file object
        Where to write.
    image : ndarray, shape (M, N)
        Gray image.
    pixel_size_um : float, optional
        Stored as TIFF resolution tags in px/cm, or PNG ``pHYs`` in px/m, so that
        :func:`read_image` gives it back.
    format : {"TIFF", "PNG"}, optional
        Needed for a file object; taken from the suffix of a path otherwise.

    Examples
    --------
    >>> buf = io.BytesIO()
    >>> write_image(buf, np.zeros((8, 8), np.uint16), pixel_size_um=0.25, format="TIFF")
    >>> round(read_image(buf.getvalue())[1].pixel_size_um, 6)
    0.25
    """
    arr = as_2d_array(image, "image")
    size = check_pixel_size(pixel_size_um)
    if format is None:
        if not isinstance(destination, (str, os.PathLike)):
            raise InputError("format ('TIFF' or 'PNG') is needed when writing to a file object.")
        suffix = Path(destination).suffix.lower()
        format = {".tif": "TIFF", ".tiff": "TIFF", ".png": "PNG"}.get(suffix)
        if format is None:
            raise InputError(f"write_image writes .tif, .tiff or .png files; got '{suffix}'.")
    format = format.upper()
    if format not in ("TIFF", "PNG"):
        raise unknown_name_error("image format", format, ("TIFF", "PNG"), InputError)
    suffixes = (".tif", ".tiff") if format == "TIFF" else (".png",)
    target = _destination(destination, "an image", suffixes)
    if format == "TIFF":
        kwargs: dict[str, Any] = {}
        if size is not None:
            kwargs = {"resolution": (1e4 / size, 1e4 / size), "resolutionunit": "CENTIMETER"}
        tifffile.imwrite(target, arr, photometric="minisblack", **kwargs)
        return
    if arr.dtype not in (np.uint8, np.uint16):
        raise InputError(
            f"PNG holds uint8 or uint16 images; got dtype {arr.dtype}. Write a TIFF instead."
        )
    extra = {"dpi": (25400.0 / size, 25400.0 / size)} if size is not None else {}
    Image.fromarray(arr).save(target, format="PNG", **extra)
