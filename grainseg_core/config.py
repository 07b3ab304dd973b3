"""Package-wide settings that users may change.

The pixel limit guards every image entry point against decompression bombs and
out-of-memory crashes; it can be raised per call or with the environment variable
``GRAINSEG_MAX_PIXELS``.
"""

from __future__ import annotations

import os

__all__ = ["DEFAULT_MAX_PIXELS", "max_pixels"]

#: Default largest image accepted, in pixels (150 megapixels).
DEFAULT_MAX_PIXELS: int = 150_000_000


def max_pixels(override: int | None = None) -> int:
    """Return the pixel limit in force.

    Parameters
    ----------
    override : int, optional
        A limit given by the caller; wins over the environment and the default.

    Returns
    -------
    int
        ``override`` if given, else ``$GRAINSEG_MAX_PIXELS`` if set, else
        :data:`DEFAULT_MAX_PIXELS`.
    """
    if override is not None:
        return int(override)
    env = os.environ.get("GRAINSEG_MAX_PIXELS")
    if env:
        try:
            return int(float(env))
        except ValueError:
            pass
    return DEFAULT_MAX_PIXELS
