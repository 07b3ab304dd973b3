"""Seeded Laguerre (power) tessellation of a pixel grid, with an anisotropic metric.

Private helper of :mod:`grainseg_core.synthetic`. Grains are the power cells of
seed circles packed by random sequential addition (largest first), whose
diameters are drawn from a log-normal distribution: because non-overlapping
circles each lie inside their own power cell, cell sizes follow the drawn sizes.
Elongation is an area-preserving linear map ``A`` of the plane: the tessellation
is isotropic in ``A``-space, so cells are stretched by ``elongation`` along the
chosen angle in pixel space.

The pixel assignment is exact (argmin of the power distance) and vectorised per
block of 16 x 16 pixels: a KD tree gives each block the few seeds that can win
there, and one batched product scores every pixel of every block against them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    "Seeds",
    "anisotropy_matrix",
    "pack_circles",
    "place_seeds",
    "power_labels",
    "relax_seeds",
]

_TILE = 16


@dataclass(frozen=True)
class Seeds:
    """Seed circles in the isotropic (``A``-mapped) space.

    ``points`` (n, 2) are (row', col') positions, ``radii`` (n,) the packing radii
    (power weights are ``radii ** 2``), ``diameters`` (n,) the drawn target ECDs.
    """

    points: np.ndarray
    radii: np.ndarray
    diameters: np.ndarray


def anisotropy_matrix(elongation: float, angle_deg: float) -> np.ndarray:
    """Return ``A`` (2, 2) acting on (row, col) vectors: cells come out elongated.

    The axis at ``angle_deg`` (counter-clockwise from the column axis, as displayed)
    is shrunk by ``sqrt(elongation)`` and the normal axis stretched by it, so an
    isotropic cell in ``A``-space maps back to one ``elongation`` times longer along
    the angle, with the same area (``det A = 1``).
    """
    t = math.radians(angle_deg)
    # Unit vector of the axis in (row, col) with rows pointing down.
    axis = np.array([-math.sin(t), math.cos(t)])
    normal = np.array([math.cos(t), math.sin(t)])
    s = math.sqrt(elongation)
    return np.outer(axis, axis) / s + np.outer(normal, normal) * s


def _flatten(lists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn KD-tree neighbour lists into (owner, neighbour) index arrays."""
    counts = np.fromiter(map(len, lists), dtype=np.intp, count=len(lists))
    flat = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.intp, count=int(counts.sum()))
    return np.repeat(np.arange(len(lists)), counts), flat


