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

import statistics

import cv2
import numpy as np
from _common import machine_info, print_report, time_calls

from grainseg_core.metrics import pixel_metrics
from grainseg_core.registration import register
from grainseg_core.synthetic import DriftConfig, SyntheticConfig, make_microstructure

SHAPE = (1536, 2048)
MARGIN = 64


def main() -> None:
    config = SyntheticConfig(
        drift=DriftConfig(shift_px=(18.0, -17.0), max_nonrigid_px=20.0, spacing_px=680.0)
    )
    machine = machine_info(opencv=cv2.__version__, opencv_threads=cv2.getNumThreads())
    making = time_calls(lambda: make_microstructure(SHAPE, seed=3, config=config), 1, warmup=False)
    ms = making.result
    truth = ms.drift
    register(ms.image[:256, :256], ms.ebsd.boundary[:256, :256])  # warm-up (imports, caches)

    results = []

    def run():
        results.append(register(ms.image, ms.ebsd.boundary))
        return results[-1]

    timing = time_calls(run, 3, warmup=False)
    res = timing.result
    stages = {
        k: round(statistics.median(r.timings_s[k] for r in results), 3) for k in res.timings_s
    }

    inner = (slice(None), slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    err = np.hypot(*(res.drift - truth)[inner])
    magnitude = np.hypot(*truth[inner])
    out: dict[str, object] = {
        "benchmark": "register",
        "shape": list(SHAPE),
        "make_pair_s": round(making.best_s, 2),
        "truth_drift_max_px": round(float(magnitude.max()), 1),
        "truth_drift_mean_px": round(float(magnitude.mean()), 1),
        "wall_s_median_of_3": round(timing.median_s, 3),
        "cpu_s_median_of_3": round(timing.cpu_median_s, 3),
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
    }
    print_report(out, machine)


if __name__ == "__main__":
    main()
