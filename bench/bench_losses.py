"""Cost of TopoLoss: training steps with BCE vs BCE + TopoLoss, and TopoLoss per image.

Usage::

    .venv/bin/python bench/bench_losses.py           # full run
    .venv/bin/python bench/bench_losses.py --quick   # slim U-Net only, fewer steps

Prints one JSON object: machine info; for each network the median time (s) of a
CPU training step (forward, loss, backward, Adam step) on a batch of 8 x 256^2
with BCE (pos_weight 9) and with BCE + 0.04 TopoLoss (steps alternated), their
ratio (target <= 2), and the time inside the loss call (the persistence work);
then the TopoLoss time per image (forward + backward, k cached) at 128/256/512 px
on a noisy boundary-probability map. Never asserts on time. The machine is shared:
the load average is recorded.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch
from _common import machine_info, median_of, print_report
from scipy import ndimage as ndi

from grainseg_core.losses import TopoLoss, build_loss
from grainseg_core.nets import build_model


def _boundaries(size: int, n_grains: int, seed: int) -> np.ndarray:
    """1-px Voronoi boundaries (bool (size, size))."""
    rng = np.random.default_rng(seed)
    pts = rng.integers(0, size, size=(n_grains, 2))
    markers = np.zeros((size, size), int)
    markers[pts[:, 0], pts[:, 1]] = np.arange(1, n_grains + 1)
    _, (rr, cc) = ndi.distance_transform_edt(markers == 0, return_indices=True)
    cells = markers[rr, cc]
    edges = np.zeros_like(cells, bool)
    edges[:-1] |= cells[:-1] != cells[1:]
    edges[:, :-1] |= cells[:, :-1] != cells[:, 1:]
    return edges


def _batch(n: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    targets = np.stack([_boundaries(size, 60, seed + i) for i in range(n)]).astype(np.float32)
    images = ndi.gaussian_filter(targets, (0, 1, 1)) + rng.normal(0, 0.1, targets.shape)
    return torch.from_numpy(images.astype(np.float32))[:, None], torch.from_numpy(targets)[:, None]


def _step(model, opt, loss_fn, x, t) -> tuple[float, float]:
    """One training step; returns (step seconds, seconds inside the loss call)."""
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    out = model(x)
    t1 = time.perf_counter()
    loss = loss_fn(out, t)
    t2 = time.perf_counter()
    loss.backward()
    opt.step()
    return time.perf_counter() - t0, t2 - t1


def bench_training(name: str, arch: str, kwargs: dict, steps: int) -> dict:
    torch.manual_seed(0)
    x, t = _batch(8, 256)
    variants = {
        "bce": build_loss({"terms": [{"name": "bce", "pos_weight": 9}]}),
        "bce_topo": build_loss(
            {"terms": [{"name": "bce", "pos_weight": 9}, {"name": "topo", "weight": 0.04}]}
        ),
    }
    models = {k: build_model(arch, **kwargs).train() for k in variants}
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-4) for k, m in models.items()}
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    # Alternate the two variants step by step, so a change of load on the shared
    # machine hits both alike; the first step of each warms up oneDNN and the k cache.
    for i in range(steps + 1):
        for k, loss_fn in variants.items():
            step = _step(models[k], opts[k], loss_fn, x, t)
            if i:
                times[k].append(step)
    row: dict = {"arch": arch, "kwargs": kwargs, "batch": [8, 1, 256, 256]}
    for k, v in times.items():
        row[f"{k}_step_s"] = round(statistics.median(s for s, _ in v), 4)
        row[f"{k}_loss_call_s"] = round(statistics.median(c for _, c in v), 4)
    row["ratio"] = round(row["bce_topo_step_s"] / row["bce_step_s"], 3)
    return row


def bench_topo_per_image(sizes: list[int], reps: int) -> dict:
    out = {}
    for size in sizes:
        x, t = _batch(8, size, seed=10)
        logits = (x * 6 - 3).requires_grad_(True)  # a noisy, imperfect boundary map
        row = {}
        for threads in (1, 2):
            loss = TopoLoss(n_threads=threads)

            def forward_backward(loss=loss, logits=logits, t=t):
                logits.grad = None
                loss(logits, t).backward()

            seconds, _ = median_of(forward_backward, reps)  # the warm-up fills the k cache
            row[f"per_image_ms_{threads}_thread{'s' if threads > 1 else ''}"] = round(
                1000 * seconds / 8, 2
            )
        row["pairs_per_image"] = round(
            float(np.mean([n for n in loss.last_stats["n_fixed"]]))
            + float(np.mean(loss.last_stats["n_spurious"])),
            1,
        )
        out[str(size)] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    steps = 3 if args.quick else 5
    nets = [("slim_unet_w16_d4", "slim_unet", {"base_width": 16, "depth": 4})]
    if not args.quick:
        nets.append(("smp_unet_resnet18", "unet", {"encoder_name": "resnet18"}))
    machine = machine_info()
    out: dict = {
        "training_step": {name: bench_training(name, a, kw, steps) for name, a, kw in nets},
        "topo_per_image": bench_topo_per_image([128, 256, 512], reps=3 if args.quick else 5),
    }
    print_report(out, machine, indent=2)


if __name__ == "__main__":
    main()
