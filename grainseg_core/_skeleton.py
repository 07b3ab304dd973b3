"""Thinning of boundary masks and 3x3 neighbourhood codes on skeletons.

Private helpers shared by :mod:`grainseg_core.postprocess` (thinning, gap closing)
and :mod:`grainseg_core.metrics` (boundary widths).

Thinning is :func:`skimage.morphology.skeletonize` (Zhang's method), which
preserves the topology of the foreground (8-connected) and of the background
(4-connected): a thinned boundary separates the same 4-connected grains as the
thick one. The one catch is the image frame. ``skeletonize`` pads with
background, so all grains touching the frame are joined *outside* the image and
walls between them may be eaten away from the frame (on the NIST steel map 226
grains became 210). Padding with True (the frame as boundary) leaves slivers
between the frame and the thinned walls instead (231). Mirroring the mask across
the frame before thinning makes a wall that meets the frame continue through it,
so thinning keeps every grain (226 -> 226). In rare cases (3 of 300 random noisy
masks) the mirror leaves a tiny pocket of former boundary at the frame; such
pockets are given back to the boundary. See ``tests/test_postprocess.py``.

Large masks are thinned as two halves on two threads (``skeletonize`` releases
the GIL), each with 48 rows of the other half as context, and the result is
exactly the one-call result: a cut changes the thinning only within about twice
the wall depth at the cut, so the split is made only when every wall near the seam
is at most (margin - 2) / 2 deep; otherwise one call does the whole mask. (An
empirical bound, not a proof: ``tests/test_postprocess.py`` checks exact equality on
random masks from hair-thin to 30 px deep and on a thick micrograph-sized map.)
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from skimage.measure import label
from skimage.morphology import skeletonize

__all__ = ["RING_OFFSETS", "thin_mask", "ring_codes", "ENDPOINT_LUT", "TRANSITIONS_LUT"]

#: 8-neighbour offsets (d_row, d_col) in ring order, clockwise from north:
#: N, NE, E, SE, S, SW, W, NW. Bit k of a ring code is neighbour k.
RING_OFFSETS: np.ndarray = np.array(
    [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)], dtype=np.int64
)

# Mirror margin for thinning: walls up to twice this wide that run along the frame
# are thinned as if the image went on.
_THIN_PAD = 16

# Two-thread thinning: masks with fewer rows are thinned in one call (threads
# would not pay); each half gets this many rows of the other half as context.
_SPLIT_MIN_ROWS = 512
_SEAM_MARGIN = 48
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    # A forked child (a DataLoader worker) inherits the pool but not its threads.
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _ring_tables() -> tuple[np.ndarray, np.ndarray]:
    codes = np.arange(256)
    bits = (codes[:, None] >> np.arange(8)[None, :]) & 1
    # Number of 0 -> 1 steps going once round the ring: the number of separate
    # runs of neighbours (branches leaving the pixel).
    transitions = ((bits == 1) & (np.roll(bits, 1, axis=1) == 0)).sum(axis=1)
    count = bits.sum(axis=1)
    # An end point has one branch leaving it, made of one pixel or of two touching
    # pixels (a line ending in a staircase corner).
    endpoint = (transitions == 1) & (count <= 2)
    return endpoint, transitions.astype(np.int8)


#: ``ENDPOINT_LUT[code]`` is True when a skeleton pixel with that ring code ends a line.
#: ``TRANSITIONS_LUT[code]`` is the number of separate neighbour runs round the ring.
ENDPOINT_LUT, TRANSITIONS_LUT = _ring_tables()


def thin_mask(mask: np.ndarray) -> np.ndarray:
    """Thin a boolean mask to 1-pixel lines, keeping its grains (frame-aware).

    A mask with no background pixel, or no foreground pixel, is returned as a copy:
    there is nothing to thin towards (an all-boundary map stays all boundary).
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.all() or not mask.any():
        return mask.copy()
    pad = _THIN_PAD
    padded = np.pad(mask, pad, mode="symmetric")
    thin = _skeletonize(padded)[pad:-pad, pad:-pad]
    _fill_frame_slivers(thin, mask, pad)
    return thin


