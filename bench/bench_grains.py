"""Benchmark: the vectorised grain table against a per-region loop, on the same labels.

Prints one JSON object. Labels: a Voronoi tessellation of 20,000 cells on a
1536 x 2048 grid (an SEM frame of seed 000), 1-px boundaries between cells.
The naive reference is ``skimage.measure.regionprops`` plus a per-region PCA
(``np.cov`` of the pixel coordinates), the way a per-grain script measures grains.

Run: ``.venv/bin/python bench/bench_grains.py``
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time

import numpy as np
import pandas as pd
import torch
from scipy.spatial import cKDTree
from skimage.measure import regionprops

from grainseg_core.grains import grain_table, label_grains

SHAPE = (1536, 2048)
N_GRAINS = 20_000


def _voronoi_labels(shape: tuple[int, int], n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 1, (n, 2)) * shape
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    _, idx = cKDTree(pts).query(np.c_[rr.ravel(), cc.ravel()], workers=-1)
    cells = idx.reshape(shape)
    boundary = np.zeros(shape, bool)
    boundary[:, :-1] |= cells[:, :-1] != cells[:, 1:]
    boundary[:-1, :] |= cells[:-1, :] != cells[1:, :]
    return label_grains(boundary)


def _naive_table(labels: np.ndarray) -> pd.DataFrame:
    rows = []
    for p in regionprops(labels):
        coords = p.coords.astype(np.float64)
        if len(coords) > 1:
            ev = np.sort(np.linalg.eigvalsh(np.cov(coords.T, bias=True)))
        else:
            ev = np.zeros(2)
        rows.append(
            {
                "label": p.label,
                "area_px": p.area,
                "ecd_px": p.equivalent_diameter_area,
                "aspect_ratio": np.sqrt((ev[1] + 1 / 12) / (ev[0] + 1 / 12)),
                "major_axis_px": p.axis_major_length,
                "minor_axis_px": p.axis_minor_length,
                "orientation": p.orientation,
                "perimeter_px": p.perimeter_crofton,
                "centroid": p.centroid,
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    labels = _voronoi_labels(SHAPE, N_GRAINS, seed=0)
    grain_table(labels)  # warm-up (imports, page faults)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        table = grain_table(labels, pixel_size_um=0.1)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    naive = _naive_table(labels)
    naive_s = time.perf_counter() - t0
    same = bool(
        np.allclose(naive["aspect_ratio"], table["aspect_ratio"])
        and np.array_equal(naive["area_px"], table["area_px"])
    )
    vec_s = statistics.median(times)
    print(
        json.dumps(
            {
                "benchmark": "grain_table",
                "shape": list(SHAPE),
                "n_grains": int(len(table)),
                "vectorised_s_median_of_5": round(vec_s, 4),
                "vectorised_s_min": round(min(times), 4),
                "naive_regionprops_loop_s": round(naive_s, 3),
                "speedup": round(naive_s / vec_s, 1),
                "tables_agree": same,
                "cpu_count": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
                "python": platform.python_version(),
                "numpy": np.__version__,
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
