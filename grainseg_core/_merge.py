"""Small-grain removal by merging each small grain into a neighbour.

Every boundary pixel belongs to the *territory* of its nearest grain (a discrete
Voronoi diagram of the grains, from one OpenCV distance transform). Two grains
are neighbours when their territories touch, and the number of touching
4-neighbour pixel pairs measures how long the wall between them is.

1. Each small grain (area below ``min_area_px``) joins the neighbour with which
   it shares the longest wall (ties: the larger neighbour). Groups so formed that
   are still small join their best neighbour group in turn, until no small group
   has a neighbour. A small grain with no neighbour at all (the only grain) stays.
2. Inside a merged group, the boundary pixels of the group's territories are
   removed, except those that still separate the group from another group:
   a pixel stays when it is 4-adjacent to another group's territory, or when it is
   closer to such a pixel ``q`` than ``q``'s own distance to the grains minus half
   a pixel (``q`` is on the middle line of a thick wall; this keeps the whole
   width of a thick wall between the merged grain and the others).

Only pixels of merged groups change: every other grain keeps its pixels, and every
4-path between different groups still crosses a kept boundary pixel, so groups
never leak into each other.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

__all__ = ["merge_small_grains_mask"]

def _territories(
    bflat: np.ndarray, lflat: np.ndarray, idx: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Nearest-grain label of the boundary pixels ``idx``, and their distance to it.

    When every boundary pixel touches a grain (thin boundaries, the usual case
    after thinning) the 3x3 neighbours settle it, 4-neighbours first, and the
    distance is not needed (None). Otherwise one distance transform does it.
    """
    width = shape[1]
    nearest = np.zeros(idx.size, dtype=lflat.dtype)
    for step in (1, -1, width, -width, width + 1, width - 1, -width + 1, -width - 1):
        unset = nearest == 0
        if not unset.any():
            return nearest, None
        nearest[unset] = lflat[idx[unset] + step]
    if (nearest > 0).all():
        return nearest, None
    dist, seed = cv2.distanceTransformWithLabels(
        bflat.reshape(shape).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5,
        labelType=cv2.DIST_LABEL_PIXEL,
    )
    # DIST_LABEL_PIXEL numbers the zero (grain) pixels 1..K in raster order.
    grain_of_seed = np.concatenate([[0], lflat[~bflat]])
    return grain_of_seed[seed.reshape(-1)[idx]], dist.reshape(-1)


