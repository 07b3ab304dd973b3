"""Forward time of candidate networks on a full 2048x1536 SEM frame, on the CPU.

Usage::

    .venv/bin/python bench/bench_nets.py            # all candidates
    .venv/bin/python bench/bench_nets.py --quick    # slim U-Nets only

Prints one JSON object: machine info, then per candidate its parameter count,
its conv GFLOP (independent of load), and the best of a few timed forwards
(seconds) of a (1, 1, 1536, 2048) frame under ``torch.inference_mode()``: whole
frame (plain, channels_last; slim U-Net also with BatchNorm folded into the
convs), and over 512x512 tiles (channels_last, folded BatchNorm where available),
as the tiled inference runs it. Never asserts on time. The machine is shared:
the load average is recorded; compare figures taken under similar load only.
"""

from __future__ import annotations

import argparse
import warnings

import torch
from _common import best_of, machine_info, print_report
from torch.utils.flop_counter import FlopCounterMode

from grainseg_core.nets import build_model, count_parameters

SHAPE = (1, 1, 1536, 2048)
TILE = 512

CANDIDATES: list[tuple[str, str, dict]] = [
    ("slim_unet_w8_d4", "slim_unet", {"base_width": 8, "depth": 4}),
    ("slim_unet_w12_d4", "slim_unet", {"base_width": 12, "depth": 4}),
    ("slim_unet_w16_d4", "slim_unet", {"base_width": 16, "depth": 4}),
    ("slim_unet_w24_d4", "slim_unet", {"base_width": 24, "depth": 4}),
    ("slim_unet_w16_d4_sep", "slim_unet", {"base_width": 16, "depth": 4, "separable": True}),
    ("slim_unet_w8_d3", "slim_unet", {"base_width": 8, "depth": 3}),
    ("smp_unet_resnet18", "unet", {"encoder_name": "resnet18"}),
    ("smp_unet_resnet34", "unet", {"encoder_name": "resnet34"}),
    ("smp_unet_mobilenet_v2", "unet", {"encoder_name": "mobilenet_v2"}),
    ("smp_unet_timm-efficientnet-b0", "unet", {"encoder_name": "timm-efficientnet-b0"}),
]


def _time(model: torch.nn.Module, x: torch.Tensor, reps: int) -> float:
    with torch.inference_mode():
        best, _ = best_of(lambda: model(x), reps)  # the warm-up lets oneDNN pick its kernels
    return round(best, 3)


class _Tiled(torch.nn.Module):
    """Run a network over non-overlapping TILE x TILE tiles, one at a time (channels_last).

    Small tiles keep the activations in reusable memory; the real tiled inference
    adds overlap and blending on top of this (about (1 + overlap / tile)^2 the work).
    """

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for r in range(0, x.shape[-2], TILE):
            for c in range(0, x.shape[-1], TILE):
                tile = x[..., r : r + TILE, c : c + TILE].contiguous(
                    memory_format=torch.channels_last
                )
                out[..., r : r + TILE, c : c + TILE] = self.net(tile)
        return out


def _gflop(arch: str, kwargs: dict) -> float:
    """Conv/matmul GFLOP of one full-frame forward (load-independent), counted on meta tensors."""
    with torch.device("meta"):
        model = build_model(arch, **kwargs).eval()
        x = torch.empty(SHAPE)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(x)
    return round(counter.get_total_flops() / 1e9, 1)


def bench(name: str, arch: str, kwargs: dict, reps: int) -> dict:
    torch.manual_seed(0)
    model = build_model(arch, **kwargs).eval()
    x = torch.rand(SHAPE)
    row: dict = {
        "arch": arch,
        "kwargs": kwargs,
        "n_parameters": count_parameters(model),
        "gflop": _gflop(arch, kwargs),
    }
    row["full_frame_s"] = _time(model, x, reps)
    cl = model.to(memory_format=torch.channels_last)
    row["full_frame_channels_last_s"] = _time(
        cl, x.contiguous(memory_format=torch.channels_last), reps
    )
    best_net: torch.nn.Module = cl
    if hasattr(model, "fused_for_inference"):
        best_net = model.fused_for_inference().to(memory_format=torch.channels_last)
        row["full_frame_fused_channels_last_s"] = _time(
            best_net, x.contiguous(memory_format=torch.channels_last), reps
        )
    row[f"tiled_{TILE}_channels_last{'_fused' if best_net is not cl else ''}_s"] = _time(
        _Tiled(best_net), x, reps
    )
    row["best_s"] = min(v for k, v in row.items() if k.endswith("_s"))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="slim U-Nets only")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="candidate names to run")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    machine = machine_info()
    out: dict = {
        "input_shape": list(SHAPE),
        "results": {},
    }
    for name, arch, kwargs in CANDIDATES:
        if args.quick and arch != "slim_unet":
            continue
        if args.only and name not in args.only:
            continue
        out["results"][name] = bench(name, arch, kwargs, args.reps)
    print_report(out, machine, indent=2)


if __name__ == "__main__":
    main()
