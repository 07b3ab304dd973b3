"""Uploaded files and zip archives, handled safely; zips of PNG masks for download.

A user hands the dashboard several files, or a zip of them (images and an annotation
file, or an EBSD map). :func:`collect_files` turns those uploads into one bundle of
in-memory files keyed by **base name**:

* names are reduced to their base name (``a/b/IMG_1.png`` -> ``IMG_1.png``); nothing is
  ever written to or read from a path taken from an upload or an archive member;
* zip members whose stored path is absolute, climbs out (``..``), names a drive
  (``C:``) or holds a NUL are refused ("zip slip") and listed in the bundle's notes;
* size bombs are refused before decompression from the sizes the archive declares
  (per member, in total, and the compression ratio) and again while reading, since a
  forged header can understate a member's size;
* folders, links, encrypted members, macOS resource forks (``__MACOSX/``, ``._x``) and
  hidden files are skipped with a note; of two files with the same base name the first
  is kept and the second noted.

:func:`write_zip` and :func:`masks_zip` build a zip in memory for a download button.

Example
-------
>>> import io, zipfile
>>> buf = io.BytesIO()
>>> with zipfile.ZipFile(buf, "w") as zf:
...     zf.writestr("set/IMG_1.png", b"png bytes"); zf.writestr("../evil.png", b"x")
>>> bundle = collect_files([("set.zip", buf.getvalue()), ("notes.csv", b"a;b")])
>>> sorted(bundle.files), len(bundle.notes)
(['IMG_1.png', 'notes.csv'], 1)
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from grainseg_core.errors import InputError
from grainseg_core.io import image_base_name, write_mask

__all__ = [
    "ArchiveError",
    "ArchiveLimits",
    "UploadedFile",
    "FileBundle",
    "collect_files",
    "is_zip",
    "write_zip",
    "masks_zip",
]

_MIB = 1024 * 1024
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or an empty archive
_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 1 * _MIB


class ArchiveError(InputError):
    """An upload or zip archive is unreadable, unsafe or too large."""


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits that keep an upload from exhausting memory.

    Parameters
    ----------
    max_files : int
        Most files in one bundle (after expanding archives).
    max_file_bytes : int
        Largest single file (an upload or a decompressed member).
    max_total_bytes : int
        Largest sum of all files of the bundle.
    max_ratio : float
        Largest compression ratio (uncompressed / compressed size) of a zip member;
        ordinary images compress by < 10, zip bombs by > 1000.

    Examples
    --------
    >>> ArchiveLimits(max_files=10).max_files
    10
    """

    max_files: int = 5000
    max_file_bytes: int = 512 * _MIB
    max_total_bytes: int = 2048 * _MIB
    max_ratio: float = 200.0

    def __post_init__(self) -> None:
        for name in ("max_files", "max_file_bytes", "max_total_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"ArchiveLimits.{name} must be an integer >= 1; got {value!r}.")
        if not isinstance(self.max_ratio, (int, float)) or not self.max_ratio >= 1:
            raise InputError(
                f"ArchiveLimits.max_ratio must be a number >= 1; got {self.max_ratio!r}."
            )


@dataclass(frozen=True)
class UploadedFile:
    """One file of a bundle.

    Parameters
    ----------
    name : str
        Base name (the key of the bundle).
    data : bytes
        Content.
    origin : str
        Where it came from: the upload's name, or ``"<archive>:<member path>"``.
    """

    name: str
    data: bytes = field(repr=False)
    origin: str

    @property
    def suffix(self) -> str:
        """Lower-case extension with the dot (``".png"``), ``""`` when there is none."""
        stem, dot, ext = self.name.rpartition(".")
        return f".{ext.lower()}" if dot and stem else ""


@dataclass(frozen=True)
class FileBundle:
    """Files keyed by base name, and what was skipped on the way.

    Parameters
    ----------
    files : dict of str to UploadedFile
        In upload order (archive members in archive order).
    notes : tuple of str
        One plain-words line per skipped upload or member.
    """

    files: dict[str, UploadedFile] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.files)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.files

    def with_suffix(self, *suffixes: str) -> dict[str, UploadedFile]:
        """The files whose extension is one of ``suffixes`` (e.g. ``".png", ".tif"``)."""
        wanted = {s.lower() for s in suffixes}
        return {k: f for k, f in self.files.items() if f.suffix in wanted}

    def data(self) -> dict[str, bytes]:
        """``{base name: bytes}``."""
        return {k: f.data for k, f in self.files.items()}


