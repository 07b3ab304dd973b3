"""Train, cross-validate and publish the shipped models of the model zoo.

Every model in ``models/`` comes from a *recipe* (``scripts/zoo/recipes/<name>.json``):
which data, which network and loss, how it was trained and post-processed. This script
is the command each model card names to reproduce it. The default model is made in two
stages, a network trained from scratch and its TopoLoss fine-tuning (``"finetune_of"``:
each fold, and the release, start from the first stage's model of the same fold)::

    python scripts/zoo/zoo.py cv --recipe scripts/zoo/recipes/default_base.json --folds 5
    python scripts/zoo/zoo.py release --recipe scripts/zoo/recipes/default_base.json
    python scripts/zoo/zoo.py cv --recipe scripts/zoo/recipes/default.json --folds 5
    python scripts/zoo/post_cv.py --cv-dir runs/zoo/default/cv --out runs/zoo/default/cv/post_cv.json
    python scripts/zoo/zoo.py release --recipe scripts/zoo/recipes/default.json

The default's ensemble partner (``"ensemble_with": "default"``: same stage 1, fine-tuned on
whole 256-px crops) also needs the nested CV of the two models' averaged maps::

    python scripts/zoo/zoo.py cv --recipe scripts/zoo/recipes/default_p256.json --folds 5
    python scripts/zoo/post_cv.py --cv-dir runs/zoo/default_p256/cv --out runs/zoo/default_p256/cv/post_cv.json
    python scripts/zoo/post_cv.py --cv-dir runs/zoo/default/cv --ensemble-with runs/zoo/default_p256/cv \\
        --out runs/zoo/default_p256/cv/post_cv_ensemble.json
    python scripts/zoo/zoo.py release --recipe scripts/zoo/recipes/default_p256.json

``cv`` trains one model per fold of the TBM micrographs (split **by micrograph**, never
by patch: crops of one micrograph are all in the held-out fold or all in training) and
scores each held-out micrograph with its fold's model. ``release`` trains on all the
data, chooses the probability threshold on the validation micrographs, and publishes
the model (fp16 safetensors + JSON card with the cross-validation table) to ``models/``.

Data (read from ``../shared/data``; see its SOURCES.md):
- TBM (MIT): 80 crops of 256x256 from 21 colour-etched optical micrographs with
  hand-drawn boundaries (3 px wide), from Scientific-Computing-Lab/MLOgraphyPlusPlus.
- synthetic SEM-like micrographs from ``grainseg_core.synthetic`` (MIT, this project).
- NIST steel (US government work): the bundled sample; optional in a recipe.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from grainseg_core.evaluation import choose_threshold, evaluate_boundaries, summarize_by_group  # noqa: E402
from grainseg_core.inference import load_model, predict_probability  # noqa: E402
from grainseg_core.nets import load_model_file, save_model  # noqa: E402
from grainseg_core.patching import (  # noqa: E402
    ImagePair,
    PatchConfig,
    export_dataset,
    pair_from_arrays,
    pairs_from_folders,
    read_manifest,
)
from grainseg_core.postprocess import (  # noqa: E402
    PostprocessConfig,
    run_postprocess,
    threshold_probability,
)
from grainseg_core.samples import load_sample  # noqa: E402
from grainseg_core.synthetic import make_microstructure  # noqa: E402
from grainseg_core.training import TrainConfig, publish_run, train  # noqa: E402

SHARED = Path(os.environ.get("GRAINSEG_SHARED_DATA", REPO.parent / "shared" / "data"))
TBM = SHARED / "tbm" / "AutoSAM" / "TBM_dataset"


# ----------------------------------------------------------------------------- data


def tbm_pairs() -> list[ImagePair]:
    """The 80 labelled TBM crops, grouped by source micrograph (``tbm_<id>``)."""
    pairs = []
    for split in ("TrainDataset", "TestDataset"):
        for p in pairs_from_folders(
            TBM / split / "images", TBM / split / "masks", foreground="white", group_pattern=r"^(\d+)-"
        ):
            pairs.append(replace(p, name=f"tbm_{p.name}", group=f"tbm_{p.group}"))
    return sorted(pairs, key=lambda p: p.name)


def synthetic_pairs(n: int, *, seed: int = 1000, shape: tuple[int, int] = (512, 512)) -> list[ImagePair]:
    """``n`` SEM-like synthetic micrographs with 3-px boundary labels, varied in size and noise."""
    from grainseg_core.synthetic import ContrastConfig, GrainConfig, SyntheticConfig, TwinConfig

    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        config = SyntheticConfig(
            grains=GrainConfig(
                mean_size_px=float(rng.uniform(20, 70)),
                size_sigma=float(rng.uniform(0.2, 0.45)),
                elongation=float(rng.choice([1.0, 1.0, 1.6, 2.5])),
                elongation_angle_deg=float(rng.uniform(0, 180)),
                boundary_width_px=3,
            ),
            twins=TwinConfig(fraction=float(rng.uniform(0.0, 0.4))),
            contrast=ContrastConfig(
                channelling=float(rng.uniform(0.3, 0.7)),
                groove_depth=float(rng.uniform(0.25, 0.7)),
                blur_sigma_px=float(rng.uniform(0.4, 1.4)),
                photons=float(rng.choice([30.0, 80.0, 200.0])),
                gaussian_noise=float(rng.uniform(0.0, 0.05)),
            ),
        )
        ms = make_microstructure(shape, seed=seed + i, config=config)
        pairs.append(
            pair_from_arrays(
                ms.image, ms.boundary, name=f"synthetic_{seed + i}", group=f"synthetic_{seed + i}",
                pixel_size_um=ms.pixel_size_um, source={"kind": "synthetic", "seed": seed + i},
            )
        )
    return pairs


def nist_pairs() -> list[ImagePair]:
    sample = load_sample("nist_steel")
    return [
        pair_from_arrays(
            sample.image, sample.boundary, name="nist_steel", group="nist_steel",
            pixel_size_um=sample.pixel_size_um, source={"kind": "NIST", "sample": "nist_steel"},
        )
    ]


def extra_pairs(recipe: dict[str, Any]) -> list[ImagePair]:
    sources = recipe.get("sources", {})
    pairs: list[ImagePair] = []
    if sources.get("synthetic"):
        pairs += synthetic_pairs(int(sources["synthetic"]))
    if sources.get("nist_steel"):
        pairs += nist_pairs()
    return pairs


def tbm_folds(pairs: list[ImagePair], k: int, seed: int = 0) -> list[list[str]]:
    """Split the TBM micrographs into ``k`` folds of whole micrographs."""
    groups = sorted({p.group for p in pairs})
    order = np.random.default_rng(seed).permutation(len(groups))
    return [sorted(groups[j] for j in order[i::k]) for i in range(k)]


# ----------------------------------------------------------------------------- steps


def export(pairs: list[ImagePair], out: Path, recipe: dict[str, Any]) -> Path:
    options = {"size": 256, "split": "by_image", "val_fraction": 0.15, "test_fraction": 0.0, "seed": 0}
    options.update(recipe.get("patch", {}))
    export_dataset(pairs, out, PatchConfig(**options), overwrite=True)
    return out


def train_run(dataset: Path, run_dir: Path, recipe: dict[str, Any], *, resume: bool) -> Path:
    if resume and (run_dir / "checkpoints" / "best.safetensors").is_file() and json.loads(
        (run_dir / "status.json").read_text()
    ).get("state") == "finished":
        return run_dir
    config = TrainConfig.from_dict({**recipe["train"], "dataset": str(dataset)})
    summary = train(config if not resume or not run_dir.exists() else None, run_dir,
                    resume=resume and run_dir.exists())
    print(f"  {run_dir.name}: {summary.state} ({summary.reason}), best {summary.monitor}="
          f"{summary.best_value} at epoch {summary.best_epoch}, {summary.elapsed_s:.0f} s", flush=True)
    return run_dir


def staged(recipe: dict[str, Any], stage: str) -> dict[str, Any]:
    """The recipe for one stage (``cv/fold<k>`` or ``release``).

    A fine-tuning recipe (``"finetune_of": "<name>"``) starts each stage from that recipe's
    model of the same stage: fold k from its fold k (so no held-out micrograph leaks in
    through the starting weights), the release from its release.
    """
    base = recipe.get("finetune_of")
    if base is None:
        return recipe
    init = REPO / "runs" / "zoo" / base / stage / "run"
    if not (init / "checkpoints" / "best.safetensors").is_file():
        raise SystemExit(
            f"{init} has no checkpoint: recipe '{recipe['name']}' fine-tunes '{base}'; run "
            f"python scripts/zoo/zoo.py {stage.split('/')[0]} --recipe scripts/zoo/recipes/{base}.json first."
        )
    return {**recipe, "train": {**recipe["train"], "init_from": str(init)}}


def post_config(recipe: dict[str, Any], threshold: float) -> PostprocessConfig:
    options = {"skeletonize": True}
    options.update(recipe.get("post", {}))
    return PostprocessConfig(threshold=threshold, **options)


def predict(model, pairs: list[ImagePair]) -> list[np.ndarray]:
    return [predict_probability(p.image, model) for p in pairs]


def calibrate(model, val_pairs: list[ImagePair], recipe: dict[str, Any]) -> tuple[float, pd.DataFrame]:
    probs = predict(model, val_pairs)
    objective = recipe.get("threshold_objective", "heyn")
    return choose_threshold(
        probs, [p.label for p in val_pairs], objective=objective,
        to_boundary=lambda prob, t: run_postprocess(prob, post_config(recipe, t)).boundary,
    )


def choose_fold_threshold(model, dataset: Path, train_pairs: list[ImagePair], recipe: dict[str, Any]) -> float:
    """The recipe's fixed threshold, or the one chosen on the fold's validation images."""
    if recipe.get("threshold") is not None:
        return float(recipe["threshold"])
    return calibrate(model, val_pairs_of(dataset, train_pairs), recipe)[0]


def score(model, pairs: list[ImagePair], recipe: dict[str, Any], threshold: float) -> pd.DataFrame:
    probs = predict(model, pairs)
    return score_maps(probs, pairs, [post_config(recipe, threshold)] * len(pairs))


def score_maps(probs: list[np.ndarray], pairs: list[ImagePair], posts: list[PostprocessConfig]) -> pd.DataFrame:
    """Scores of probability maps against their pairs' labels, each with its own settings:
    grains and intercepts on the post-processed map, pixel scores on the thresholded one."""
    return evaluate_boundaries(
        [run_postprocess(prob, post).boundary for prob, post in zip(probs, posts)],
        [p.label for p in pairs],
        names=[p.name for p in pairs],
        groups=[p.group for p in pairs],
        pixel_predictions=[
            threshold_probability(
                prob, method=post.threshold_method, threshold=post.threshold, low=post.low,
                high=post.high,
            )
            for prob, post in zip(probs, posts)
        ],
        tolerance_px=2.0,
    )


def val_pairs_of(dataset: Path, pairs: list[ImagePair]) -> list[ImagePair]:
    manifest = read_manifest(dataset / "manifest.json")
    val_sources = {record.source for record in manifest.select("val")}
    return [p for p in pairs if p.name in val_sources]


# ----------------------------------------------------------------------------- commands


def run_cv(recipe: dict[str, Any], out: Path, folds: int, *, resume: bool, only: list[int] | None) -> dict:
    tbm = tbm_pairs()
    extras = extra_pairs(recipe)
    fold_groups = tbm_folds(tbm, folds, seed=recipe.get("cv_seed", 0))
    all_scores = []
    for k, held_out in enumerate(fold_groups):
        if only and k not in only:
            continue
        start = time.perf_counter()
        print(f"fold {k}: held out {', '.join(held_out)}", flush=True)
        train_pairs = [p for p in tbm if p.group not in held_out] + extras
        test_pairs = [p for p in tbm if p.group in held_out]
        fold_dir = out / f"fold{k}"
        dataset = fold_dir / "dataset"
        if not (resume and (dataset / "manifest.json").is_file()):
            export(train_pairs, dataset, recipe)
        run_dir = train_run(dataset, fold_dir / "run", staged(recipe, f"cv/fold{k}"), resume=resume)
        model = load_model(run_dir / "checkpoints" / "best.safetensors")
        threshold = choose_fold_threshold(model, dataset, train_pairs, recipe)
        scores = score(model, test_pairs, recipe, threshold)
        scores["fold"] = k
        scores["threshold"] = threshold
        scores.to_csv(fold_dir / "scores.csv", index=False)
        extra_test = recipe.get("extra_test", {})
        if extra_test.get("synthetic"):
            # Unseen synthetic micrographs (other seeds than any training image).
            synth = synthetic_pairs(int(extra_test["synthetic"]), seed=5000)
            extra = score(model, synth, recipe, threshold)
            extra["fold"] = k
            extra["threshold"] = threshold
            extra.to_csv(fold_dir / "scores_synthetic.csv", index=False)
        all_scores.append(scores)
        print(f"  threshold {threshold:.2f}, fold time {time.perf_counter() - start:.0f} s", flush=True)
    scores = pd.concat(
        [pd.read_csv(out / f"fold{k}" / "scores.csv") for k in range(folds)
         if (out / f"fold{k}" / "scores.csv").is_file()],
        ignore_index=True,
    )
    per_group, summary = summarize_by_group(scores)
    summary["folds"] = folds
    summary["fold_groups"] = fold_groups
    scores.to_csv(out / "cv_scores.csv", index=False)
    per_group.to_csv(out / "cv_groups.csv", index=False)
    synth_files = [out / f"fold{k}" / "scores_synthetic.csv" for k in range(folds)]
    if any(f.is_file() for f in synth_files):
        synth = pd.concat([pd.read_csv(f) for f in synth_files if f.is_file()], ignore_index=True)
        summary["synthetic_test"] = summarize_by_group(synth)[1]
    (out / "cv_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(per_group.round(4).to_string(index=False))
    print(json.dumps({k: v for k, v in summary.items() if k != "fold_groups"}, indent=2))
    return summary


CV_PROTOCOL = (
    "k-fold by micrograph on the 21 TBM micrographs (80 labelled 256x256 crops): each fold's "
    "model never saw any crop of its held-out micrographs; threshold chosen on that fold's "
    "validation images (or fixed by the recipe). Heyn: pooled E112 mean lineal intercept per "
    "micrograph (grid of lines 16 px apart, 4 directions) of prediction vs labels; f1 at 0 and "
    "2 px on the thresholded map; ARI, VI and grain counts on the post-processed map "
    "(grainseg_core.evaluation)."
)
RESERVED = ("format_version", "architecture", "init_kwargs", "grainseg_version", "n_parameters",
            "weights_file", "weights_sha256", "dtype")


def publish(recipe: dict[str, Any], run_dir: Path, val: list[ImagePair], evaluation: dict[str, Any],
            *, staging: Path, command: str) -> Path:
    """Choose the threshold on ``val``, then write ``models/<name>`` (fp16) with its card."""
    model = load_model(run_dir / "checkpoints" / "best.safetensors")
    if recipe.get("threshold") is not None:
        threshold, table = float(recipe["threshold"]), None
    else:
        threshold, table = calibrate(model, val, recipe)
    _, val_summary = summarize_by_group(score(model, val, recipe, threshold))
    name = recipe["name"]
    published = publish_run(
        run_dir, staging, name, title=recipe.get("title"), description=recipe.get("description", ""),
        roles=recipe.get("roles", ()), overwrite=True,
    )
    net, card = load_model_file(published)
    for key in RESERVED:
        card.pop(key, None)
    card["postprocess"] = {**post_config(recipe, threshold).__dict__}
    card["threshold_choice"] = {
        "objective": (
            "heyn, nested cross-validation on out-of-fold maps (scripts/zoo/post_cv.py)"
            if recipe.get("post_choice") == "nested_cv"
            else "fixed by the recipe" if table is None else recipe.get("threshold_objective", "heyn")
        ),
        "on": (
            "out-of-fold maps of the 80 TBM crops (21 micrographs) from the cv fold models"
            if recipe.get("post_choice") == "nested_cv"
            else f"{len(val)} validation images of the training set ({', '.join(p.name for p in val)})"
        ),
        "table": None if table is None else table.round(4).to_dict(orient="records"),
    }
    card["data"] = recipe.get("data", {})
    card["evaluation"] = {"validation": val_summary, **evaluation}
    card["reproduce"]["command"] = command
    card["recipe"] = recipe
    save_model(net, REPO / "models" / name, card=card, dtype="float16")
    print(f"published models/{name}.safetensors (threshold {threshold:.2f}); validation: "
          f"{json.dumps(val_summary)}")
    return REPO / "models" / f"{name}.safetensors"


def cv_evaluation(cv_dir: Path) -> dict[str, Any]:
    if not (cv_dir / "cv_summary.json").is_file():
        return {}
    return {
        "tbm_cross_validation": {
            "protocol": CV_PROTOCOL,
            "summary": json.loads((cv_dir / "cv_summary.json").read_text()),
            "per_micrograph": pd.read_csv(cv_dir / "cv_groups.csv").round(4).to_dict(orient="records"),
            "published_peers_mean_rel_error": {"MLOgraphy": 0.1369, "MLOgraphy++": 0.1552},
        }
    }


NESTED_PROTOCOL = (
    "post-processing chosen by nested cross-validation (scripts/zoo/post_cv.py): out-of-fold "
    "maps of the cv fold models; each fold is post-processed with the setting (threshold, "
    "closing, fragment removal, gap closing) that has the lowest mean relative Heyn error on "
    "the other folds' micrographs, so no micrograph takes part in choosing its own setting. "
    "Scores as in tbm_cross_validation. The release ships the setting best over all folds."
)


def nested_post_choice(recipe: dict[str, Any], cv_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The recipe with the post-processing chosen by ``post_cv.py``, and its card entry."""
    path = cv_dir / "post_cv.json"
    if not path.is_file():
        raise SystemExit(
            f"{path} is missing: the recipe takes its post-processing from nested CV; run "
            f"python scripts/zoo/post_cv.py --cv-dir {cv_dir} --out {path} first."
        )
    report = json.loads(path.read_text())
    best = dict(report["best_over_all_folds"])
    threshold = best.pop("threshold", 0.5)  # per-image methods (otsu, hysteresis) have none
    chosen = {**recipe, "threshold": threshold, "post": {**recipe.get("post", {}), **best}}
    entry = {
        "tbm_nested_cv_postprocess": {
            "protocol": NESTED_PROTOCOL,
            "summary": report["nested_cv"],
            "chosen_per_fold": report["chosen_per_fold"],
            "shipped_setting": report["best_over_all_folds"],
            "per_micrograph": report["per_micrograph"],
            "published_peers_mean_rel_error": {"MLOgraphy": 0.1369, "MLOgraphy++": 0.1552},
        }
    }
    return chosen, entry


