"""Small display helpers of the Dataset and Compare pages (and upload cache keys).

Large images are shown downsampled (full resolution stays in the downloads) and served
as PNG, never JPEG (lossless lines); download files come from :mod:`grainseg_core.reports`.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import streamlit as st

from ui.segment_views import screen_png

__all__ = [
    "DISPLAY_MAX_SIDE",
    "for_display",
    "show_image",
    "digest",
]

#: Longest side of an image shown in the page (pixels).
DISPLAY_MAX_SIDE = 1200


def for_display(rgb: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """Downsample an (M, N) or (M, N, 3) uint8 image so its longest side is ``max_side``."""
    rows, cols = rgb.shape[:2]
    factor = max(rows, cols) / max_side
    if factor <= 1:
        return rgb
    size = (max(1, round(cols / factor)), max(1, round(rows / factor)))
    # Nearest keeps 1-px lines visible on overlays better than area averaging would.
    return cv2.resize(
        rgb, size, interpolation=cv2.INTER_AREA if rgb.ndim == 2 else cv2.INTER_NEAREST
    )


def show_image(rgb: np.ndarray, caption: str | None = None) -> None:
    """``st.image`` of a downsampled copy, as PNG, full width of its column.

    Encoded here at zlib level 1 (:func:`ui.segment_views.screen_png`): Streamlit's own
    PNG of an array (level 6) took ~0.3 s for a 1200 x 900 overlay, and the EBSD view
    redraws two of them on every move of its blend slider.
    """
    shown = for_display(np.asarray(rgb))
    note = "" if shown.shape == rgb.shape else f" (shown at {shown.shape[1]}x{shown.shape[0]})"
    st.image(
        screen_png(shown),
        caption=(caption or "") + note if caption or note else None,
        width="stretch",
        output_format="PNG",
    )


def digest(*parts: bytes | str) -> str:
    """Short content hash of several byte strings (cache keys of uploads)."""
    h = hashlib.blake2b(digest_size=12)
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else bytes(p))
        h.update(b"\0")
    return h.hexdigest()
