"""Benchmark: the core work behind the Dataset builder and Compare pages.

Prints one JSON object of wall-clock seconds (median of ``REPEATS`` runs) and sizes:

- ``uploads``: :func:`grainseg_core.archives.collect_files` unpacking a zip of the 32 real
  512x512 COCO melt-pool images (``../shared/data/polygons_coco``; synthetic PNGs when
  absent), then :func:`grainseg_core.rebuild.read_annotation_file` +
  :func:`grainseg_core.rebuild.rebuild_masks` of all of them, and
  :func:`grainseg_core.archives.masks_zip` of the masks (the download).
- ``ebsd_label``: :func:`grainseg_core.ebsd_labels.correct_label` on a 1024x768 synthetic
  SEM image and its drifted EBSD boundary map (global + local registration), and the
  drift views (vector table + figure, heat map, boundary-width table + figure).
- ``compare``: :func:`grainseg_core.compare.compare_models` of two predictions against the
  truth of a 2048x1536 synthetic microstructure (predictions: the truth with 40 gaps cut
  in, and the truth shifted by one pixel), and :func:`grainseg_core.compare.gap_closures`.

Nothing is asserted. Run: ``.venv/bin/python bench/bench_dataset_pages.py``.
"""

from __future__ import annotations

import io
import json
import os
import platform
import statistics
import time
import zipfile
from pathlib import Path

import numpy as np

REPEATS = 3
REPO = Path(__file__).resolve().parents[1]
COCO = (
    REPO.parent
    / "shared"
    / "data"
    / "polygons_coco"
    / "examples"
    / "instance_segmentation"
    / "data"
)


def _median_time(fn, repeats: int = REPEATS):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 4), out


def _coco_inputs() -> tuple[bytes, bytes, str]:
    """(annotation JSON, zip of images, where they came from)."""
    if COCO.is_dir():
        ann = (COCO / "annotations" / "validation.json").read_bytes()
        images = sorted((COCO / "validation").glob("*.png"))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in images:
                zf.write(p, f"validation/{p.name}")
        return ann, buf.getvalue(), "shared/data/polygons_coco (32 real 512x512 images)"
    from PIL import Image

    rng = np.random.default_rng(0)
    coco = {"images": [], "annotations": []}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(32):
            png = io.BytesIO()
            Image.fromarray(rng.integers(0, 255, (512, 512), dtype=np.uint8)).save(
                png, format="PNG"
            )
            zf.writestr(f"img{i}.png", png.getvalue())
            coco["images"].append(
                {"id": i, "file_name": f"img{i}.png", "height": 512, "width": 512}
            )
            for k in range(6):
                x, y = rng.integers(20, 400, 2)
                poly = [x, y, x + 60, y, x + 60, y + 40, x, y + 40]
                coco["annotations"].append(
                    {"id": 6 * i + k, "image_id": i, "segmentation": [[float(v) for v in poly]]}
                )
    return json.dumps(coco).encode(), buf.getvalue(), "synthetic (shared data absent)"


def bench_uploads() -> dict:
    from grainseg_core.archives import collect_files, masks_zip
    from grainseg_core.rebuild import read_annotation_file, rebuild_masks

    ann_bytes, zipped, source = _coco_inputs()
    t_collect, bundle = _median_time(lambda: collect_files([("images.zip", zipped)]))
    images = bundle.data()

    def rebuild():
        return rebuild_masks(read_annotation_file(ann_bytes, name="annotations.json"), images)

    t_rebuild, result = _median_time(rebuild)
    t_zip, data = _median_time(lambda: masks_zip(result.masks))
    return {
        "source": source,
        "zip_mb": round(len(zipped) / 2**20, 2),
        "n_images": len(result.masks),
        "n_polygons": int(result.summary["n_polygons"].sum()),
        "collect_files_s": t_collect,
        "read_and_rebuild_s": t_rebuild,
        "masks_zip_s": t_zip,
        "masks_zip_mb": round(len(data) / 2**20, 3),
    }


def bench_ebsd_label() -> dict:
    from grainseg_core.drift import boundary_width_table, drift_magnitude, drift_vectors
    from grainseg_core.drift_figures import (
        boundary_width_figure,
        drift_heatmap_figure,
        drift_vector_figure,
    )
    from grainseg_core.ebsd_labels import correct_label
    from grainseg_core.synthetic import make_microstructure

    ms = make_microstructure((768, 1024), seed=11, mean_grain_size_px=40)
    t_reg, out = _median_time(lambda: correct_label(ms.image, ms.ebsd.boundary))

    def views():
        shape = out.corrected.shape
        drift_vector_figure(drift_vectors(out.drift, step=64), shape)
        drift_heatmap_figure(drift_magnitude(out.drift))
        boundary_width_figure(boundary_width_table(out.before, corrected=out.corrected))

    t_views, _ = _median_time(views)
    truth = ms.boundary
    return {
        "shape": list(ms.image.shape),
        "correct_label_s": t_reg,
        "drift_views_s": t_views,
        "agreement_before": round(float((out.before == truth).mean()), 4),
        "agreement_after": round(float((out.corrected == truth).mean()), 4),
    }


def bench_compare() -> dict:
    from grainseg_core.compare import compare_models, gap_closures
    from grainseg_core.synthetic import make_microstructure

    ms = make_microstructure((1536, 2048), seed=5, mean_grain_size_px=60)
    truth = ms.boundary
    gapped = truth.copy()
    rows, cols = np.nonzero(truth)
    rng = np.random.default_rng(1)
    for i in rng.choice(rows.size, 40, replace=False):
        r, c = rows[i], cols[i]
        gapped[max(0, r - 3) : r + 4, max(0, c - 3) : c + 4] = False
    shifted = np.roll(truth, 1, axis=1)
    preds = {"gapped": gapped, "shifted": shifted}
    t_cmp, cmp = _median_time(lambda: compare_models(preds, truth, tolerance_px=2, min_size_px=3))
    t_gaps, sites = _median_time(lambda: gap_closures(shifted, gapped, truth, tolerance_px=2))
    return {
        "shape": list(truth.shape),
        "n_grains_true": int(len(cmp.grain_tables["ground truth"])),
        "compare_models_s": t_cmp,
        "gap_closures_s": t_gaps,
        "n_gap_sites": int(len(sites)),
    }


def main() -> None:
    import torch

    result = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
        "repeats": REPEATS,
        "uploads": bench_uploads(),
        "ebsd_label": bench_ebsd_label(),
        "compare": bench_compare(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