ENSEMBLE_PROTOCOL = (
    "the mean of this model's and its partner's out-of-fold probability maps (the two recipes' "
    "cv folds are the same), post-processed by nested cross-validation as in "
    "tbm_nested_cv_postprocess (scripts/zoo/post_cv.py --ensemble-with). In the dashboard and "
    "the CLI an ensemble takes the post-processing of its first model's card; "
    "shipped_setting_heyn_mean_rel_error is the ensemble's Heyn error over all folds with the "
    "shipped setting of its first model (the model named in ensemble_with)."
)


def ensemble_entry(recipe: dict[str, Any], cv_dir: Path) -> dict[str, Any]:
    """The card entry of a recipe meant to be averaged with ``recipe["ensemble_with"]``."""
    partner = recipe["ensemble_with"]
    path = cv_dir / "post_cv_ensemble.json"
    shown = cv_dir.relative_to(REPO) if cv_dir.is_relative_to(REPO) else cv_dir
    command = (
        f"python scripts/zoo/post_cv.py --cv-dir runs/zoo/{partner}/cv --ensemble-with {shown} "
        f"--out {shown / path.name}"
    )
    if not path.is_file():
        raise SystemExit(f"{path} is missing: the recipe is an ensemble partner; run {command} first.")
    report = json.loads(path.read_text())
    post = json.loads((REPO / "models" / f"{partner}.json").read_text())["postprocess"]
    shipped = {k: post[k] for k in report["best_over_all_folds"]}  # the grid's keys
    as_shipped = [
        t["heyn_mean_rel_error"] for t in report["top_settings_over_all_folds"]
        if {k: v for k, v in t.items() if k != "heyn_mean_rel_error"} == shipped
    ]
    return {
        "tbm_nested_cv_ensemble": {
            "members": [partner, recipe["name"]],
            "protocol": ENSEMBLE_PROTOCOL,
            "command": command,
            "summary": report["nested_cv"],
            "chosen_per_fold": report["chosen_per_fold"],
            "per_micrograph_fit": report["per_micrograph_fit"],
            "shipped_setting": shipped,
            "shipped_setting_heyn_mean_rel_error": as_shipped[0] if as_shipped else None,
            "per_micrograph": report["per_micrograph"],
            "published_peers_mean_rel_error": {"MLOgraphy": 0.1369, "MLOgraphy++": 0.1552},
        }
    }