def pack_circles(
    rng: np.random.Generator,
    radii: np.ndarray,
    lo_px: np.ndarray,
    hi_px: np.ndarray,
    a_matrix: np.ndarray,
    *,
    overlap_tolerance: float,
    max_rounds: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Random sequential addition of circles, in vectorised rounds.

    Each round proposes a position (uniform in the pixel rectangle, mapped to
    ``A``-space) for every circle not yet placed; a proposal is kept unless it comes
    closer than ``overlap_tolerance * (r_i + r_j)`` to a placed circle or to a larger
    proposal of the same round.

    Parameters
    ----------
    radii : ndarray (n,)
        Best sorted largest first (big circles are placed before space runs out);
        any order gives non-overlapping circles.

    Returns
    -------
    points : ndarray (n, 2)
        Positions in ``A``-space (rows of unplaced circles are undefined).
    pending : ndarray of int
        Indices of the circles left unplaced after ``max_rounds``.
    """
    n = len(radii)
    size = hi_px - lo_px
    points = np.empty((n, 2))
    placed = np.zeros(n, dtype=bool)
    pending = np.arange(n)
    for _ in range(max_rounds):
        if pending.size == 0:
            break
        # Uniform in the pixel rectangle is uniform in A-space too (linear map).
        cand = (lo_px + rng.random((pending.size, 2)) * size) @ a_matrix.T
        r_cand = radii[pending]
        ok = np.ones(pending.size, dtype=bool)
        done = np.flatnonzero(placed)
        if done.size:
            # Conflicts with circles already placed.
            tree = cKDTree(points[done])
            reach = overlap_tolerance * (r_cand + radii[done].max())
            hits = tree.query_ball_point(cand, reach, return_sorted=True)
            owner, near = _flatten(hits)
            if near.size:
                j = done[near]
                d = np.hypot(*(points[j] - cand[owner]).T)
                ok[owner[d < overlap_tolerance * (r_cand[owner] + radii[j])]] = False
        # Conflicts inside the batch: a candidate yields to every larger one before it.
        idx = np.flatnonzero(ok)
        if idx.size > 1:
            tree_c = cKDTree(cand[idx])
            pairs = tree_c.query_pairs(
                overlap_tolerance * 2 * r_cand[idx].max(), output_type="ndarray"
            )
            if pairs.size:
                a, b = idx[pairs[:, 0]], idx[pairs[:, 1]]
                d = np.hypot(*(cand[a] - cand[b]).T)
                clash = d < overlap_tolerance * (r_cand[a] + r_cand[b])
                ok[np.maximum(a, b)[clash]] = False  # pending is sorted largest first
        take = pending[ok]
        points[take] = cand[ok]
        placed[take] = True
        pending = pending[~ok]
    return points, pending


def place_seeds(
    rng: np.random.Generator,
    lo_px: np.ndarray,
    hi_px: np.ndarray,
    a_matrix: np.ndarray,
    *,
    mean_diameter: float,
    sigma: float,
    packing: float = 0.85,
    overlap_tolerance: float = 0.85,
    max_rounds: int = 40,
) -> Seeds:
    """Draw log-normal diameters and pack seed circles by batched random sequential addition.

    Parameters
    ----------
    rng : numpy.random.Generator
        The only source of randomness.
    lo_px, hi_px : ndarray (2,)
        Corners (row, col) of the pixel-space rectangle to fill.
    a_matrix : ndarray (2, 2)
        The anisotropy map; circles are packed in ``A``-space.
    mean_diameter : float
        Mean of the log-normal ECD distribution, in pixels.
    sigma : float
        Standard deviation of ``ln(ECD)``.
    packing : float
        Circle radius as a fraction of the target radius.
    overlap_tolerance : float
        Two circles may overlap down to this fraction of the sum of their radii.
    max_rounds : int
        Rounds of proposals; circles still unplaced afterwards go anywhere.
    """
    size = hi_px - lo_px
    area = float(size[0] * size[1])  # det A = 1: the same area in A-space
    mu = math.log(mean_diameter) - 0.5 * sigma**2
    # E[pi D^2 / 4] = pi/4 * exp(2 mu + 2 sigma^2): seeds needed to tile the rectangle.
    mean_area = math.pi / 4.0 * math.exp(2 * mu + 2 * sigma**2)
    n = max(1, int(round(area / mean_area)))
    diameters = np.sort(rng.lognormal(mu, sigma, n))[::-1]
    radii = 0.5 * packing * diameters
    points, pending = pack_circles(
        rng,
        radii,
        lo_px,
        hi_px,
        a_matrix,
        overlap_tolerance=overlap_tolerance,
        max_rounds=max_rounds,
    )
    if pending.size:
        points[pending] = (lo_px + rng.random((pending.size, 2)) * size) @ a_matrix.T
    return Seeds(points=points, radii=radii, diameters=diameters)


def relax_seeds(
    seeds: Seeds,
    shape: tuple[int, int],
    origin: tuple[float, float],
    a_matrix: np.ndarray,
    *,
    iterations: int,
    factor: int = 4,
) -> Seeds:
    """Capacity-constrained Lloyd steps on a coarse grid: rounder cells, sizes on target.

    Each step moves every cell that lies wholly inside the grid to its centroid
    (in ``A``-space) and scales its radius by ``sqrt(target area / area)`` (the area
    ratio clipped to [0.5, 2]), the targets being the drawn diameters rescaled to the measured
    total. Raw power cells of random circles are more irregular (median PCA aspect
    ~1.35) and narrower in size spread than drawn; a few steps fix both.
    """
    if iterations <= 0:
        return seeds
    m, n = max(1, shape[0] // factor), max(1, shape[1] // factor)
    rr, cc = np.mgrid[:m, :n]
    centre = (factor - 1) / 2.0
    coarse_origin = (origin[0] / factor + centre / factor, origin[1] / factor + centre / factor)
    q = (np.stack([rr.ravel(), cc.ravel()], -1) * float(factor)) + np.add(origin, centre)
    q = q @ a_matrix.T
    target = np.pi / 4.0 * seeds.diameters**2
    pts, radii = seeds.points.copy(), seeds.radii.copy()
    k = len(pts)
    for _ in range(iterations):
        lab = power_labels(
            (m, n), coarse_origin, a_matrix * factor, Seeds(pts, radii, seeds.diameters)
        )
        frame = np.zeros(k, dtype=bool)
        frame[np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])] = True
        lab = lab.ravel()
        cnt = np.bincount(lab, minlength=k).astype(np.float64)
        inside = (cnt > 0) & ~frame
        if not inside.any():
            break
        pts[inside, 0] = np.bincount(lab, q[:, 0], k)[inside] / cnt[inside]
        pts[inside, 1] = np.bincount(lab, q[:, 1], k)[inside] / cnt[inside]
        area = cnt * factor * factor
        goal = target * (area[inside].sum() / target[inside].sum())
        ratio = np.clip(goal[inside] / area[inside], 0.5, 2.0)
        radii[inside] *= np.sqrt(ratio)
    return Seeds(points=pts, radii=radii, diameters=seeds.diameters)


def power_labels(
    shape: tuple[int, int],
    origin: tuple[float, float],
    a_matrix: np.ndarray,
    seeds: Seeds,
) -> np.ndarray:
    """Assign every pixel to the seed of smallest power distance in ``A``-space.

    Parameters
    ----------
    shape : (M, N)
        Grid size.
    origin : (row0, col0)
        Pixel coordinates of grid element (0, 0).
    a_matrix : ndarray (2, 2)
        The anisotropy map applied to (row, col) vectors.
    seeds : Seeds
        Seed circles in ``A``-space.

    Returns
    -------
    ndarray, int32 (M, N)
        Index of the winning seed per pixel.
    """
    m, n = shape
    t = _TILE
    nty, ntx = -(-m // t), -(-n // t)
    weights = seeds.radii**2
    pts = seeds.points
    # Tile centres in pixel space, then in A-space.
    cy = origin[0] + np.arange(nty) * t + (t - 1) / 2.0
    cx = origin[1] + np.arange(ntx) * t + (t - 1) / 2.0
    centres = np.stack(np.meshgrid(cy, cx, indexing="ij"), -1).reshape(-1, 2) @ a_matrix.T
    half_diag = np.linalg.norm(a_matrix, 2) * (t - 1) / math.sqrt(2.0)

    tree = cKDTree(pts)
    k = min(8, len(pts))
    dist, idx = tree.query(centres, k=k)
    dist = dist.reshape(len(centres), k)
    idx = idx.reshape(len(centres), k)
    upper = ((dist + half_diag) ** 2 - weights[idx]).min(axis=1)
    reach = half_diag + np.sqrt(np.maximum(upper + weights.max(), 0.0))
    lists = tree.query_ball_point(centres, reach, return_sorted=True)
    owner, flat = _flatten(lists)
    # Exact lower bound of each candidate over its tile; drop those that cannot win.
    gap = np.maximum(np.hypot(*(pts[flat] - centres[owner]).T) - half_diag, 0.0)
    keep = gap**2 - weights[flat] <= upper[owner]
    flat, owner = flat[keep], owner[keep]
    n_tiles = len(lists)
    counts = np.bincount(owner, minlength=n_tiles)
    offsets = np.cumsum(counts) - counts  # owner is sorted: each tile's candidates are contiguous

    uu, vv = np.mgrid[:t, :t].astype(np.float64) - (t - 1) / 2.0
    local = np.stack([uu.ravel(), vv.ravel()], -1) @ a_matrix.T
    q = np.concatenate([local, np.ones((t * t, 1))], axis=1)  # (t*t, 3)
    out = np.empty((n_tiles, t * t), dtype=np.int32)
    # Tiles grouped by candidate count: most have 1-4, so no padding to the maximum.
    for k_cand in np.unique(counts):
        tiles = np.flatnonzero(counts == k_cand)
        cand = flat[offsets[tiles][:, None] + np.arange(k_cand)]
        if k_cand == 1:
            out[tiles] = cand  # broadcast over the tile's pixels
            continue
        # Score = |q - s|^2 - w minus the |q|^2 common to all candidates, with q and
        # s relative to the tile centre (small numbers: no cancellation).
        rel = pts[cand] - centres[tiles][:, None, :]
        bias = (rel**2).sum(-1) - weights[cand]
        coef = np.concatenate([-2.0 * rel.transpose(0, 2, 1), bias[:, None, :]], axis=1)
        step = max(1, 2_000_000 // (t * t * int(k_cand)))
        for s in range(0, len(tiles), step):
            score = np.matmul(q, coef[s : s + step])  # (chunk, t*t, k)
            best = score.argmin(axis=-1)
            out[tiles[s : s + step]] = np.take_along_axis(cand[s : s + step], best, axis=1)
    grid = out.reshape(nty, ntx, t, t).transpose(0, 2, 1, 3).reshape(nty * t, ntx * t)
    return np.ascontiguousarray(grid[:m, :n])
