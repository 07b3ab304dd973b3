"""Benchmark: time to make a synthetic microstructure (median of 3 runs per size).

Prints one JSON object. Sizes: 512 x 512 and 1536 x 2048 (an SEM frame of seed 000),
default options (twins, EBSD companion with drift), plus the 1536 x 2048 case
without the EBSD companion.

Run: ``.venv/bin/python bench/bench_synthetic.py``
"""

from __future__ import annotations

from _common import machine_info, print_report, time_calls

from grainseg_core.synthetic import DriftConfig, SyntheticConfig, make_microstructure


def _time(shape: tuple[int, int], config: SyntheticConfig, repeats: int = 3) -> tuple[float, int]:
    seeds = iter(range(repeats))  # a new seed per run, 0, 1, 2, ...
    timing = time_calls(
        lambda: make_microstructure(shape, seed=next(seeds), config=config), repeats, warmup=False
    )
    return timing.median_s, timing.result.n_grains


def main() -> None:
    machine = machine_info()
    make_microstructure((64, 64), seed=0)  # warm-up (imports)
    default = SyntheticConfig()
    no_ebsd = SyntheticConfig(drift=DriftConfig(enabled=False))
    out: dict[str, object] = {"benchmark": "make_microstructure"}
    for label, shape, cfg in (
        ("512x512", (512, 512), default),
        ("1536x2048", (1536, 2048), default),
        ("1536x2048_no_ebsd", (1536, 2048), no_ebsd),
    ):
        seconds, n_grains = _time(shape, cfg)
        out[f"{label}_s_median_of_3"] = round(seconds, 3)
        out[f"{label}_n_grains"] = n_grains
    print_report(out, machine)


if __name__ == "__main__":
    main()
