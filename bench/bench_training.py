"""Training cost on the CPU through the real trainer: step time, TopoLoss overhead, samples/s.

Usage::

    .venv/bin/python bench/bench_training.py           # full run (about a minute)
    .venv/bin/python bench/bench_training.py --quick   # fewer steps

Prints one JSON object: machine info (CPU count, torch threads, load average); the median
time (s) of ``Trainer.train_step`` (forward, loss, backward, Adam step) of the slim U-Net
(default options) on 8 x 256^2 patches with BCE (pos_weight 9) and with BCE + 0.04 TopoLoss,
and their ratio (target <= 2); the data-loading rate of ``GrainDataset`` (default
augmentation) in items/s; and end-to-end samples/s of ``train()`` (one epoch of a few
steps, validation excluded) with 0 and 2 DataLoader workers. Never asserts on time.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from _common import machine_info, median_of, print_report, time_calls

from grainseg_core.datasets import GrainDataset
from grainseg_core.patching import ImagePair, PatchConfig, export_dataset
from grainseg_core.synthetic import make_microstructure
from grainseg_core.training import TrainConfig, Trainer, train
from grainseg_core.training.runs import iter_metric_records

BCE = {"terms": [{"name": "bce", "pos_weight": 9}]}
BCE_TOPO = {"terms": [{"name": "bce", "pos_weight": 9}, {"name": "topo", "weight": 0.04}]}


def _dataset(root: Path) -> Path:
    pairs = []
    for i in range(6):
        ms = make_microstructure((512, 512), seed=i, mean_grain_size_px=40)
        pairs.append(ImagePair(f"im{i}", ms.image, ms.boundary))
    out = root / "ds"
    export_dataset(pairs, out, PatchConfig(size=256, val_fraction=0.2, test_fraction=0.2))
    return out


def _batch(ds: GrainDataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    items = [ds[i % len(ds)] for i in range(n)]
    return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])


def _step_time(cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    trainer = Trainer(cfg, device="cpu")
    step_numbers = iter(range(steps + 1))  # step 0 is the warm-up (allocations, TopoLoss k cache)
    seconds, _ = median_of(lambda: trainer.train_step(x, y, step=next(step_numbers)), steps)
    return seconds


def _loading_rate(ds: GrainDataset, n: int) -> float:
    reading = time_calls(lambda: [ds[i % len(ds)] for i in range(n)], 1, warmup=False)
    return n / reading.best_s


def _end_to_end(cfg: TrainConfig, run_dir: Path) -> float:
    train(cfg, run_dir)
    epoch = [r for r in iter_metric_records(run_dir / "metrics.jsonl") if r["kind"] == "epoch"][-1]
    return float(epoch["samples_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    args = parser.parse_args()
    machine = machine_info()
    steps = 3 if args.quick else 6
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ds_path = _dataset(root)
        base = TrainConfig(
            dataset=str(ds_path),
            batch_size=8,
            epochs=1,
            patience=None,
            log_every_steps=1,
            device="cpu",
            save_every_min=0,
        )
        ds = GrainDataset(ds_path, split="train", augment=base.augment, seed=0)
        x, y = _batch(ds, 8)
        t_bce = _step_time(base.replace(loss=BCE), x, y, steps)
        t_topo = _step_time(base.replace(loss=BCE_TOPO), x, y, steps)
        load_rate = _loading_rate(ds, 64)
        e2e = {}
        for workers in (0, 2):
            cfg = base.replace(
                loss=BCE, num_workers=workers, max_steps_per_epoch=steps, max_val_batches=1
            )
            e2e[f"workers_{workers}"] = round(_end_to_end(cfg, root / f"run{workers}"), 2)
    result = {
        "benchmark": "training",
        "network": "slim_unet (defaults: base_width 16, depth 4, bilinear)",
        "batch": "8 x 1 x 256 x 256",
        "step_s": {"bce": round(t_bce, 4), "bce_topo": round(t_topo, 4)},
        "topo_ratio": round(t_topo / t_bce, 3),
        "topo_ratio_target": 2.0,
        "step_samples_per_s": {"bce": round(8 / t_bce, 2), "bce_topo": round(8 / t_topo, 2)},
        "loading_items_per_s": round(load_rate, 1),
        "end_to_end_samples_per_s": e2e,
        "steps_timed": steps,
    }
    print_report(result, machine, indent=1)


if __name__ == "__main__":
    main()
