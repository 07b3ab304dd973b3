"""K-fold cross-validation: one training run per fold and a summary of the test scores.

The dataset must be exported with a cross-validation split (``kfold_by_image`` over
whole images, or seed 004's ``column_cv``): fold ``f`` tests on its own images (or
columns) and trains on the others. A CV folder ``runs/<cv id>/`` holds::

    cv.json             the config, the folds and the state of the whole CV
    fold0/, fold1/ ...  ordinary run folders (see grainseg_core.training.runs)
    cv_summary.json     per-fold best validation and test scores, and mean +- sd

The test scores of a fold are those of its *best* checkpoint on that fold's test split.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grainseg_core.errors import ConfigError, DatasetError, TrainingError
from grainseg_core.training.config import TrainConfig, check_config
from grainseg_core.training.runs import (
    make_run_id,
    now_iso,
    read_json,
    read_status,
    write_json_atomic,
)
from grainseg_core.types import ProgressCallback

__all__ = ["CVSummary", "cross_validate", "evaluate_model_on_split", "CV_FILE", "CV_SUMMARY_FILE"]

CV_FILE = "cv.json"
CV_SUMMARY_FILE = "cv_summary.json"


@dataclass(frozen=True)
class CVSummary:
    """Result of :func:`cross_validate`.

    Attributes
    ----------
    cv_dir : str
    state : {"finished", "stopped"}
    folds : list of dict
        Per fold: ``fold``, ``run_dir``, ``state``, ``best_value``, ``best_epoch``,
        ``val`` (validation scores of the best epoch) and ``test`` (test scores of the
        best checkpoint).
    mean, sd : dict of str to float
        Mean and sample standard deviation (ddof = 1; 0 for one fold) of each
        ``test_*`` and ``val_*`` score over the finished folds.
    """

    cv_dir: str
    state: str
    folds: list[dict[str, Any]] = field(default_factory=list)
    mean: dict[str, float] = field(default_factory=dict)
    sd: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (what ``cv_summary.json`` holds)."""
        return asdict(self)


def _fold_list(folds: int | Sequence[int] | None, n_folds: int, root: str) -> list[int]:
    if n_folds < 2:
        raise ConfigError(
            f"dataset '{root}' has no cross-validation folds (split by hold-out); export it with "
            "split='kfold_by_image' or 'column_cv' to cross-validate."
        )
    if folds is None:
        return list(range(n_folds))
    if isinstance(folds, (int, np.integer)) and not isinstance(folds, bool):
        if not 1 <= int(folds) <= n_folds:
            raise ConfigError(
                f"folds = {folds}, but dataset '{root}' has {n_folds} folds; give 1..{n_folds} "
                "(or a list of fold indices)."
            )
        return list(range(int(folds)))
    try:
        out = [int(f) for f in folds]
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"folds must be a number or a list of fold indices; got {folds!r}."
        ) from exc
    bad = [f for f in out if not 0 <= f < n_folds]
    if bad or not out or len(set(out)) != len(out):
        raise ConfigError(
            f"folds {out} must be distinct indices in 0..{n_folds - 1} (dataset '{root}')."
        )
    return out


def evaluate_model_on_split(
    model_path: str | os.PathLike,
    config: TrainConfig,
    *,
    split: str = "test",
    fold: int | None = None,
    device: str = "cpu",
) -> dict[str, float]:
    """Scores of a saved model on one split of the config's dataset.

    Parameters
    ----------
    model_path : str or path
        ``.safetensors`` model with its card.
    config : TrainConfig
        Gives the dataset, loss, threshold, tolerance and patch size.
    split : {"train", "val", "test"}
    fold : int, optional
        Default: ``config.fold``.
    device : str

    Returns
    -------
    dict
        The validation scores (see :func:`grainseg_core.training.Trainer.evaluate`) with
        ``val_`` replaced by ``<split>_``; empty when the split has no patches.
    """
    import torch

    from grainseg_core.datasets import GrainDataset
    from grainseg_core.losses import build_loss
    from grainseg_core.nets import load_model_file
    from grainseg_core.patching import read_manifest
    from grainseg_core.training._data import EpochSampler, make_loader
    from grainseg_core.training._validate import evaluate

    fold = config.fold if fold is None else fold
    manifest = read_manifest(config.dataset)
    if not manifest.select(split, fold):
        return {}
    ds = GrainDataset(
        config.dataset, split=split, fold=fold, patch_size=config.patch_size, seed=config.seed
    )
    model, _ = load_model_file(model_path)
    dev = torch.device(device)
    model.to(dev)
    loader = make_loader(
        ds,
        EpochSampler(len(ds), shuffle=False),
        batch_size=config.batch_size,
        num_workers=0,
        pin_memory=False,
    )
    scores = (
        evaluate(
            model,
            loader,
            loss_fn=build_loss(config.loss).to(dev),
            device=dev,
            threshold=config.val_threshold,
            tolerance_px=config.val_tolerance_px,
            target=manifest.target,
        )
        or {}
    )
    return {f"{split}_{k[4:]}" if k.startswith("val_") else k: v for k, v in scores.items()}


