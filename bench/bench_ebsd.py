"""Benchmark: grain-boundary map from a 1000 x 1000 EBSD map (cubic symmetry).

Prints one JSON object. The map: 2,000 Voronoi cells with random orientations;
a quarter of the cells are Sigma-3 twins of their nearest neighbour cell, and every pixel
carries 0.3 deg of orientation noise (so LAGB thresholds see real scatter).
Timed (median of repeats): the symmetry-reduced misorientation of all ~2M
4-neighbour edges, the full classification (misorientation + classes + twins +
grain labels), rasterising the boundaries onto a 2000 x 2000 SEM grid, and, as a
reference, orix's ``Orientation.angle_with`` on the same edges.

Run: ``.venv/bin/python bench/bench_ebsd.py``
"""

from __future__ import annotations

import math

import numpy as np
from _common import machine_info, median_of, print_report, time_calls
from scipy.spatial import cKDTree

from grainseg_core.ebsd import (
    GBConfig,
    classify_boundaries,
    neighbour_misorientation,
    rasterize_boundaries,
)
from grainseg_core.io.ebsd import EBSDMap, EBSDPhase

SHAPE = (1000, 1000)
N_CELLS = 2000
REPEATS = 3


def _synthetic_map(seed: int = 0) -> EBSDMap:
    from orix.quaternion import Rotation

    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 1, (N_CELLS, 2)) * SHAPE
    rr, cc = np.mgrid[: SHAPE[0], : SHAPE[1]]
    _, cell = cKDTree(pts).query(np.c_[rr.ravel(), cc.ravel()])
    # Uniform random orientations from the seeded generator (orix's Rotation.random draws
    # from numpy's global state, which made the map differ from run to run).
    oris = rng.normal(size=(N_CELLS, 4))
    oris /= np.linalg.norm(oris, axis=1, keepdims=True)
    half = math.radians(30.0)
    twin = np.array([math.cos(half), *(math.sin(half) / math.sqrt(3.0),) * 3])
    # Twin a quarter of the cells against their nearest neighbour cell (which is
    # not itself twinned), so that Sigma-3 boundaries really occur.
    _, nearest = cKDTree(pts).query(pts, k=2)
    twinned = rng.choice(N_CELLS, N_CELLS // 4, replace=False)
    parents = nearest[twinned, 1]
    keep = ~np.isin(parents, twinned)
    oris[twinned[keep]] = (Rotation(twin) * Rotation(oris[parents[keep]])).data
    q = oris[cell]
    axis = rng.normal(size=(q.shape[0], 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    noise_half = np.radians(rng.normal(0, 0.3, q.shape[0])) / 2
    noise = np.column_stack([np.cos(noise_half), np.sin(noise_half)[:, None] * axis])
    q = (Rotation(noise) * Rotation(q)).data.reshape(*SHAPE, 4)
    return EBSDMap(q, np.ones(SHAPE, np.int32), {1: EBSDPhase(1, "fcc", "m-3m")}, 0.1)


def _time(fn) -> tuple[float, object]:
    # No warm-up call: each of these takes seconds at this size.
    return median_of(fn, REPEATS, warmup=False)


def _orix_reference(ebsd: EBSDMap) -> float:
    from orix.quaternion import Orientation, symmetry

    o = Orientation(ebsd.quaternions, symmetry.Oh)

    def both_directions():
        o[:, :-1].angle_with(o[:, 1:], degrees=True)
        o[:-1].angle_with(o[1:], degrees=True)

    return time_calls(both_directions, 1, warmup=False).best_s


def main() -> None:
    machine = machine_info()
    ebsd = _synthetic_map()
    config = GBConfig(lagb_min_deg=2, hagb_min_deg=15, twins="separate")
    t_mis, _ = _time(lambda: neighbour_misorientation(ebsd))
    t_all, b = _time(lambda: classify_boundaries(ebsd, config=config))
    t_raster, line = _time(
        lambda: rasterize_boundaries(b, target_shape=(2000, 2000), line_width_px=3)
    )
    t_orix = _orix_reference(ebsd)
    classes = np.bincount(
        np.concatenate([b.edge_class_right.ravel(), b.edge_class_down.ravel()]), minlength=6
    )
    print_report(
        {
            "benchmark": "ebsd_boundaries",
            "ebsd_shape": list(SHAPE),
            "n_edges": int(classes.sum()),
            "n_cells": N_CELLS,
            "misorientation_s": round(t_mis, 3),
            "classify_total_s": round(t_all, 3),
            "rasterize_2000x2000_width3_s": round(t_raster, 3),
            "orix_angle_with_reference_s": round(t_orix, 3),
            "speedup_vs_orix_misorientation": round(t_orix / t_mis, 1),
            "n_grains": b.n_grains,
            "edge_class_counts": {
                "none": int(classes[0]),
                "lagb": int(classes[1]),
                "hagb": int(classes[2]),
                "twin": int(classes[3]),
            },
            "sem_boundary_fraction": round(float(line.mean()), 4),
            "repeats": REPEATS,
        },
        machine,
    )


if __name__ == "__main__":
    main()
