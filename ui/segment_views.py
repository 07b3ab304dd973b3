"""Views of a segmentation for the screen: down-scaled first, then coloured by the core.

A 2048x1536 micrograph is shown at most ``max_side`` pixels wide: the image is averaged
down (``INTER_AREA``), a boundary mask is max-pooled (any boundary pixel in a block keeps
the block a boundary, so 1-px lines stay visible), labels are sampled (nearest). The
colouring itself is :mod:`grainseg_core.overlays`. Downloads use full-resolution arrays;
only the screen gets these.

The boundary view is the one a slider move redraws most: :func:`view_png` sends it as an
indexed PNG (255 gray levels of the display image + the boundary colour), a third of the
bytes of RGB to compress (Huffman coding only), drawn from a display image the caller may keep between reruns
(:func:`display_gray`).
"""

from __future__ import annotations

import io
import math
import zlib

import cv2
import numpy as np
from PIL import Image

from grainseg_core.overlays import (
    boundary_overlay,
    label_overlay,
    probability_overlay,
    to_display_rgb,
)

__all__ = [
    "VIEWS",
    "DISPLAY_SIDE",
    "BOUNDARY_RGB",
    "screen_png",
    "display_gray",
    "boundary_view_png",
    "view_png",
    "display_shape",
    "downscale_image",
    "downscale_mask",
    "downscale_labels",
    "render_view",
]

#: Longest side of a view on screen (px). The page's image column is ~900 px wide on a
#: laptop; 1024 keeps lines sharp there and halves the PNG work of 1400.
DISPLAY_SIDE = 1024

#: Colour of boundaries drawn on the image.
BOUNDARY_RGB = (255, 40, 40)

#: Views of the Segment page, in menu order (the last needs an ensemble).
VIEWS: tuple[str, ...] = (
    "Boundaries on the image",
    "Grains coloured",
    "Probability heat map",
    "Uncertainty (ensemble)",
)


