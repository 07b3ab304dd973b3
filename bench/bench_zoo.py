"""The speed/accuracy frontier of the default-model candidates and the zoo's figures.

Usage::

    # first, for each candidate: python scripts/zoo/zoo.py cv --recipe scripts/zoo/recipes/experiments/<c>.json --only 0
    .venv/bin/python bench/bench_zoo.py                 # candidates table + shipped models
    .venv/bin/python bench/bench_zoo.py --repeats 5
    .venv/bin/python bench/bench_zoo.py --write-cards   # also record the speed in models/*.json

For each candidate recipe (``scripts/zoo/recipes/experiments/cand_*.json``) with a finished
fold-0 run under ``runs/zoo/<name>/cv``: its held-out accuracy on the 5 TBM micrographs of
fold 0 (Heyn error, pixel F1 at 0 and 2 px, grain ARI; from ``cv_summary.json``), its
parameter count, and the wall/CPU time of :func:`grainseg_core.inference.segment` on a
2048x1536 micrograph with that run's best checkpoint, loaded as the app loads models.
Then the same timing for every model shipped in ``models/``, and for the zoo's recommended
ensemble (the default and its partner, :func:`grainseg_core.zoo.recommended_ensemble`);
``--write-cards`` stores them, with the machine and its load, as the ``speed`` entry of
each shipped model's card (the partner's card holds the ensemble's; the weights are
untouched). Prints one JSON object; never asserts on time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _common import finish_machine_info, machine_info, print_report, time_calls

from grainseg_core.inference import load_model, segment
from grainseg_core.nets import count_parameters
from grainseg_core.synthetic import make_microstructure
from grainseg_core.zoo import list_models, recommended_ensemble

REPO = Path(__file__).resolve().parents[1]
SHAPE = (1536, 2048)
ACCURACY_KEYS = ("heyn_mean_rel_error", "heyn_max_rel_error", "f1", "f1_tol", "ari", "grain_count_abs_rel_error")


def _time_segment(path: Path | list[Path], image, repeats: int) -> dict:
    """Time ``segment`` with one model, or with an ensemble of several."""
    models = [load_model(p) for p in (path if isinstance(path, list) else [path])]
    timing = time_calls(lambda: segment(image, models), repeats)
    return {
        "segment_wall_s": round(timing.best_s, 3),
        "segment_cpu_s": round(timing.cpu_best_s, 3),
        "n_parameters": sum(count_parameters(m.module) for m in models),
        "precision": models[0].precision,
    }


def _write_speed(shipped: list[dict], ensemble: dict | None, machine: dict) -> None:
    """Store each shipped model's timing as the ``speed`` entry of its card (an ensemble
    partner's card also gets the ensemble's)."""
    for entry, model in zip(shipped, list_models()):
        card_path = model.path.with_suffix(".json")
        card = json.loads(card_path.read_text())
        card["speed"] = {
            "segment_2048x1536_wall_s": entry["segment_wall_s"],
            "segment_2048x1536_cpu_s": entry["segment_cpu_s"],
            "precision": entry["precision"],
            "measured": time.strftime("%Y-%m-%d"),
            "machine": machine,
            "command": "python bench/bench_zoo.py --write-cards",
        }
        if ensemble is not None and model.name in ensemble["members"][1:]:
            card["speed"]["ensemble"] = ensemble
        card_path.write_text(json.dumps(card, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write-cards", action="store_true",
                        help="store the shipped models' timings in their cards")
    parser.add_argument("--shipped-only", action="store_true", help="skip the candidates")
    args = parser.parse_args()
    machine = machine_info()
    image = make_microstructure(SHAPE, seed=7).image
    candidates = []
    recipes = sorted((REPO / "scripts/zoo/recipes/experiments").glob("cand_*.json"))
    for recipe_path in [] if args.shipped_only else recipes:
        recipe = json.loads(recipe_path.read_text())
        cv = REPO / "runs/zoo" / recipe["name"] / "cv"
        best = cv / "fold0/run/checkpoints/best.safetensors"
        if not (cv / "cv_summary.json").is_file() or not best.is_file():
            candidates.append({"name": recipe["name"], "missing": f"no finished run under {cv}"})
            continue
        summary = json.loads((cv / "cv_summary.json").read_text())
        candidates.append(
            {
                "name": recipe["name"],
                "architecture": recipe["train"]["architecture"],
                "arch_kwargs": recipe["train"]["arch_kwargs"],
                "epochs": recipe["train"]["epochs"],
                "held_out": "TBM fold 0 (5 micrographs, 20 crops)",
                **{k: round(summary[k], 4) for k in ACCURACY_KEYS},
                **_time_segment(best, image, args.repeats),
            }
        )
    shipped = [
        {"name": entry.name, "roles": list(entry.roles), **_time_segment(entry.path, image, args.repeats)}
        for entry in list_models()
    ]
    members = recommended_ensemble()
    ensemble = {
        "members": [e.name for e in members],
        **_time_segment([e.path for e in members], image, args.repeats),
    } if members else None
    if args.write_cards:
        _write_speed(shipped, ensemble, finish_machine_info(dict(machine)))
    print_report(
        {
            "benchmark": "zoo",
            "input": f"synthetic micrograph {SHAPE[1]}x{SHAPE[0]}, uint8",
            "candidates": candidates,
            "shipped": shipped,
            "recommended_ensemble": ensemble,
        },
        machine,
        indent=1,
    )


if __name__ == "__main__":
    main()