def _neighbour_pairs(
    bflat: np.ndarray, tflat: np.ndarray, idx: np.ndarray, width: int, small: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count touching 4-neighbour pairs between different territories.

    ``tflat`` holds the territory of every pixel (grain label on grain pixels,
    nearest grain on boundary pixels, 0 on the frame ring). Returns (u, v, count)
    with u < v, for the pairs with at least one small grain (the only ones the
    merge looks at: a group still small after a round is made of small grains).
    Every territory change lies next to a boundary pixel, so looking right and
    down from boundary pixels, and left and up from them onto grain pixels only,
    sees each pixel pair once.
    """
    us, vs = [], []
    here = tflat[idx]
    for step, only_grain in ((1, False), (width, False), (-1, True), (-width, True)):
        other = idx + step
        there = tflat[other]
        keep = (here != there) & (here > 0) & (there > 0) & (small[here] | small[there])
        if only_grain:
            keep &= ~bflat[other]
        us.append(here[keep])
        vs.append(there[keep])
    a, b = np.concatenate(us).astype(np.int64), np.concatenate(vs).astype(np.int64)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    n = int(tflat.max()) + 1
    keys, counts = np.unique(lo * n + hi, return_counts=True)
    return keys // n, keys % n, counts


def _choose_groups(
    u: np.ndarray, v: np.ndarray, count: np.ndarray, area: np.ndarray, min_area_px: float
) -> np.ndarray:
    """Return the group id of every grain (index 0 = no grain) after merging."""
    n = area.size
    group = np.arange(n)
    group_area = area.astype(np.float64)
    pu, pv, pc = u, v, count
    for _ in range(n):
        small = group_area < min_area_px
        small[0] = False
        src = np.concatenate([pu, pv])
        dst = np.concatenate([pv, pu])
        cnt = np.concatenate([pc, pc])
        take = small[src]
        if not take.any():
            break
        src, dst, cnt = src[take], dst[take], cnt[take]
        order = np.lexsort((-group_area[dst], -cnt, src))
        src, dst = src[order], dst[order]
        first = np.unique(src, return_index=True)[1]
        graph = sparse.coo_array(
            (np.ones(first.size), (src[first], dst[first])), shape=(n, n)
        ).tocsr()
        _, comp = connected_components(graph, directed=False)
        # Group ids stay grain ids: each group is named after its lowest member.
        rep = np.zeros(comp.max() + 1, dtype=np.int64)
        rep[comp[::-1]] = np.arange(n)[::-1]
        remap = rep[comp]
        group = remap[group]
        group_area = np.bincount(remap, weights=group_area, minlength=n)
        # Walls between groups: sum the counts of grain pairs across two groups.
        a, b = remap[pu], remap[pv]
        between = a != b
        lo, hi = np.minimum(a, b)[between], np.maximum(a, b)[between]
        keys, inverse = np.unique(lo * n + hi, return_inverse=True)
        pc = np.bincount(inverse, weights=pc[between]).astype(np.int64)
        pu, pv = keys // n, keys % n
    return group


_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=np.uint8)
_DIAGONAL = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=np.uint8)


def _within_reach(
    separates: np.ndarray,
    remove: np.ndarray,
    idx: np.ndarray,
    dist: np.ndarray,
    shape: tuple[int, int],
) -> np.ndarray:
    """For thick walls: which removal candidates lie inside the wall kept around a
    separating pixel ``q``, i.e. closer to ``q`` than ``dist(q) - 0.5``.

    ``f(p) = max_q (dist(q) - 0.5 - |p - q|)`` is grown outwards from the
    separating pixels by repeated 3x3 dilations with steps of 1 and sqrt(2) (an
    octagonal approximation of the Euclidean distance); a candidate stays when
    ``f > 0``. Only the bounding box of the candidates (plus the largest reach) is
    processed. With thin walls every reach is <= sqrt(2) - 0.5 < 1, so only the
    separating pixels themselves would stay: callers skip this then.
    """
    width = shape[1]
    sep_idx = idx[separates]
    reach = dist[sep_idx] - 0.5
    steps = int(np.ceil(reach.max())) if reach.size else 0
    at = idx[remove]
    if steps <= 0:
        return np.zeros(remove.size, dtype=bool)
    r_at, c_at = np.divmod(at, width)
    r0, r1 = max(int(r_at.min()) - steps - 1, 0), min(int(r_at.max()) + steps + 2, shape[0])
    c0, c1 = max(int(c_at.min()) - steps - 1, 0), min(int(c_at.max()) + steps + 2, shape[1])
    r_sep, c_sep = np.divmod(sep_idx, width)
    inside = (r_sep >= r0) & (r_sep < r1) & (c_sep >= c0) & (c_sep < c1)
    f = np.full((r1 - r0, c1 - c0), -1e6, dtype=np.float32)
    f[r_sep[inside] - r0, c_sep[inside] - c0] = reach[inside]
    for _ in range(steps):
        grown = np.maximum(
            cv2.dilate(f, _CROSS) - 1.0, cv2.dilate(f, _DIAGONAL) - np.float32(np.sqrt(2))
        )
        f = np.maximum(f, grown)
    return f[r_at - r0, c_at - c0] > 0


def merge_small_grains_mask(boundary: np.ndarray, min_area_px: float) -> tuple[np.ndarray, int]:
    """Merge grains smaller than ``min_area_px`` pixels into neighbours.

    Returns the new boundary mask and the number of grains merged away.
    """
    out = boundary.copy()
    if min_area_px <= 0 or boundary.all() or not boundary.any():
        return out, 0
    # Work on a copy framed by a ring of boundary: neighbour look-ups never fall
    # off the image, and the ring (label 0) belongs to no grain.
    bpad = np.pad(boundary, 1, constant_values=True)
    shape, width = bpad.shape, bpad.shape[1]
    # (connectedComponentsWithStats is ~3x slower than this pair of calls)
    n_labels, labels = cv2.connectedComponents(
        (~bpad).view(np.uint8), connectivity=4, ltype=cv2.CV_32S
    )
    area = np.bincount(labels.reshape(-1), minlength=n_labels)
    area[0] = 0
    small = area < min_area_px
    small[0] = False
    if n_labels < 3 or not small.any():
        return out, 0
    bflat, lflat = bpad.reshape(-1), labels.reshape(-1)
    idx = np.flatnonzero(bflat)
    rows, cols = np.divmod(idx, width)
    inside = (rows > 0) & (rows < shape[0] - 1) & (cols > 0) & (cols < width - 1)
    idx, rows, cols = idx[inside], rows[inside] - 1, cols[inside] - 1
    nearest, dist = _territories(bflat, lflat, idx, shape)
    lflat[idx] = nearest  # labels now hold territories
    u, v, count = _neighbour_pairs(bflat, lflat, idx, width, small)
    group = _choose_groups(u, v, count, area, min_area_px)
    members = np.bincount(group, minlength=n_labels)
    merged_group = members > 1
    merged_group[0] = False
    if not merged_group.any():
        return out, 0

    g = group[nearest]
    separates = np.zeros(idx.size, dtype=bool)
    for step in (1, -1, width, -width):
        other = group[lflat[idx + step]]
        separates |= (other != g) & (other > 0)
    candidate = merged_group[g] & ~separates
    remove = np.flatnonzero(candidate)
    if dist is not None and remove.size:
        keep = _within_reach(separates, remove, idx, dist, shape)
        remove = remove[~keep]
    out[rows[remove], cols[remove]] = False
    n_merged = int(members[merged_group].sum() - merged_group.sum())
    return out, n_merged
