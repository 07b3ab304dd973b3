"""Benchmark: full post-processing of an SEM-frame-sized boundary probability map.

Prints one JSON object. The map (1536 x 2048, the SEM frame of seed 000) is built
from a synthetic microstructure's true 1-px boundaries
(``grainseg_core.synthetic.make_microstructure``, ~60 px grains): walls widened to 7 px,
150 gaps of 5-9 px cut into them, Gaussian blur (sigma 1.5) and Gaussian noise
(sigma 0.08), like a network prediction with drift-widened boundaries and broken lines.

The target pipeline is ``PostprocessConfig(closing_radius=1, skeletonize=True,
gap_close_px=10, min_grain_size=5)``: threshold 0.5, closing r=1, thinning, gap
closing 10 px, small-grain merge. Reported: median wall time and CPU time of the
process (``time.process_time``, less sensitive to other jobs on a shared machine)
of ``postprocess`` over several runs, the median per-step wall times, and the
quality against the truth (grain counts, ARI, VI, F1 within 3 px) for the plain
threshold and for the pipeline; then the time and quality of the pipeline with the
optional dead-end removal (``prune_dead_ends``) added.

Run: ``.venv/bin/python bench/bench_postprocess.py``
"""

from __future__ import annotations

import statistics
from dataclasses import replace

import cv2
import numpy as np
import skimage
from _common import machine_info, print_report, time_calls

from grainseg_core.metrics import evaluate_segmentation
from grainseg_core.postprocess import PostprocessConfig, postprocess, run_postprocess
from grainseg_core.synthetic import make_microstructure

SHAPE = (1536, 2048)
REPEATS = 7
TARGET = PostprocessConfig(closing_radius=1, skeletonize=True, gap_close_px=10, min_grain_size=5)


def _truth_boundary(seed: int) -> np.ndarray:
    return make_microstructure(SHAPE, seed=seed, mean_grain_size_px=60).boundary


def _probability_map(truth: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    thick = cv2.dilate(truth.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    rows, cols = np.nonzero(truth)
    pick = rng.choice(rows.size, 150, replace=False)
    for r, c in zip(rows[pick], cols[pick], strict=True):
        cv2.circle(thick, (int(c), int(r)), int(rng.integers(2, 5)), 0, -1)
    prob = cv2.GaussianBlur(thick.astype(np.float32), (0, 0), 1.5)
    prob = 0.05 + 0.9 * prob + rng.normal(0, 0.08, SHAPE).astype(np.float32)
    return np.clip(prob, 0, 1).astype(np.float32)


def _quality(boundary: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    r = evaluate_segmentation(boundary, truth, tolerance_px=3)
    keys = ("n_grains_pred", "grain_count_error", "ari", "vi_split", "vi_merge", "f1_tol", "hd95")
    return {k: round(float(r[k]), 4) for k in keys}


def main() -> None:
    machine = machine_info(
        opencv=cv2.__version__,
        opencv_threads=cv2.getNumThreads(),
        scikit_image=skimage.__version__,
    )
    truth = _truth_boundary(0)
    prob = _probability_map(truth, 1)
    total = time_calls(lambda: postprocess(prob, TARGET), REPEATS)  # warm-up: imports, caches
    steps: dict[str, list[float]] = {}
    for _ in range(REPEATS):
        for name, ms in run_postprocess(prob, TARGET).timings_ms.items():
            steps.setdefault(name, []).append(ms)
    result = run_postprocess(prob, TARGET)
    pruned = replace(TARGET, prune_dead_ends=True)
    dead_end_ms = [run_postprocess(prob, pruned).timings_ms["dead_ends"] for _ in range(REPEATS)]
    evaluation = time_calls(
        lambda: evaluate_segmentation(result.boundary, truth, tolerance_px=3), 1, warmup=False
    )

    out = {
        "benchmark": "postprocess",
        "shape": list(SHAPE),
        "config": {
            k: v for k, v in TARGET.__dict__.items() if v != PostprocessConfig().__dict__[k]
        },
        "repeats": REPEATS,
        "postprocess_total_ms_median": round(total.median_s * 1e3, 1),
        "postprocess_total_ms_min": round(total.best_s * 1e3, 1),
        "postprocess_cpu_ms_median": round(total.cpu_median_s * 1e3, 1),
        "target_ms": 100,
        "step_ms_median": {k: round(statistics.median(v), 1) for k, v in steps.items()},
        "n_bridges": result.n_bridges,
        "n_merged": result.n_merged,
        "n_grains_true": int(
            cv2.connectedComponents((~truth).view(np.uint8), connectivity=4)[0] - 1
        ),
        "quality_threshold_only": _quality(prob > 0.5, truth),
        "quality_pipeline": _quality(result.boundary, truth),
        # Gaps of 5-9 px in 7-px walls are ~11-15 px apart between centre lines.
        "quality_pipeline_gap_close_14px": _quality(
            postprocess(prob, replace(TARGET, gap_close_px=14)), truth
        ),
        # The optional dead-end removal (the default model's card may ask for it).
        "dead_ends_step_ms_median": round(statistics.median(dead_end_ms), 1),
        "quality_pipeline_dead_ends": _quality(postprocess(prob, pruned), truth),
        "evaluate_segmentation_ms": round(evaluation.best_s * 1e3, 1),
    }
    print_report(out, machine, indent=2)


if __name__ == "__main__":
    main()
