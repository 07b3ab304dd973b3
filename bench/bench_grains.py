"""Benchmark: the vectorised grain table against a per-region loop, on the same labels.

Prints one JSON object. Labels: a Voronoi tessellation of 20,000 cells on a
1536 x 2048 grid (an SEM frame of seed 000), 1-px boundaries between cells.
The naive reference is ``skimage.measure.regionprops`` plus a per-region PCA
(``np.cov`` of the pixel coordinates), the way a per-grain script measures grains.

Run: ``.venv/bin/python bench/bench_grains.py``
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from _common import machine_info, print_report, time_calls, voronoi_cells
from skimage.measure import regionprops

from grainseg_core.grains import grain_table, label_grains

SHAPE = (1536, 2048)
N_GRAINS = 20_000


def _voronoi_labels(shape: tuple[int, int], n: int, seed: int) -> np.ndarray:
    _, boundary = voronoi_cells(shape, n, np.random.default_rng(seed))
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
    machine = machine_info()
    labels = _voronoi_labels(SHAPE, N_GRAINS, seed=0)
    # The warm-up call pays the imports and page faults.
    vectorised = time_calls(lambda: grain_table(labels, pixel_size_um=0.1), 5)
    table = vectorised.result
    naive = time_calls(lambda: _naive_table(labels), 1, warmup=False)
    naive_s = naive.best_s
    same = bool(
        np.allclose(naive.result["aspect_ratio"], table["aspect_ratio"])
        and np.array_equal(naive.result["area_px"], table["area_px"])
    )
    vec_s = vectorised.median_s
    print_report(
        {
            "benchmark": "grain_table",
            "shape": list(SHAPE),
            "n_grains": int(len(table)),
            "vectorised_s_median_of_5": round(vec_s, 4),
            "vectorised_s_min": round(vectorised.best_s, 4),
            "naive_regionprops_loop_s": round(naive_s, 3),
            "speedup": round(naive_s / vec_s, 1),
            "tables_agree": same,
        },
        machine,
    )


if __name__ == "__main__":
    main()
