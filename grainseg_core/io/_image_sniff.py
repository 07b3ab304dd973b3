"""Tell an image's format from its first bytes, and word the error for what is not read."""

from __future__ import annotations

from pathlib import Path

from grainseg_core.errors import ImageReadError, UnsupportedFormatError

__all__ = ["SUPPORTED_FORMATS", "sniff_format"]

#: Formats :func:`grainseg_core.io.read_image` reads.
SUPPORTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "BMP", "TIFF")

_READ = "grainseg reads PNG, JPEG, BMP and TIFF images"

_SUPPORTED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),  # BigTIFF
    (b"MM\x00+", "TIFF"),
    (b"BM", "BMP"),
)

_UNSUPPORTED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"GIF87a", "a GIF image or animation"),
    (b"GIF89a", "a GIF image or animation"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 codestream"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x93NUMPY", "a NumPy .npy array"),
    (b"8BPS", "a Photoshop PSD file"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
    (b"<?xml", "an XML document"),
    (b"<svg", "an SVG drawing"),
)


def _describe_text(head: bytes) -> str | None:
    """The start of ``head`` if it reads as plain text, else None."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character cut at the end of the sample is still text.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return None
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    if not text or printable < 0.95 * len(text):
        return None
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:40]


def sniff_format(head: bytes, name: str) -> str:
    """Return ``"PNG"``, ``"JPEG"``, ``"BMP"`` or ``"TIFF"`` from the first bytes of a file.

    Parameters
    ----------
    head : bytes
        At least the first 32 bytes of the file (fewer if the file is shorter).
    name : str
        File name, for messages.

    Raises
    ------
    UnsupportedFormatError
        A known format grainseg does not read (PDF, GIF, WebP, ...).
    ImageReadError
        Content that is no image at all (text, unknown bytes).
    """
    for magic, fmt in _SUPPORTED_MAGIC:
        if head.startswith(magic):
            return fmt
    kind = None
    for magic, what in _UNSUPPORTED_MAGIC:
        if head.startswith(magic):
            kind = what
            break
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        kind = "a WebP image"
    elif head[4:8] == b"ftyp":
        kind = "an HEIC/AVIF image or a video"
    if kind is not None:
        raise UnsupportedFormatError(
            f"'{name}' is {kind}, which grainseg does not read; {_READ}. "
            "Export the micrograph as TIFF or PNG and try again."
        )
    suffix = Path(name).suffix.lower()
    claimed = f", although its name ends in '{suffix}'" if suffix else ""
    text = _describe_text(head)
    if text is not None:
        raise ImageReadError(
            f"'{name}' is not an image: it holds text (starting '{text}'){claimed}. "
            f"Check that you picked the image file; {_READ}."
        )
    raise ImageReadError(
        f"'{name}' is not an image grainseg recognises (first bytes {head[:8].hex(' ')})"
        f"{claimed}; {_READ}. Check the file is a complete image, or re-export it as TIFF or PNG."
    )
