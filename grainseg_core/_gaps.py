"""Gap closing: bridge the loose ends of a boundary skeleton.

The work is vectorised over end points (a map has a few hundred to a few
thousand); nothing loops over pixels or grains in Python. Steps:

1. End points: skeleton pixels whose 8 neighbours form one run of one or two
   pixels (:data:`~grainseg_core._skeleton.ENDPOINT_LUT`). The image frame counts
   as boundary, so a line that reaches the frame has no end point there.
2. Direction: walk back along the skeleton from each end point, one pixel per
   step for all end points at once, stopping at junctions and line ends. The
   heading is the vector from the pixel ``_DIRECTION_PX`` (6) steps back to the
   end. The walked pixels are the end's own branch and are never bridge targets.
   Ends whose branch is shorter than ``_MIN_BRANCH_PX`` (4) pixels are skipped:
   they are the short spurs that thinning leaves at thick junctions, or specks,
   and bridging them cuts sliver grains off their neighbours.
3. Target: among skeleton pixels (and frame pixels) within ``max_gap_px``
   (Euclidean, centre to centre), the nearest one inside the cone of half-angle
   ``cone_deg`` about the heading; if the cone is empty, the nearest one in the
   forward half-plane (angle < 90 degrees). Nothing behind the end is ever a
   target, which keeps a line from bridging back onto itself.
4. Bridge: a digital straight line (each step moves one pixel along the major
   axis, the minor coordinate rounded: the same 8-connected line as
   ``skimage.draw.line``), drawn for all bridges at once. An 8-connected line
   separates 4-connected grains.
"""

from __future__ import annotations

import math

import numpy as np

from grainseg_core._skeleton import ENDPOINT_LUT, RING_OFFSETS, TRANSITIONS_LUT, ring_codes

__all__ = ["find_endpoints", "bridge_gaps"]

# Steps walked back from an end point to estimate where the line was heading.
_DIRECTION_PX = 6
# Branches shorter than this (a walk that meets a junction, or the other end of
# an isolated piece, sooner) are thinning spurs or specks, not broken lines.
_MIN_BRANCH_PX = 4
# Walked pixels checked when looking for the next step.
_RECENT = 4
# Largest (end points x window pixels) block handled at once, to bound memory.
_BLOCK_CELLS = 2_000_000
# Ring positions of the 4-neighbours (N, E, S, W): preferred when the walk can
# step to a 4-neighbour or a diagonal of the same run (a staircase corner).
_IS_FOUR = np.array([1, 0, 1, 0, 1, 0, 1, 0], dtype=bool)


_SKELETON, _FRAME = 1, 2


def _framed(skeleton: np.ndarray, pad: int) -> np.ndarray:
    """Zero-pad the skeleton (uint8, 1 = skeleton) and mark the frame ring with 2."""
    framed = np.pad(np.ascontiguousarray(skeleton, dtype=bool).view(np.uint8), pad)
    m, n = skeleton.shape
    framed[pad - 1, pad - 1 : pad + n + 1] = _FRAME
    framed[pad + m, pad - 1 : pad + n + 1] = _FRAME
    framed[pad - 1 : pad + m + 1, pad - 1] = _FRAME
    framed[pad - 1 : pad + m + 1, pad + n] = _FRAME
    return framed


def _endpoint_index(framed: np.ndarray) -> np.ndarray:
    """Flat indices (into ``framed``) of the skeleton's end points."""
    idx = np.flatnonzero(framed.reshape(-1) == _SKELETON)
    return idx[ENDPOINT_LUT[ring_codes(framed, idx)]]


def find_endpoints(skeleton: np.ndarray) -> np.ndarray:
    """Return the (row, col) of the end points of a skeleton, shape (K, 2), int64.

    The frame counts as boundary: a line touching the frame has no end point there.
    """
    framed = _framed(skeleton, 1)
    rows, cols = np.divmod(_endpoint_index(framed), framed.shape[1])
    return np.stack([rows - 1, cols - 1], axis=1).astype(np.int64)