def _n_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _skeletonize(mask: np.ndarray) -> np.ndarray:
    """``skeletonize(mask)``, on two threads when the mask is large: same result."""
    if mask.shape[0] < _SPLIT_MIN_ROWS or _n_cpus() < 2:
        return skeletonize(mask)
    seam = _split_seam(mask, _SEAM_MARGIN)
    if seam is None:
        return skeletonize(mask)
    return _skeletonize_halves(mask, seam, _SEAM_MARGIN)


def _split_seam(mask: np.ndarray, margin: int) -> int | None:
    """The middle row if the mask may be thinned as two halves there, else None.

    A cut changes the thinning only within about twice the wall depth (chessboard
    distance to the background) around it, so every wall within ``margin`` rows
    of either cut must be at most ``(margin - 2) / 2`` deep.
    """
    rows = mask.shape[0]
    if rows < 4 * margin:
        return None
    seam = rows // 2
    strip = np.ascontiguousarray(mask[seam - 2 * margin : seam + 2 * margin], dtype=np.uint8)
    depth = cv2.distanceTransform(strip, cv2.DIST_C, 3)[margin : 3 * margin].max()
    return seam if 2 * depth + 2 <= margin else None


def _skeletonize_halves(mask: np.ndarray, seam: int, margin: int) -> np.ndarray:
    """Thin the rows above and below ``seam`` on two threads, each with ``margin`` rows of context."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="grainseg-thin")
    top, bottom = _pool.map(skeletonize, (mask[: seam + margin], mask[seam - margin :]))
    return np.concatenate((top[:seam], bottom[margin:]))


def _fill_frame_slivers(thin: np.ndarray, mask: np.ndarray, band: int) -> None:
    """Give back to the boundary any new grain that thinning made at the frame.

    Away from the frame thinning keeps the grains exactly; where a wall bends
    along the frame, the mirrored copy can leave a tiny pocket of former boundary
    pixels (3 of 300 random noisy masks). A grain of ``thin`` with no pixel that
    was a grain pixel of ``mask`` is such a pocket. Only strips of ``band`` pixels
    along the frame are searched (cheap), for pockets that do not reach the
    strip's inner edge.
    """
    m, n = thin.shape
    # (rows, cols, inner edge of the strip as (axis, index) or None if the strip
    # spans the whole image that way)
    strips = [
        (slice(0, band), slice(None), (0, -1) if m > band else None),
        (slice(max(m - band, 0), m), slice(None), (0, 0) if m > band else None),
        (slice(None), slice(0, band), (1, -1) if n > band else None),
        (slice(None), slice(max(n - band, 0), n), (1, 0) if n > band else None),
    ]
    for rows, cols, inner in strips:
        sub = thin[rows, cols]
        labels = label(~sub, connectivity=1)
        if labels.max() == 0:
            continue
        pocket = np.bincount(labels[~mask[rows, cols]], minlength=labels.max() + 1) == 0
        pocket[0] = False
        if inner is not None:
            axis, index = inner
            pocket[labels[index] if axis == 0 else labels[:, index]] = False
        if pocket.any():
            sub[pocket[labels]] = True


def ring_codes(padded: np.ndarray, flat_index: np.ndarray) -> np.ndarray:
    """Return the 8-bit ring code of the pixels at ``flat_index`` of ``padded``.

    ``padded`` is a C-contiguous bool or integer array (non-zero = set) with at
    least one pixel of margin around every index asked for.
    """
    flat = padded.reshape(-1)
    width = padded.shape[1]
    code = np.zeros(flat_index.shape, dtype=np.uint8)
    for bit, (dr, dc) in enumerate(RING_OFFSETS):
        code |= (flat[flat_index + (dr * width + dc)] != 0).view(np.uint8) << bit
    return code
