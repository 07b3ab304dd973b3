"""Atomic file replacement: write beside the target, then ``os.replace`` (private).

A reader (the dashboard polling a run's ``status.json``, a loader opening a model) sees the
old file or the new one, never a partial one; a failed write leaves the old file as it was
and no temporary file behind.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["write_atomic", "write_text_atomic"]


def write_atomic(
    path: str | os.PathLike, write: Callable[[Path], Any], *, fsync: bool = False
) -> Path:
    """Replace ``path`` by what ``write(temporary_path)`` writes.

    Parameters
    ----------
    path : str or path
        The file to write; its folder must exist.
    write : callable
        Writes the whole new content to the path it is given (a new file beside ``path``,
        named ``.<name>.<random>.tmp``).
    fsync : bool
        Flush the new content to the disk before the rename (survives a power cut).

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_atomic(Path(d) / "a.txt", lambda tmp: tmp.write_text("new"))
    ...     p.read_text(), sorted(f.name for f in Path(d).iterdir())
    ('new', ['a.txt'])
    """
    target = Path(path)
    # A random suffix: two writers of the same file never share a temporary file.
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        if fsync:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def write_text_atomic(path: str | os.PathLike, text: str, *, fsync: bool = False) -> Path:
    """Replace ``path`` by ``text`` (UTF-8) atomically; see :func:`write_atomic`."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), fsync=fsync)
