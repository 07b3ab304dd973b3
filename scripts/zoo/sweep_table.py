"""Seed 000's class-weight sweep: pixel precision and recall of BCE(w) models, w = 4, 6, 9, 11.

Usage::

    for w in 4 6 9 11; do
        python scripts/zoo/zoo.py cv --recipe scripts/zoo/recipes/experiments/sweep_w$w.json --only 0
    done
    .venv/bin/python scripts/zoo/sweep_table.py

Each model is a slim U-Net trained 30 epochs from scratch with BCE of GB weight w alone,
without TBM fold 0 (micrographs 18, 20, 22, 25, 31); all are scored at threshold 0.5 on
those held-out crops and on 8 unseen synthetic micrographs. Precision and recall are of
the thresholded map (tolerance 0, mean over images); ARI of the post-processed map.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

RUNS = Path(__file__).resolve().parents[2] / "runs" / "zoo"


def main() -> None:
    rows = []
    for w in (4, 6, 9, 11):
        fold = RUNS / f"sweep_w{w}" / "cv"
        if not (fold / "cv_summary.json").is_file():
            print(f"w={w}: no finished run under {fold}")
            continue
        summary = json.loads((fold / "cv_summary.json").read_text())
        for data, file, ari in (
            ("held-out TBM", "scores.csv", summary["ari"]),
            ("unseen synthetic", "scores_synthetic.csv", summary["synthetic_test"]["ari"]),
        ):
            scores = pd.read_csv(fold / "fold0" / file)
            rows.append({"data": data, "w": w, "precision": scores["precision"].mean(),
                         "recall": scores["recall"].mean(), "f1": scores["f1"].mean(), "ari": ari})
    print(pd.DataFrame(rows).sort_values(["data", "w"]).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
