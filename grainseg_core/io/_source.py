"""Turn a ``source`` argument (path, bytes or binary file object) into bytes and a name.

Every reader in :mod:`grainseg_core.io` accepts a path (uploads land as bytes), and
words its errors with the file name; this module is where both are settled.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from grainseg_core.errors import GrainsegError

__all__ = ["source_name", "read_source_bytes", "check_path_readable"]


def source_name(source: Any, name: str | None = None) -> str:
    """A short name for messages: ``name`` if given, else the file name, else a placeholder."""
    if name:
        return str(name)
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name or str(source)
    file_name = getattr(source, "name", None)
    if isinstance(file_name, str) and file_name:
        return Path(file_name).name
    return "<uploaded bytes>"


def check_path_readable(path: Path, what: str, error: type[GrainsegError]) -> None:
    """Raise ``error`` when ``path`` does not exist, is a folder, or cannot be opened."""
    if not path.exists():
        raise error(
            f"{what} '{path}' does not exist; check the path (relative paths start at "
            f"'{Path.cwd()}')."
        )
    if path.is_dir():
        raise error(f"{what} '{path}' is a folder, not a file; give the path of one file in it.")
    if not os.access(path, os.R_OK):
        raise error(f"{what} '{path}' cannot be read (permission denied); check its permissions.")


def read_source_bytes(
    source: Any, *, name: str | None, what: str, error: type[GrainsegError]
) -> tuple[bytes, str]:
    """Return ``(content, name)`` for a path, bytes-like or binary file object.

    Parameters
    ----------
    source : str, os.PathLike, bytes, bytearray, memoryview or binary file object
        Where the content comes from. A ``str`` is always a path, never content.
    name : str, optional
        Name to use in messages (e.g. the upload's file name).
    what : str
        What the file is, for messages (``"annotation file"``).
    error : type
        The error to raise.
    """
    label = source_name(source, name)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), label
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        check_path_readable(path, what, error)
        try:
            return path.read_bytes(), label
        except OSError as exc:
            raise error(f"{what} '{path}' could not be read: {exc.strerror or exc}.") from exc
    read = getattr(source, "read", None)
    if callable(read):
        data = read()
        if isinstance(data, str):
            return data.encode("utf-8"), label
        if isinstance(data, (bytes, bytearray, memoryview)):
            return bytes(data), label
    raise error(
        f"{what}: expected a file path, bytes or a binary file object; got {type(source).__name__}."
    )