def run_release(recipe: dict[str, Any], out: Path, cv_dir: Path | None, *, resume: bool) -> Path:
    """Train on all the data and publish, with the recipe's cross-validation in the card
    (a recipe with ``"publish": false`` is only trained: a stage another one fine-tunes)."""
    evaluation = cv_evaluation(cv_dir) if cv_dir else {}
    if recipe.get("post_choice") == "nested_cv" and cv_dir is not None:
        # Before training: a missing post_cv.json stops the release before the hour of work.
        recipe, entry = nested_post_choice(recipe, cv_dir)
        evaluation.update(entry)
    if recipe.get("ensemble_with") and cv_dir is not None:
        evaluation.update(ensemble_entry(recipe, cv_dir))
    pairs = tbm_pairs() + extra_pairs(recipe)
    dataset = out / "dataset"
    if not (resume and (dataset / "manifest.json").is_file()):
        export(pairs, dataset, recipe)
    run_dir = train_run(dataset, out / "run", staged(recipe, "release"), resume=resume)
    if recipe.get("publish") is False:  # a first stage that another recipe fine-tunes
        print(f"trained {run_dir}; recipe '{recipe['name']}' is not published to models/")
        return run_dir
    name = recipe["name"]
    post_cv = (
        f"python scripts/zoo/post_cv.py --cv-dir runs/zoo/{name}/cv --out runs/zoo/{name}/cv/post_cv.json && "
        if recipe.get("post_choice") == "nested_cv" else ""
    )
    ensemble = (
        f"python scripts/zoo/post_cv.py --cv-dir runs/zoo/{recipe['ensemble_with']}/cv --ensemble-with "
        f"runs/zoo/{name}/cv --out runs/zoo/{name}/cv/post_cv_ensemble.json && "
        if recipe.get("ensemble_with") else ""
    )
    base = recipe.get("finetune_of")
    first = (
        f"python scripts/zoo/zoo.py cv --recipe scripts/zoo/recipes/{base}.json --folds "
        f"{recipe.get('folds', 5)} && python scripts/zoo/zoo.py release --recipe "
        f"scripts/zoo/recipes/{base}.json && " if base else ""
    )
    command = first + (
        f"python scripts/zoo/zoo.py cv --recipe scripts/zoo/recipes/{name}.json --folds "
        f"{recipe.get('folds', 5)} && {post_cv}{ensemble}python scripts/zoo/zoo.py release --recipe "
        f"scripts/zoo/recipes/{name}.json"
    )
    return publish(recipe, run_dir, val_pairs_of(dataset, pairs), evaluation,
                   staging=out / "published", command=command)


