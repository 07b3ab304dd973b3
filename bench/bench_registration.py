"""Benchmark: SEM-EBSD registration of a 2048 x 1536 pair with a known drift.

The pair comes from :func:`grainseg_core.synthetic.make_microstructure` (an SEM frame
of seed 000's size): its EBSD companion is displaced by a rigid shift of ~25 px plus a
smooth non-rigid field of up to 20 px (together up to ~40 px, the drift seed 000
reports). ``register`` runs with its defaults (global + local); the figures are the
median of 3 runs: wall and CPU seconds, split into the stages of
``RegistrationResult.timings_s`` (global, local, warp, ...), and the error of the
recovered drift against the truth (RMS and 95th percentile, in pixels, more than
64 px from the border), with the boundary F1 at tolerance 0 before and after.

Prints one JSON object and asserts nothing about time.

Run: ``.venv/bin/python bench/bench_registration.py``
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time

import cv2
import numpy as np
import torch

from grainseg_core.metrics import pixel_metrics
from grainseg_core.registration import register
from grainseg_core.synthetic import DriftConfig, SyntheticConfig, make_microstructure

SHAPE = (1536, 2048)
MARGIN = 64


def main() -> None:
    config = SyntheticConfig(
        drift=DriftConfig(shift_px=(18.0, -17.0), max_nonrigid_px=20.0, spacing_px=680.0)
    )
    t0 = time.perf_counter()
    ms = make_microstructure(SHAPE, seed=3, config=config)
    make_s = time.perf_counter() - t0
    truth = ms.drift
    register(ms.image[:256, :256], ms.ebsd.boundary[:256, :256])  # warm-up (imports, caches)

    runs = []
    for _ in range(3):
        w0, c0 = time.perf_counter(), time.process_time()
        res = register(ms.image, ms.ebsd.boundary)
        runs.append((time.perf_counter() - w0, time.process_time() - c0, res))
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    res = runs[-1][2]
    stages = {
        k: round(statistics.median(r[2].timings_s[k] for r in runs), 3) for k in res.timings_s
    }

    inner = (slice(None), slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    err = np.hypot(*(res.drift - truth)[inner])
    magnitude = np.hypot(*truth[inner])
    out: dict[str, object] = {
        "benchmark": "register",
        "shape": list(SHAPE),
        "make_pair_s": round(make_s, 2),
        "truth_drift_max_px": round(float(magnitude.max()), 1),
        "truth_drift_mean_px": round(float(magnitude.mean()), 1),
        "wall_s_median_of_3": round(wall, 3),
        "cpu_s_median_of_3": round(cpu, 3),
        "stage_s": stages,
        "global_local_warp_s": round(stages["global"] + stages["local"] + stages["warp"], 3),
        "error_rms_px": round(float(np.sqrt((err**2).mean())), 3),
        "error_p95_px": round(float(np.percentile(err, 95)), 3),
        "error_max_px": round(float(err.max()), 3),
        "polarity": res.global_alignment.polarity,
        "global_shift_px": [round(v, 2) for v in res.global_alignment.shift],
        "f1_tol0_before": round(pixel_metrics(ms.ebsd.boundary, ms.boundary)["f1"], 3),
        "f1_tol0_after": round(pixel_metrics(res.warped_boundary, ms.boundary)["f1"], 3),
        "ncc_before_after": [round(res.quality_before.ncc, 3), round(res.quality_after.ncc, 3)],
        "tile_passes": res.tiles.groupby("pass")["tile_px"].first().tolist(),
        "warnings": list(res.warnings),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "opencv_threads": cv2.getNumThreads(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "machine": platform.machine(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