def _walk_back(
    framed: np.ndarray, ends: np.ndarray, n_steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Walk ``n_steps`` pixels back along the skeleton from each end point.

    Frame pixels are not walked on. Returns the visited flat indices, shape
    (K, n_steps + 1), -1 where a walk stopped early, and the number of steps each
    walk made.
    """
    flat = framed.reshape(-1)
    ring = RING_OFFSETS[:, 0] * framed.shape[1] + RING_OFFSETS[:, 1]
    visited = np.full((ends.size, n_steps + 1), -1, dtype=np.int64)
    visited[:, 0] = ends
    steps = np.zeros(ends.size, dtype=np.int64)
    current = ends.copy()
    active = np.arange(ends.size)
    weights = np.where(_IS_FOUR, 2, 1)
    bit_values = (1 << np.arange(8)).astype(np.int64)
    for step in range(1, n_steps + 1):
        if active.size == 0:
            break
        around = current[active, None] + ring[None, :]
        on = flat[around] == _SKELETON
        # On a 1-px line only the last few pixels walked can be neighbours again.
        recent = visited[active, None, max(0, step - _RECENT) : step]
        on &= ~(around[:, :, None] == recent).any(axis=2)
        code = (on.astype(np.int64) * bit_values).sum(axis=1)
        # Stop at a line end (nothing new) or a junction (more than one run).
        going = (code > 0) & (TRANSITIONS_LUT[code] == 1)
        choice = np.argmax(on * weights, axis=1)
        moved = active[going]
        current[moved] = around[going, choice[going]]
        visited[moved, step] = current[moved]
        steps[moved] = step
        active = moved
    return visited, steps


def _window(max_gap_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Offsets of the search disc: rows, cols, distances, and a (2R+1)^2 lookup."""
    radius = int(math.floor(max_gap_px))
    dr, dc = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    dist = np.hypot(dr, dc)
    keep = (dist > 0) & (dist <= max_gap_px + 1e-9)
    lookup = np.full(dr.shape, -1, dtype=np.int64)
    lookup[keep] = np.arange(int(keep.sum()))
    return dr[keep].astype(np.int64), dc[keep].astype(np.int64), dist[keep], lookup


def bridge_gaps(
    boundary: np.ndarray,
    skeleton: np.ndarray,
    *,
    max_gap_px: float,
    cone_deg: float,
) -> tuple[np.ndarray, int]:
    """Draw bridges from the skeleton's end points onto ``boundary``.

    Parameters
    ----------
    boundary : bool (M, N)
        The mask the bridges are drawn on (returned as a new array).
    skeleton : bool (M, N)
        Its 1-pixel skeleton (may be ``boundary`` itself when already thin).
    max_gap_px : float
        Longest bridge, centre to centre, in pixels (>= 1).
    cone_deg : float
        Half-angle of the preferred search cone about each end's heading.

    Returns
    -------
    (bool (M, N), int)
        The bridged mask and the number of bridges drawn.
    """
    out = np.array(boundary, dtype=bool, copy=True)
    radius = int(math.floor(max_gap_px))
    if radius < 1 or not skeleton.any():
        return out, 0
    pad = radius + 2
    framed = _framed(skeleton, pad)
    width = framed.shape[1]

    ends = _endpoint_index(framed)
    if ends.size == 0:
        return out, 0
    ends_rc = np.stack(np.divmod(ends, width), axis=1)

    n_steps = max(_DIRECTION_PX, _MIN_BRANCH_PX, radius + 2)
    visited, steps = _walk_back(framed, ends, n_steps)
    line = steps >= _MIN_BRANCH_PX
    if not line.any():
        return out, 0
    ends, ends_rc, visited, steps = ends[line], ends_rc[line], visited[line], steps[line]
    back = visited[np.arange(ends.size), np.minimum(steps, _DIRECTION_PX)]
    heading = ends_rc - np.stack(np.divmod(back, width), axis=1)
    heading_norm = np.hypot(heading[:, 0], heading[:, 1])

    off_r, off_c, off_d, lookup = _window(max_gap_px)
    off_flat = off_r * width + off_c
    cos_cone = math.cos(math.radians(cone_deg))
    frame_flat = framed.reshape(-1)
    block = max(1, _BLOCK_CELLS // off_flat.size)

    starts, targets = [], []
    for lo in range(0, ends.size, block):
        sl = slice(lo, lo + block)
        e, e_rc, k = ends[sl], ends_rc[sl], np.arange(ends[sl].size)
        cand = frame_flat[e[:, None] + off_flat[None, :]] != 0
        # The end's own branch is never a target.
        v = visited[sl]
        v_r, v_c = np.divmod(np.where(v >= 0, v, 0), width)
        rel_r, rel_c = v_r - e_rc[:, :1], v_c - e_rc[:, 1:]
        inside = (v >= 0) & (np.abs(rel_r) <= radius) & (np.abs(rel_c) <= radius)
        col = np.where(inside, lookup[np.clip(rel_r + radius, 0, 2 * radius),
                                      np.clip(rel_c + radius, 0, 2 * radius)], -1)
        row_idx = np.broadcast_to(k[:, None], col.shape)
        hit = col >= 0
        cand[row_idx[hit], col[hit]] = False

        h = heading[sl] / heading_norm[sl, None]
        cos = (off_r[None, :] * h[:, :1] + off_c[None, :] * h[:, 1:]) / off_d[None, :]
        # Nearest first; among equally near targets, the one straightest ahead.
        key = off_d[None, :] + 1e-3 * (1.0 - cos)
        in_cone = cand & (cos >= cos_cone - 1e-9)
        ahead = cand & (cos > 1e-9)
        best_cone = np.where(in_cone, key, np.inf).argmin(axis=1)
        best_ahead = np.where(ahead, key, np.inf).argmin(axis=1)
        has_cone, has_ahead = in_cone.any(axis=1), ahead.any(axis=1)
        best = np.where(has_cone, best_cone, best_ahead)
        ok = has_cone | has_ahead
        starts.append(e_rc[ok])
        targets.append(np.stack([off_r[best[ok]], off_c[best[ok]]], axis=1))

    start = np.concatenate(starts) - pad
    offset = np.concatenate(targets)
    if start.shape[0] == 0:
        return out, 0
    length = np.abs(offset).max(axis=1)
    t = np.minimum(np.arange(radius + 1)[None, :], length[:, None]) / length[:, None]
    rr = start[:, :1] + np.rint(t * offset[:, :1]).astype(np.int64)
    cc = start[:, 1:] + np.rint(t * offset[:, 1:]).astype(np.int64)
    m, n = out.shape
    inside = (rr >= 0) & (rr < m) & (cc >= 0) & (cc < n)
    out[rr[inside], cc[inside]] = True
    return out, int(start.shape[0])
