"""BCE vs BCE + TopoLoss: the shipped comparison pair scored on the same held-out images.

Usage::

    .venv/bin/python scripts/zoo/compare_pair.py                   # models/compare_{bce,topo}
    .venv/bin/python scripts/zoo/compare_pair.py --thresholds 0.5 0.6 0.7

Both models of the pair were trained without TBM fold 0 (micrographs 18, 20, 22, 25, 31;
``zoo.py cv --only 0``). This scores each on those 20 held-out crops and on 8 unseen
synthetic SEM-like micrographs (seeds 5000-5007), first at the threshold its card
recommends (chosen on its own validation images, as the app uses it), then at common
thresholds, so that a difference cannot come from the threshold alone. Pixel precision and
recall are of the thresholded map (tolerance 0); ARI and the grain-count error of the
post-processed map (thinned, fragments < 8 px removed). Prints one table per data set.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from zoo import REPO, score, synthetic_pairs, tbm_folds, tbm_pairs  # noqa: E402

from grainseg_core.evaluation import summarize_by_group  # noqa: E402
from grainseg_core.inference import load_model  # noqa: E402

PAIR = ("compare_bce", "compare_topo")
RECIPE = {"post": {"skeletonize": True, "min_fragment_px": 8}}
COLUMNS = ["precision", "recall", "f1", "f1_tol", "ari", "grain_count_abs_rel_error",
           "heyn_mean_rel_error"]


def _row(model, pairs, threshold: float) -> dict:
    scores = score(model, pairs, RECIPE, threshold)
    summary = summarize_by_group(scores)[1]
    return {
        "precision": scores["precision"].mean(),
        "recall": scores["recall"].mean(),
        **{k: summary[k] for k in COLUMNS[2:]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=REPO / "models")
    parser.add_argument("--thresholds", type=float, nargs="*", default=[0.5, 0.75])
    args = parser.parse_args()
    models = {name: load_model(args.models / f"{name}.safetensors") for name in PAIR}
    tbm = tbm_pairs()
    held_out = tbm_folds(tbm, 5)[0]
    data = {
        f"held-out TBM fold 0 ({', '.join(held_out)})": [p for p in tbm if p.group in held_out],
        "unseen synthetic SEM-like (8 x 512^2)": synthetic_pairs(8, seed=5000),
    }
    for title, pairs in data.items():
        rows = []
        for name, model in models.items():
            card_threshold = float(model.card["postprocess"]["threshold"])
            for threshold, how in [(card_threshold, "card")] + [(t, "common") for t in args.thresholds]:
                rows.append({"model": name, "threshold": threshold, "which": how,
                             **_row(model, pairs, threshold)})
        table = pd.DataFrame(rows).sort_values(["which", "threshold", "model"])
        print(f"\n{title}")
        print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
