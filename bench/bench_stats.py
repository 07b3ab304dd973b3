"""Benchmark: ASTM grain size, distribution fits and overlays at SEM-frame scale.

Prints one JSON object (seconds, median of 3 runs after a warm-up):

- ASTM G on a 1536 x 2048 boundary map (Voronoi, 5,000 grains, 1-px boundaries): the
  intercept method with the E112 pattern and with a 60-px line grid in 4 directions, on the
  closed map and on a "gappy" copy (5 % of boundary pixels removed in short gaps, as in a
  prediction, which exercises the graze test); planimetric and E1382 area methods.
- Fits on 20,000 grain sizes / aspect ratios (exponential, log-normal, gamma, Beta), the
  JS distance of two fits and a two-sample KS test.
- Overlays on 1536 x 2048 (uint16 image): confusion (tolerance 0 and 2 px), labels,
  probability, difference.

Run: ``.venv/bin/python bench/bench_stats.py``
"""

from __future__ import annotations

import numpy as np
from _common import machine_info, median_of, print_report, voronoi_cells

from grainseg_core.astm import (
    InterceptConfig,
    area_grain_size,
    intercept_grain_size,
    planimetric_grain_size,
)
from grainseg_core.distributions import (
    fit_aspect_ratio,
    fit_distribution,
    js_distance_pdfs,
    ks_two_sample,
)
from grainseg_core.grains import label_grains
from grainseg_core.overlays import (
    confusion_overlay,
    difference_overlay,
    label_overlay,
    probability_overlay,
)

SHAPE = (1536, 2048)
N_GRAINS = 5_000
N_FIT = 20_000
PIXEL_UM = 0.1


def _with_gaps(boundary: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = boundary.copy()
    rows, cols = np.nonzero(boundary)
    pick = rng.choice(rows.size, int(fraction * rows.size / 3), replace=False)
    for dr in (-1, 0, 1):  # 3x3 holes around the picked pixels: short gaps
        for dc in (-1, 0, 1):
            r = np.clip(rows[pick] + dr, 0, boundary.shape[0] - 1)
            c = np.clip(cols[pick] + dc, 0, boundary.shape[1] - 1)
            out[r, c] = False
    return out


def _time(func) -> tuple[float, object]:
    seconds, result = median_of(func, 3)
    return round(seconds, 4), result


def main() -> None:
    machine = machine_info()
    _, boundary = voronoi_cells(SHAPE, N_GRAINS, np.random.default_rng(0))
    gappy = _with_gaps(boundary, 0.05, seed=1)
    grid = InterceptConfig(pattern="grid", spacing_px=60.0)
    out: dict[str, object] = {"benchmark": "stats", "shape": list(SHAPE), "n_grains": N_GRAINS}

    t, r = _time(lambda: intercept_grain_size(boundary, pixel_size_um=PIXEL_UM))
    out["intercept_e112_s"], out["intercept_e112_G"] = t, round(r.G, 3)
    t, r = _time(lambda: intercept_grain_size(boundary, pixel_size_um=PIXEL_UM, config=grid))
    out["intercept_grid60_s"], out["intercept_grid60_G"], out["intercept_grid60_crossings"] = (
        t,
        round(r.G, 3),
        r.n_counts,
    )
    t, r = _time(lambda: intercept_grain_size(gappy, pixel_size_um=PIXEL_UM, config=grid))
    out["intercept_grid60_gappy_s"], out["intercept_grid60_gappy_G"] = t, round(r.G, 3)
    t, r = _time(
        lambda: intercept_grain_size(boundary, pixel_size_um=PIXEL_UM, config=grid, fields=(2, 3))
    )
    out["intercept_grid60_6fields_s"] = t
    t, r = _time(lambda: planimetric_grain_size(boundary, pixel_size_um=PIXEL_UM))
    out["planimetric_s"], out["planimetric_G"] = t, round(r.G, 3)
    t, r = _time(lambda: area_grain_size(boundary, pixel_size_um=PIXEL_UM))
    out["area_e1382_s"], out["area_e1382_G"] = t, round(r.G, 3)

    rng = np.random.default_rng(2)
    sizes = rng.lognormal(np.log(10.0), 0.5, N_FIT)
    aspect = 1.0 / rng.beta(5.0, 2.0, N_FIT)
    for fam in ("exponential", "lognormal", "gamma"):
        out[f"fit_{fam}_20k_s"], _ = _time(lambda fam=fam: fit_distribution(sizes, fam))
    out["fit_beta_aspect_20k_s"], _ = _time(lambda: fit_aspect_ratio(aspect))
    fa, fb = fit_distribution(sizes, "gamma"), fit_distribution(sizes * 1.1, "gamma")
    out["js_distance_pdfs_s"], _ = _time(lambda: js_distance_pdfs(fa, fb))
    out["ks_two_sample_20k_s"], _ = _time(lambda: ks_two_sample(sizes, sizes * 1.1))

    image = (rng.random(SHAPE) * 4000).astype(np.uint16)
    pred = np.roll(boundary, 1, axis=0) | gappy
    labels = label_grains(boundary)
    prob = rng.random(SHAPE, dtype=np.float32)
    out["overlay_confusion_tol0_s"], _ = _time(
        lambda: confusion_overlay(pred, boundary, image=image)
    )
    out["overlay_confusion_tol2_s"], _ = _time(
        lambda: confusion_overlay(pred, boundary, tolerance_px=2, image=image)
    )
    out["overlay_labels_s"], _ = _time(lambda: label_overlay(labels, image=image))
    ecd = np.sqrt(4 * np.bincount(labels.ravel())[1:] / np.pi)
    out["overlay_labels_by_value_s"], _ = _time(lambda: label_overlay(labels, values=ecd))
    out["overlay_probability_s"], _ = _time(lambda: probability_overlay(prob, image=image))
    out["overlay_difference_s"], _ = _time(
        lambda: difference_overlay(pred, gappy, boundary, tolerance_px=1)
    )

    print_report(out, machine)


if __name__ == "__main__":
    main()