def run_publish_fold(recipe: dict[str, Any], cv_dir: Path, fold: int, folds: int) -> Path:
    """Publish one fold's model of a cross-validation, with its held-out scores in the card."""
    tbm = tbm_pairs()
    held_out = tbm_folds(tbm, folds, seed=recipe.get("cv_seed", 0))[fold]
    train_pairs = [p for p in tbm if p.group not in held_out] + extra_pairs(recipe)
    fold_dir = cv_dir / f"fold{fold}"
    scores = pd.read_csv(fold_dir / "scores.csv")
    per_group, summary = summarize_by_group(scores)
    evaluation: dict[str, Any] = {
        "held_out_tbm": {
            "protocol": f"trained without micrographs {', '.join(held_out)} (fold {fold} of {folds}); "
            + CV_PROTOCOL,
            "summary": summary,
            "per_micrograph": per_group.round(4).to_dict(orient="records"),
        }
    }
    if (fold_dir / "scores_synthetic.csv").is_file():
        evaluation["held_out_synthetic"] = summarize_by_group(pd.read_csv(fold_dir / "scores_synthetic.csv"))[1]
    name = recipe["name"]
    init = recipe["train"].get("init_from")
    init_recipe = recipe.get("init_recipe")
    first = (
        f"python scripts/zoo/zoo.py cv --recipe scripts/zoo/recipes/{init_recipe} --folds {folds} "
        f"--only {fold} && " if init_recipe
        else f"(first the recipe that made {init}) && " if init else ""
    )
    command = (
        first
        + f"python scripts/zoo/zoo.py cv --recipe scripts/zoo/recipes/{name}.json --folds {folds} "
        f"--only {fold} && python scripts/zoo/zoo.py publish-fold --recipe "
        f"scripts/zoo/recipes/{name}.json --fold {fold}"
    )
    return publish(recipe, fold_dir / "run", val_pairs_of(fold_dir / "dataset", train_pairs), evaluation,
                   staging=fold_dir / "published", command=command)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["cv", "release", "publish-fold"])
    parser.add_argument("--fold", type=int, default=0, help="publish-fold: which fold's model")
    parser.add_argument("--recipe", required=True, type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only", type=int, nargs="*", help="cv: run only these folds")
    parser.add_argument("--out", type=Path, default=None, help="default: runs/zoo/<recipe name>")
    parser.add_argument("--resume", action="store_true", help="reuse finished steps in --out")
    args = parser.parse_args(argv)
    recipe = json.loads(args.recipe.read_text())
    out = args.out or REPO / "runs" / "zoo" / recipe["name"]
    if args.command == "cv":
        run_cv(recipe, out / "cv", args.folds, resume=args.resume, only=args.only)
    elif args.command == "publish-fold":
        run_publish_fold(recipe, out / "cv", args.fold, args.folds)
    else:
        run_release(recipe, out / "release", out / "cv", resume=args.resume)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