def _mean_sd(rows: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    keys = sorted({k for r in rows for k, v in r.items() if isinstance(v, (int, float))})
    mean: dict[str, float] = {}
    sd: dict[str, float] = {}
    for k in keys:
        vals = np.array([r[k] for r in rows if isinstance(r.get(k), (int, float))], dtype=float)
        vals = vals[np.isfinite(vals)]
        if vals.size == 0:
            continue
        mean[k] = float(vals.mean())
        sd[k] = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
    return mean, sd


def cross_validate(
    config: TrainConfig,
    *,
    runs_root: str | os.PathLike,
    folds: int | Sequence[int] | None = None,
    cv_id: str | None = None,
    resume: bool = False,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> CVSummary:
    """Train one run per fold and summarise the folds' test scores.

    Parameters
    ----------
    config : TrainConfig
        Its ``fold`` is ignored (each run gets its own).
    runs_root : str or path
        Folder of runs; the CV folder ``<runs_root>/<cv_id>`` is created in it.
    folds : int or sequence of int, optional
        Number of folds to run (the first ``folds``), or which ones; default all.
    cv_id : str, optional
        CV folder name (default ``YYYYmmdd-HHMMSS-cv-<arch>-<short>``); with
        ``resume=True`` the CV folder to continue.
    resume : bool
        Continue a CV: finished folds are kept, a stopped or failed fold resumes.
    progress : callable, optional
        ``progress(done, total)`` over all folds' steps.
    should_stop : callable, optional
        Stops the current fold (which ends ``stopped``) and the CV.

    Returns
    -------
    CVSummary
        Also written to ``cv_summary.json``.

    Raises
    ------
    ConfigError
        A dataset without folds, bad ``folds``, or any config error of the runs.

    Examples
    --------
    >>> # s = cross_validate(TrainConfig(dataset="datasets/cv3", epochs=20), runs_root="runs")
    >>> # s.mean["test_dice"], s.sd["test_dice"]
    """
    from grainseg_core.patching import read_manifest
    from grainseg_core.training.trainer import train

    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be a TrainConfig; got {type(config).__name__}.")
    root = Path(runs_root)
    if resume:
        if cv_id is None:
            raise ConfigError("resume=True needs cv_id (the CV folder to continue).")
        cv_dir = root / cv_id
        stored = read_json(cv_dir / CV_FILE)
        if stored is None:
            raise TrainingError(f"'{cv_dir}' is not a cross-validation folder (no {CV_FILE}).")
        config = TrainConfig.from_dict(stored["config"])
        fold_ids = [int(f) for f in stored["folds"]]
    else:
        if not Path(config.dataset).is_dir():
            raise ConfigError(
                f"dataset folder '{config.dataset}' not found; export one with "
                "grainseg_core.patching.export_dataset (split='kfold_by_image' or 'column_cv')."
            )
        try:
            manifest = read_manifest(config.dataset)
        except DatasetError as exc:
            raise ConfigError(f"dataset folder '{config.dataset}' is not usable: {exc}") from exc
        fold_ids = _fold_list(folds, int(manifest.n_folds), config.dataset)
        check_config(config.replace(fold=fold_ids[0]))
        cv_dir = root / (cv_id or make_run_id(f"cv-{config.architecture}"))
        if cv_dir.exists() and any(cv_dir.iterdir()):
            raise TrainingError(
                f"CV folder '{cv_dir}' exists already; resume it or choose another id."
            )
        cv_dir.mkdir(parents=True, exist_ok=True)
    base = config.replace(fold=None) if config.fold is not None else config
    cv_state = {
        "kind": "cv",
        "config": base.to_dict(),
        "folds": fold_ids,
        "state": "running",
        "updated": now_iso(),
    }
    write_json_atomic(cv_dir / CV_FILE, cv_state)
    rows: list[dict[str, Any]] = []
    state = "finished"
    offset = [0]

    def fold_progress(done: int, total: int) -> None:
        if progress is not None:
            progress(offset[0] * total + done, len(fold_ids) * total)

    for i, fold in enumerate(fold_ids):
        offset[0] = i
        run_dir = cv_dir / f"fold{fold}"
        cfg = base.replace(fold=fold)
        previous = read_status(run_dir).get("state")
        if previous != "finished":
            summary = train(
                cfg,
                run_dir,
                resume=resume and (run_dir / "config.json").is_file(),
                progress=fold_progress,
                should_stop=should_stop,
            )
            run_state = summary.state
        else:
            run_state = "finished"
        rows.append(_fold_row(fold, run_dir, cfg, run_state, device=check_config(cfg).device))
        if run_state != "finished":
            state = "stopped"
            break
    finished = [r for r in rows if r["state"] == "finished"]
    flat = [{**r["val"], **r["test"]} for r in finished]
    mean, sd = _mean_sd(flat)
    out = CVSummary(cv_dir=str(cv_dir), state=state, folds=rows, mean=mean, sd=sd)
    write_json_atomic(cv_dir / CV_SUMMARY_FILE, out.to_dict())
    cv_state.update(state=state, updated=now_iso())
    write_json_atomic(cv_dir / CV_FILE, cv_state)
    return out


def _fold_row(
    fold: int, run_dir: Path, cfg: TrainConfig, state: str, *, device: str
) -> dict[str, Any]:
    from grainseg_core.nets import read_model_card

    status = read_status(run_dir)
    best = run_dir / "checkpoints" / "best.safetensors"
    row: dict[str, Any] = {
        "fold": fold,
        "run_dir": str(run_dir),
        "state": state,
        "best_value": status.get("best_value"),
        "best_epoch": status.get("best_epoch"),
        "val": {},
        "test": {},
    }
    if state == "finished" and best.is_file():
        card = read_model_card(best)
        row["val"] = {
            k: v
            for k, v in card.get("metrics", {}).items()
            if isinstance(v, (int, float)) and math.isfinite(v)
        }
        row["test"] = evaluate_model_on_split(best, cfg, split="test", fold=fold, device=device)
    return row
