"""Dead ends of 1-px boundaries: walls that separate no two grains.

A grain boundary lies between two grains. A piece of a thinned boundary map whose
3x3 neighbourhood touches only one grain (a wall that stops inside a grain: an
unclosed wall, a spur left by thinning, faint contrast inside a grain) separates
nothing. It changes no grain but is crossed by intercept test lines, so it makes the
Heyn intercept shorter than the grains are. Private helper of
:mod:`grainseg_core.postprocess`.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["drop_dead_ends"]


def drop_dead_ends(skeleton: np.ndarray) -> tuple[np.ndarray, int]:
    """Remove the pixels of a 1-px boundary mask that touch only one grain.

    Grains are the 4-connected components of non-boundary pixels. A boundary pixel goes
    when its 3x3 neighbourhood holds pixels of exactly one grain; a wall ending inside a
    grain has the same grain on both sides (the grain wraps round its tip), so all of it
    goes in one pass, while the junction it left from stays. The grains are unchanged:
    each removed pixel joins the one grain it touches (it must share a side with it),
    and where two 4-adjacent candidates touch different grains both stay. Meant for thin
    boundaries: pixels inside a thick wall see no grain and stay.

    Returns the new mask and the number of pixels removed.
    """
    if not skeleton.any() or skeleton.all():
        return skeleton.copy(), 0
    # Grain labels framed by a ring of 0 ("no grain"), so that every boundary pixel has
    # 8 neighbours to look at; only the boundary pixels are examined.
    framed = np.pad(skeleton, 1, constant_values=True)
    _, labels = cv2.connectedComponents((~framed).view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    flat = labels.reshape(-1)
    width = framed.shape[1]
    rows, cols = np.nonzero(skeleton)
    at = (rows + 1) * width + (cols + 1)
    side = np.array([-width, -1, 1, width])
    corner = np.array([-width - 1, -width + 1, width - 1, width + 1])
    near = flat[at[:, None] + np.concatenate([side, corner])]  # (n, 8): sides first
    highest = near.max(axis=1)
    lowest = np.where(near > 0, near, np.iinfo(np.int32).max).min(axis=1)
    # One grain in the 3x3, met along a side (a pixel that meets its grain only at a
    # corner would become a grain of its own).
    dead = (highest > 0) & (lowest == highest) & (near[:, :4] > 0).any(axis=1)
    # Two 4-adjacent dead pixels of different grains (a wall two pixels thick, one side
    # each) would join their grains: both stay.
    grain_of = np.zeros(flat.size, np.int32)
    grain_of[at[dead]] = highest[dead]
    beside = grain_of[at[dead][:, None] + side]
    clash = ((beside > 0) & (beside != highest[dead][:, None])).any(axis=1)
    dead[np.flatnonzero(dead)[clash]] = False
    out = skeleton.copy()
    out[rows[dead], cols[dead]] = False
    return out, int(dead.sum())