def is_zip(data: bytes) -> bool:
    """True when ``data`` starts like a zip archive (by content, not by name).

    Examples
    --------
    >>> is_zip(b"PK\\x03\\x04rest"), is_zip(b"\\x89PNG")
    (True, False)
    """
    return bytes(data[:4]) in _ZIP_MAGIC


def _unsafe_member(path: str) -> str | None:
    """Why a member path is refused, or None when it is a plain relative path."""
    if "\x00" in path:
        return "its name holds a NUL character"
    norm = path.replace("\\", "/")
    if norm.startswith("/") or _DRIVE.match(norm):
        return "its path is absolute"
    if any(part == ".." for part in norm.split("/")):
        return "its path climbs out of the archive ('..')"
    return None


def _skipped_silently(path: str, base: str) -> str | None:
    norm = path.replace("\\", "/")
    if norm.startswith("__MACOSX/") or "/__MACOSX/" in norm or base.startswith("._"):
        return "a macOS resource fork"
    if base.startswith("."):
        return "a hidden file"
    return None


class _Collector:
    """Accumulates files under the limits; the first of two equal base names wins."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.files: dict[str, UploadedFile] = {}
        self.notes: list[str] = []
        self.total = 0

    def add(self, name: str, data: bytes, origin: str) -> None:
        if name in self.files:
            self.notes.append(
                f"'{origin}' skipped: a file named '{name}' came first "
                f"(from '{self.files[name].origin}'); files are matched by base name only."
            )
            return
        if len(self.files) >= self.limits.max_files:
            raise ArchiveError(
                f"more than {self.limits.max_files} files in the upload; upload fewer at a time."
            )
        self.total += len(data)
        if self.total > self.limits.max_total_bytes:
            raise ArchiveError(
                f"the upload holds more than {self.limits.max_total_bytes // _MIB} MiB in total "
                f"(at '{origin}'); upload fewer files at a time."
            )
        self.files[name] = UploadedFile(name, bytes(data), origin)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, where: str) -> bytes:
    """Read a member, refusing it as soon as it decompresses beyond ``cap`` bytes."""
    out = bytearray()
    with zf.open(info) as fh:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            out += chunk
            if len(out) > cap:
                raise ArchiveError(
                    f"{where} decompresses to more than {cap // _MIB} MiB although its header "
                    "says less (a forged or bomb archive); it was not read."
                )
    return bytes(out)


def _expand_zip(archive_name: str, data: bytes, sink: _Collector) -> None:
    limits = sink.limits
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise ArchiveError(
            f"'{archive_name}' is not a readable zip archive ({exc}); upload the files "
            "themselves or a zip made with a standard tool."
        ) from exc
    with zf:
        declared = sum(i.file_size for i in infos if not i.is_dir())
        if declared > limits.max_total_bytes:
            raise ArchiveError(
                f"'{archive_name}' would unpack to {declared / _MIB:.0f} MiB, more than the "
                f"{limits.max_total_bytes // _MIB} MiB allowed; split it into smaller archives."
            )
        for info in infos:
            where = f"'{archive_name}:{info.filename}'"
            if info.is_dir():
                continue
            unsafe = _unsafe_member(info.filename)
            if unsafe:
                sink.notes.append(f"{where} refused: {unsafe} (a 'zip slip' entry).")
                continue
            base = image_base_name(info.filename)
            if not base:
                continue
            quiet = _skipped_silently(info.filename, base)
            if quiet:
                sink.notes.append(f"{where} skipped: {quiet}.")
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                sink.notes.append(f"{where} skipped: a symbolic link.")
                continue
            if info.flag_bits & 0x1:
                sink.notes.append(f"{where} skipped: it is encrypted.")
                continue
            if info.file_size > limits.max_file_bytes:
                raise ArchiveError(
                    f"{where} would unpack to {info.file_size / _MIB:.0f} MiB, more than the "
                    f"{limits.max_file_bytes // _MIB} MiB allowed per file."
                )
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > _MIB and ratio > limits.max_ratio:
                raise ArchiveError(
                    f"{where} is compressed {ratio:.0f}:1, more than the {limits.max_ratio:g}:1 "
                    "a micrograph or annotation file reaches (a zip bomb?); it was not unpacked."
                )
            try:
                content = _read_member(
                    zf, info, min(limits.max_file_bytes, max(info.file_size, 0)), where
                )
            except (
                zipfile.BadZipFile,
                OSError,
                EOFError,
                NotImplementedError,
                RuntimeError,
            ) as exc:
                sink.notes.append(f"{where} skipped: it could not be unpacked ({exc}).")
                continue
            sink.add(base, content, f"{archive_name}:{info.filename}")


def collect_files(
    uploads: Iterable[tuple[str, bytes]],
    *,
    expand_zips: bool = True,
    limits: ArchiveLimits = ArchiveLimits(),
) -> FileBundle:
    """Gather uploaded files (and the members of uploaded zips) by base name.

    Parameters
    ----------
    uploads : iterable of (name, bytes)
        The uploads, e.g. ``[(f.name, f.getvalue()) for f in st.file_uploader(...)]``.
    expand_zips : bool
        Unpack zip archives (told by content) into their members; False keeps them as
        files.
    limits : ArchiveLimits
        Size and count limits.

    Returns
    -------
    FileBundle
        The files keyed by base name, and notes on what was skipped.

    Raises
    ------
    ArchiveError
        An unreadable archive, a member or bundle over the size limits, a member
        compressed beyond ``limits.max_ratio`` (zip bomb), too many files.

    Examples
    --------
    >>> b = collect_files([("../x/a.png", b"1"), ("a.png", b"2")])
    >>> b.files["a.png"].data, len(b.notes)
    (b'1', 1)
    """
    if not isinstance(limits, ArchiveLimits):
        raise InputError(f"limits must be an ArchiveLimits; got {type(limits).__name__}.")
    sink = _Collector(limits)
    for i, item in enumerate(uploads):
        try:
            raw_name, data = item
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"uploads[{i}] must be a (name, bytes) pair; got {item!r:.60}."
            ) from exc
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InputError(
                f"uploads[{i}] ('{raw_name}'): content must be bytes; got {type(data).__name__}."
            )
        name = image_base_name(str(raw_name)) or f"upload_{i}"
        if len(data) > limits.max_file_bytes:
            raise ArchiveError(
                f"'{name}' is {len(data) / _MIB:.0f} MiB, more than the "
                f"{limits.max_file_bytes // _MIB} MiB allowed per file."
            )
        if expand_zips and is_zip(bytes(data[:4])):
            _expand_zip(name, bytes(data), sink)
        else:
            sink.add(name, bytes(data), name)
    return FileBundle(sink.files, tuple(sink.notes))


def _safe_entry_name(name: str) -> str:
    base = image_base_name(str(name))
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", base).strip("._")
    if not cleaned:
        raise InputError(f"'{name}' gives no usable file name inside a zip.")
    return cleaned


def write_zip(files: Mapping[str, bytes]) -> bytes:
    """A zip archive (deflated) of ``{name: bytes}``, names reduced to safe base names.

    Parameters
    ----------
    files : mapping of str to bytes

    Returns
    -------
    bytes

    Raises
    ------
    InputError
        Two names that give the same entry, or a name with nothing usable in it.

    Examples
    --------
    >>> data = write_zip({"a/b.txt": b"hi"})
    >>> sorted(zipfile.ZipFile(io.BytesIO(data)).namelist())
    ['b.txt']
    """
    buf = io.BytesIO()
    seen: set[str] = set()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name, data in files.items():
            entry = _safe_entry_name(name)
            if entry in seen:
                raise InputError(f"two files would be stored as '{entry}' in the zip; rename one.")
            seen.add(entry)
            zf.writestr(entry, bytes(data))
    return buf.getvalue()


def masks_zip(masks: Mapping[str, np.ndarray], *, suffix: str = "_mask") -> bytes:
    """A zip of binary masks as 8-bit PNGs (0/255), one per image.

    Parameters
    ----------
    masks : mapping of str to ndarray (M, N)
        Image name -> mask (bool, or numbers > 0 = True). The entry is
        ``<image stem><suffix>.png``.
    suffix : str
        Added to every image stem.

    Returns
    -------
    bytes

    Examples
    --------
    >>> data = masks_zip({"IMG_1.jpg": np.eye(8, dtype=bool)})
    >>> zipfile.ZipFile(io.BytesIO(data)).namelist()
    ['IMG_1_mask.png']
    """
    encoded: dict[str, bytes] = {}
    for name, mask in masks.items():
        base = image_base_name(str(name))
        stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
        buf = io.BytesIO()
        write_mask(buf, mask)
        encoded[f"{stem}{suffix}.png"] = buf.getvalue()
    return write_zip(encoded)
