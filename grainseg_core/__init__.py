"""grainseg_core: grain-boundary segmentation and grain statistics for micrographs.

The engine behind the grainseg dashboard. It never imports streamlit.
"""

from __future__ import annotations

from grainseg_core.errors import GrainsegError, GrainsegWarning

__version__ = "0.1.0"

__all__ = ["GrainsegError", "GrainsegWarning", "__version__"]
