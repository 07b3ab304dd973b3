"""Benchmark: polygon rasterisation, 16-bit TIFF reading and polygon CSV parsing.

Prints one JSON object of figures (median of repeats, seconds):

* ``rasterise_*``: 10,000 random star-shaped polygons (5-19 vertices, radius 3-20 px) as
  10 images x 1,000 polygons, each filled into a 1536 x 2048 mask with
  :func:`grainseg_core.io.polygons_to_mask` (binary and instance modes), against a loop of
  ``skimage.draw.polygon`` calls (one per polygon) as the naive reference.
* ``read_tiff_16bit_*``: :func:`grainseg_core.io.read_image` of a 1536 x 2048 uint16 TIFF
  (uncompressed and zlib from bytes in memory, uncompressed from a file).
* ``csv_parse_10k_rows_s``: :func:`grainseg_core.io.read_polygon_csv` of 10,000 rows
  (about 12 vertices each), from bytes.

Run: ``.venv/bin/python bench/bench_io.py``
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tifffile
from _common import machine_info, median_of, print_report
from skimage.draw import polygon as sk_polygon

from grainseg_core.io import (
    ImageAnnotations,
    Polygon,
    polygons_to_mask,
    read_image,
    read_polygon_csv,
    write_polygon_csv,
)

SHAPE = (1536, 2048)
N_IMAGES = 10
PER_IMAGE = 1_000


def _random_polygons(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    polys = []
    for _ in range(n):
        centre = rng.uniform((20, 20), (SHAPE[1] - 20, SHAPE[0] - 20))  # all inside: no warning
        k = int(rng.integers(5, 20))
        angles = np.sort(rng.uniform(0, 2 * np.pi, k))
        radii = rng.uniform(3, 20, k)
        polys.append(
            np.column_stack(
                [centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)]
            )
        )
    return polys


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    return median_of(fn, repeats)[0]


def _skimage_loop(polys: list[np.ndarray]) -> np.ndarray:
    mask = np.zeros(SHAPE, bool)
    for p in polys:
        # Shifted by half a pixel: the same pixel-centre convention as polygons_to_mask.
        rr, cc = sk_polygon(p[:, 1] - 0.5, p[:, 0] - 0.5, SHAPE)
        mask[rr, cc] = True
    return mask


def main() -> None:
    machine = machine_info()
    rng = np.random.default_rng(0)
    images = [_random_polygons(rng, PER_IMAGE) for _ in range(N_IMAGES)]

    binary_s = _median_time(lambda: [polygons_to_mask(p, SHAPE) for p in images], 3)
    instance_s = _median_time(
        lambda: [polygons_to_mask(p, SHAPE, mode="instance") for p in images], 3
    )
    naive_s = _median_time(lambda: [_skimage_loop(p) for p in images], 1)
    ours = polygons_to_mask(images[0], SHAPE)
    theirs = _skimage_loop(images[0])
    pixel_agreement = float((ours == theirs).mean())

    image16 = rng.integers(0, 65535, size=(1536, 2048), dtype=np.uint16)
    tiffs = {}
    for compression in (None, "zlib"):
        buf = io.BytesIO()
        tifffile.imwrite(buf, image16, compression=compression)
        tiffs[compression or "none"] = buf.getvalue()
    read_s = {k: _median_time(lambda data=v: read_image(data), 5) for k, v in tiffs.items()}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sem16.tif"
        path.write_bytes(tiffs["none"])
        read_s["none_from_file"] = _median_time(lambda: read_image(path), 5)

    rows = _random_polygons(rng, 10_000)
    per_image = [
        ImageAnnotations(
            f"IMG_{i:05d}.png", tuple(Polygon(np.round(p, 1)) for p in rows[i * 10 : i * 10 + 10])
        )
        for i in range(1_000)
    ]
    csv_bytes = write_polygon_csv(per_image).encode()
    csv_s = _median_time(lambda: read_polygon_csv(csv_bytes), 3)
    write_s = _median_time(lambda: write_polygon_csv(per_image), 3)

    print_report(
        {
            "benchmark": "io",
            "rasterise": f"{N_IMAGES} images x {PER_IMAGE} polygons, "
            f"each image into a {SHAPE[0]}x{SHAPE[1]} mask",
            "rasterise_10k_polygons_binary_s": round(binary_s, 4),
            "rasterise_10k_polygons_instance_s": round(instance_s, 4),
            "rasterise_10k_polygons_skimage_loop_s": round(naive_s, 3),
            "rasterise_speedup_vs_skimage_loop": round(naive_s / binary_s, 1),
            "pixel_agreement_with_skimage": round(pixel_agreement, 6),
            "read_tiff_16bit_1536x2048_s": {k: round(v, 4) for k, v in read_s.items()},
            "csv_rows": 10_000,
            "csv_bytes": len(csv_bytes),
            "csv_parse_10k_rows_s": round(csv_s, 4),
            "csv_write_10k_rows_s": round(write_s, 4),
        },
        machine,
    )


if __name__ == "__main__":
    main()