def display_shape(shape: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(rows, cols) after shrinking so that neither side exceeds ``max_side``.

    Examples
    --------
    >>> display_shape((1536, 2048), 1024)
    (768, 1024)
    >>> display_shape((100, 80), 1024)
    (100, 80)
    """
    rows, cols = int(shape[0]), int(shape[1])
    factor = max(rows, cols) / float(max_side)
    if factor <= 1:
        return rows, cols
    return max(1, round(rows / factor)), max(1, round(cols / factor))


def downscale_image(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Area-averaged copy of a gray or RGB image at ``shape`` (same array if unchanged)."""
    if image.shape[:2] == tuple(shape):
        return image
    src = (
        image.astype(np.float32) if image.dtype not in (np.uint8, np.uint16, np.float32) else image
    )
    return cv2.resize(src, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def downscale_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Max-pooled bool mask at ``shape``: a display pixel is True if any pixel under it is."""
    if mask.shape == tuple(shape):
        return mask
    fy = math.ceil(mask.shape[0] / shape[0])
    fx = math.ceil(mask.shape[1] / shape[1])
    # Dilate by the block size, then sample: a cheap max-pool for non-integer factors.
    grown = cv2.dilate(mask.view(np.uint8), np.ones((fy, fx), np.uint8))
    return cv2.resize(grown, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST).view(bool)


def downscale_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-sampled labels at ``shape``."""
    if labels.shape == tuple(shape):
        return labels
    return cv2.resize(
        labels.astype(np.int32), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST
    )


def render_view(
    view: str,
    image: np.ndarray,
    *,
    boundary: np.ndarray,
    labels: np.ndarray,
    probability: np.ndarray,
    uncertainty: np.ndarray | None = None,
    max_side: int = DISPLAY_SIDE,
) -> np.ndarray:
    """One of :data:`VIEWS` as an RGB uint8 image of at most ``max_side`` pixels a side.

    Parameters
    ----------
    view : str
        One of :data:`VIEWS`.
    image : (M, N) micrograph, any dtype
    boundary : bool (M, N)
    labels : int (M, N)
    probability : float32 (M, N)
    uncertainty : float32 (M, N), optional
        Needed for the uncertainty view (std of an ensemble, shown scaled to its maximum).
    max_side : int

    Returns
    -------
    uint8 (m, n, 3)
    """
    shape = display_shape(image.shape[:2], max_side)
    small = downscale_image(image, shape)
    if view == VIEWS[0]:
        return boundary_overlay(small, downscale_mask(boundary, shape), color=BOUNDARY_RGB)
    if view == VIEWS[1]:
        # A new array: at display size downscale_labels hands back the caller's labels.
        lab = np.where(downscale_mask(boundary, shape), 0, downscale_labels(labels, shape))
        return label_overlay(lab, image=small, alpha=0.55)
    if view == VIEWS[2]:
        return probability_overlay(downscale_image(probability, shape), image=small)
    if view == VIEWS[3] and uncertainty is not None:
        unc = downscale_image(uncertainty.astype(np.float32, copy=False), shape)
        top = float(unc.max())
        scaled = unc / top if top > 0 else unc
        return probability_overlay(np.clip(scaled, 0, 1), image=small, colormap="Viridis")
    return boundary_overlay(small, np.zeros(shape, bool))


def screen_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an RGB (or gray) view for ``st.image``, encoded for speed (zlib level 1).

    Streamlit would encode a numpy array with Pillow at level 6, about 5x slower for a
    noisy micrograph; PNG bytes no wider than the page are passed through unchanged when
    ``st.image`` is told ``output_format="PNG"``.
    """
    arr = np.ascontiguousarray(rgb)
    bgr = arr if arr.ndim == 2 else cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # cv2 reports failure by a flag; a plain error reaches ui.errors.user_errors
        raise RuntimeError("the view could not be encoded as PNG")
    return buf.tobytes()


def display_gray(image: np.ndarray, max_side: int = DISPLAY_SIDE) -> np.ndarray:
    """The micrograph as the boundary view shows it: down-scaled, contrast-stretched, gray.

    Parameters
    ----------
    image : (M, N) micrograph, any dtype
    max_side : int

    Returns
    -------
    uint8 (m, n)
        :func:`grainseg_core.overlays.to_display_rgb` of the down-scaled image (one
        channel: a gray image gives three equal ones).
    """
    small = downscale_image(image, display_shape(image.shape[:2], max_side))
    return np.ascontiguousarray(to_display_rgb(small)[..., 0])


def boundary_view_png(
    gray: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = BOUNDARY_RGB
) -> bytes:
    """PNG of ``mask`` drawn in ``color`` over ``gray``, as an 8-bit indexed image.

    The picture of ``boundary_overlay(gray, mask, color=color)`` but for white (255),
    shown as 254 (the palette's last entry is the boundary colour), in a third of the
    bytes of an RGB PNG: zlib has a third of the work on every slider move.

    Parameters
    ----------
    gray : uint8 (m, n)
        :func:`display_gray`.
    mask : bool (m, n)
        Boundary at display size (:func:`downscale_mask`).
    color : (R, G, B)

    Examples
    --------
    >>> png = boundary_view_png(np.full((2, 3), 255, np.uint8), np.eye(2, 3, dtype=bool))
    >>> np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))[0, :2].tolist()
    [[255, 40, 40], [254, 254, 254]]
    """
    if gray.shape != mask.shape or gray.dtype != np.uint8:
        raise ValueError(f"gray {gray.dtype} {gray.shape} and mask {mask.shape} do not match")
    index = np.minimum(gray, 254)
    index[mask] = 255
    palette = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    palette[255] = color
    picture = Image.frombytes("P", (index.shape[1], index.shape[0]), index.tobytes())
    picture.putpalette(palette.tobytes())
    buf = io.BytesIO()
    # Huffman coding only: a noisy micrograph has few repeats for LZ77 to find, so this
    # is ~2.5x faster than zlib level 1 for 2-5% more bytes (1024x768: 6 vs 16 ms).
    picture.save(buf, format="PNG", compress_level=1, compress_type=zlib.Z_HUFFMAN_ONLY)
    return buf.getvalue()


def view_png(
    view: str,
    image: np.ndarray,
    *,
    boundary: np.ndarray,
    labels: np.ndarray,
    probability: np.ndarray,
    uncertainty: np.ndarray | None = None,
    max_side: int = DISPLAY_SIDE,
    gray: np.ndarray | None = None,
) -> tuple[bytes, tuple[int, int]]:
    """One of :data:`VIEWS` as PNG bytes for the screen, and its (rows, cols).

    Parameters
    ----------
    view, image, boundary, labels, probability, uncertainty, max_side
        As for :func:`render_view`.
    gray : uint8 (m, n), optional
        :func:`display_gray` of ``image`` kept from an earlier rerun (the boundary view
        then skips the down-scaling and contrast stretch).

    Returns
    -------
    png : bytes
    shape : (rows, cols)
    """
    shape = display_shape(image.shape[:2], max_side)
    if view == VIEWS[0]:
        if gray is None or gray.shape != shape:
            gray = display_gray(image, max_side)
        return boundary_view_png(gray, downscale_mask(boundary, shape)), shape
    rgb = render_view(
        view,
        image,
        boundary=boundary,
        labels=labels,
        probability=probability,
        uncertainty=uncertainty,
        max_side=max_side,
    )
    return screen_png(rgb), shape
