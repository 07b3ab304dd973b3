"""Watershed splitting of grains with a neck (distance transform + h-maxima).

Only grains holding two or more h-maxima are flooded, so the cost follows the
grains that split, not the image: on a 1536 x 2048 map of ~1000 grains where
few split this takes a fraction of a second, where a whole-image
``skimage.morphology.h_maxima`` + ``watershed`` took ~6 s.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.segmentation import watershed

__all__ = ["split_necks"]

# Distances are quantised to 1/16 px for the integer h-maxima.
_SCALE = 16
_SQUARE = np.ones((3, 3), dtype=np.uint8)
# Convergence of the reconstruction is checked every few dilations.
_CHECK_EVERY = 4


def _h_maxima(q: np.ndarray, h: int) -> np.ndarray:
    """h-maxima of a uint16 image: ``q - R >= h`` with ``R`` the reconstruction by
    dilation (8-connected) of ``q - h`` under ``q`` (as ``skimage.morphology.h_maxima``
    for integer images), by repeated 3x3 geodesic dilations until stable."""
    rec = cv2.subtract(q, np.full_like(q, h))
    while True:
        before = rec
        for _ in range(_CHECK_EVERY):
            rec = cv2.min(cv2.dilate(rec, _SQUARE), q)
        if np.array_equal(rec, before):
            break
    return cv2.subtract(q, rec) >= h


def split_necks(boundary: np.ndarray, h_px: float) -> np.ndarray:
    """Return ``boundary`` plus watershed lines across the necks of its grains."""
    grains = np.ascontiguousarray(~boundary)
    if not grains.any():
        return boundary.copy()
    # Distance to the boundary or the frame (the frame counts as boundary).
    dist = cv2.distanceTransform(
        np.pad(grains, 1).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE
    )[1:-1, 1:-1]
    q = np.minimum(np.rint(dist * _SCALE), np.iinfo(np.uint16).max).astype(np.uint16)
    peaks = _h_maxima(q, max(1, int(round(h_px * _SCALE))))
    n_marks, marks = cv2.connectedComponents(peaks.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    n_grains, grain = cv2.connectedComponents(
        grains.view(np.uint8), connectivity=4, ltype=cv2.CV_32S
    )
    # Each peak lies inside one grain: count the peaks of every grain.
    grain_of_mark = np.zeros(n_marks, dtype=np.int64)
    grain_of_mark[marks[peaks]] = grain[peaks]
    per_grain = np.bincount(grain_of_mark[1:], minlength=n_grains)
    splits = per_grain >= 2
    splits[0] = False
    if not splits.any():
        return boundary.copy()
    region = splits[grain]
    rows, cols = np.nonzero(region)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    sub = region[r0:r1, c0:c1]
    basins = watershed(
        -dist[r0:r1, c0:c1],
        np.where(sub, marks[r0:r1, c0:c1], 0),
        mask=sub,
        connectivity=1,
        watershed_line=True,
    )
    out = boundary.copy()
    out[r0:r1, c0:c1] |= sub & (basins == 0)
    return out
