"""Benchmark: dataset export of SEM-sized frames into 256x256 patches, and patch loading.

Prints one JSON object. Sources: 20 images of 1536 x 2048 (seed 000's frame size),
uint8, a cheap random grain texture (Voronoi cells of random gray levels plus noise) with
its 1-px cell boundaries as labels. Each configuration exports all 20 into a fresh folder
(48 patches per image, 960 in all; by-image split) and is timed end to end (wall and process
CPU time): preprocessing, cutting, PNG encoding and writing (4 threads), manifest. Then
GrainDataset reads the training patches with and without augmentation.

Run: ``.venv/bin/python bench/bench_patching.py [--n-images 20]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np
from _common import machine_info, print_report, time_calls, voronoi_cells

from grainseg_core.augment import AugmentConfig
from grainseg_core.datasets import GrainDataset
from grainseg_core.patching import ImagePair, PatchConfig, export_dataset, preprocess_image

SHAPE = (1536, 2048)


def _texture(shape: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cells, boundary = voronoi_cells(shape, 1500, rng)
    levels = rng.uniform(60, 200, 1500)
    image = levels[cells] + rng.normal(0, 8, shape) - 40 * boundary
    return np.clip(image, 0, 255).astype(np.uint8), boundary


def _folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=20)
    args = parser.parse_args()
    machine = machine_info(opencv_threads=cv2.getNumThreads())

    base_image, base_label = _texture(SHAPE, 0)
    # Distinct sources from one texture: rolled copies (cheap; content differs per image).
    pairs = [
        ImagePair(
            f"sem{i:02d}",
            np.roll(base_image, (97 * i, 131 * i), axis=(0, 1)),
            np.roll(base_label, (97 * i, 131 * i), axis=(0, 1)),
            pixel_size_um=0.05,
        )
        for i in range(args.n_images)
    ]
    configs = {
        "plain": PatchConfig(size=256),
        "median3": PatchConfig(size=256, median=3),
        "clahe": PatchConfig(size=256, clahe=True),
        "median3_clahe": PatchConfig(size=256, median=3, clahe=True),
    }
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg in configs.items():
            prep = time_calls(
                lambda cfg=cfg: [preprocess_image(p.image, cfg) for p in pairs[:5]], 1, warmup=False
            )
            prep_ms = prep.best_s / 5 * 1e3
            out = Path(tmp) / name
            export = time_calls(
                lambda out=out, cfg=cfg: export_dataset(pairs, out, cfg), 1, warmup=False
            )
            seconds, cpu_seconds = export.best_s, export.cpu_best_s
            n = len(export.result.patches)
            results[name] = {
                "export_s": round(seconds, 3),
                "export_cpu_s": round(cpu_seconds, 3),
                "patches": n,
                "patches_per_s": round(n / seconds, 1),
                "images_per_s": round(len(pairs) / seconds, 2),
                "preprocess_ms_per_image": round(prep_ms, 2),
                "disk_mb": round(_folder_mb(out), 1),
            }

        loading: dict[str, float] = {}
        for label, aug in (
            ("plain", None),
            ("flips_rot90", AugmentConfig()),
            (
                "seed003_rotate_scale_intensity",
                AugmentConfig(rotate_deg=180, scale_range=(0.9, 1.1), affine_p=1.0, intensity=0.05),
            ),
        ):
            ds = GrainDataset(Path(tmp) / "plain", split="train", augment=aug)
            count = min(len(ds), 300)
            reading = time_calls(
                lambda ds=ds, count=count: [ds[i] for i in range(count)], 1, warmup=False
            )
            loading[f"{label}_items_per_s"] = round(count / reading.best_s, 1)

    print_report(
        {
            "benchmark": "patching",
            "images": args.n_images,
            "image_shape": list(SHAPE),
            "patch_size": 256,
            "export": results,
            "dataset_loading_256": loading,
        },
        machine,
        indent=1,
    )


if __name__ == "__main__":
    main()
