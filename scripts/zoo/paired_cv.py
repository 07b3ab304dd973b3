"""Two recipes' nested-CV Heyn errors compared micrograph by micrograph.

Reads two ``post_cv.py`` reports (same TBM micrographs) and prints, as JSON, how many
micrographs each recipe measures better, the mean difference of the relative Heyn errors
(B - A) and the Wilcoxon signed-rank test of those paired differences: with 21
micrographs, a mean difference can come from a few of them.

Usage::

    .venv/bin/python scripts/zoo/paired_cv.py runs/zoo/default/cv/post_cv.json \\
        runs/zoo/default_p256/cv/post_cv.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import wilcoxon


def heyn_errors(report: Path) -> dict[str, float]:
    """Relative Heyn error per micrograph (group) of one ``post_cv.py`` report."""
    rows = json.loads(report.read_text())["per_micrograph"]
    return {r["group"]: float(r["heyn_rel_error"]) for r in rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", type=Path, help="post_cv.json of recipe A (the reference)")
    parser.add_argument("b", type=Path, help="post_cv.json of recipe B")
    args = parser.parse_args(argv)
    a, b = heyn_errors(args.a), heyn_errors(args.b)
    if set(a) != set(b):
        raise SystemExit(
            f"the reports cover different micrographs: only in A {sorted(set(a) - set(b))}, "
            f"only in B {sorted(set(b) - set(a))}"
        )
    groups = sorted(a)
    diff = np.array([b[g] - a[g] for g in groups])
    print(json.dumps({
        "micrographs": len(groups),
        "b_better": int((diff < 0).sum()),
        "b_worse": int((diff > 0).sum()),
        "mean_heyn_error_a": round(float(np.mean([a[g] for g in groups])), 4),
        "mean_heyn_error_b": round(float(np.mean([b[g] for g in groups])), 4),
        "mean_difference_b_minus_a": round(float(diff.mean()), 4),
        "wilcoxon_p": round(float(wilcoxon(diff).pvalue), 3),
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
