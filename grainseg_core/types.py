"""Type aliases shared across the engine."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Union

__all__ = ["PathOrBytes", "ProgressCallback"]

#: A file path, or the file's bytes (e.g. from an upload).
PathOrBytes = Union[str, os.PathLike, bytes, bytearray, memoryview]

#: ``callback(done, total)``, called by long operations to report progress.
ProgressCallback = Callable[[int, int], None]
