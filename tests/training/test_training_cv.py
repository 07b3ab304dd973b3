"""cross_validate(): one run per fold, test scores of the best checkpoints, mean +- sd."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from grainseg_core.errors import ConfigError
from grainseg_core.training import TrainConfig, cross_validate, list_runs
from grainseg_core.training.runs import read_status

from .conftest import TINY_ARCH


def _cv_config(cv_dataset, **changes):
    base = dict(
        dataset=str(cv_dataset),
        arch_kwargs=TINY_ARCH,
        epochs=1,
        batch_size=4,
        max_steps_per_epoch=2,
        patience=None,
        log_every_steps=1,
    )
    base.update(changes)
    return TrainConfig(**base)


def test_three_folds_summary(cv_dataset, tmp_path):
    seen = []
    summary = cross_validate(
        _cv_config(cv_dataset),
        runs_root=tmp_path,
        cv_id="cv1",
        progress=lambda d, t: seen.append((d, t)),
    )
    cv_dir = tmp_path / "cv1"
    assert summary.state == "finished" and [r["fold"] for r in summary.folds] == [0, 1, 2]
    assert seen[-1] == (6, 6)
    for row in summary.folds:
        assert row["state"] == "finished"
        assert read_status(row["run_dir"])["state"] == "finished"
        assert TrainConfig.from_json(f"{row['run_dir']}/config.json").fold == row["fold"]
        assert {"test_dice", "test_ari", "test_loss", "test_bf1"} <= set(row["test"])
        assert "val_dice" in row["val"]
    dice = np.array([r["test"]["test_dice"] for r in summary.folds])
    assert summary.mean["test_dice"] == pytest.approx(dice.mean())
    assert summary.sd["test_dice"] == pytest.approx(dice.std(ddof=1))
    stored = json.loads((cv_dir / "cv_summary.json").read_text())
    assert stored["mean"]["test_dice"] == pytest.approx(summary.mean["test_dice"])
    assert json.loads((cv_dir / "cv.json").read_text())["state"] == "finished"
    groups = [(r.group, r.fold) for r in list_runs(tmp_path)]
    assert groups == [("cv1", 0), ("cv1", 1), ("cv1", 2)]


def test_folds_subset_stop_and_resume(cv_dataset, tmp_path):
    done = {"steps": 0}

    def count(d, t):
        done["steps"] = d

    # Fold 0 (2 steps) finishes; the stop comes after fold 2's first step.
    s = cross_validate(
        _cv_config(cv_dataset),
        runs_root=tmp_path,
        cv_id="cv",
        folds=[0, 2],
        progress=count,
        should_stop=lambda: done["steps"] == 3,
    )
    assert s.state == "stopped"
    assert [(r["fold"], r["state"]) for r in s.folds] == [(0, "finished"), (2, "stopped")]
    assert s.mean["test_dice"] == s.folds[0]["test"]["test_dice"] and s.sd["test_dice"] == 0.0
    r = cross_validate(_cv_config(cv_dataset), runs_root=tmp_path, cv_id="cv", resume=True)
    assert r.state == "finished" and [row["fold"] for row in r.folds] == [0, 2]
    assert read_status(tmp_path / "cv" / "fold2")["segments"] == 2
    assert math.isfinite(r.sd["test_dice"])


def test_cv_errors(cv_dataset, tiny_dataset, tmp_path):
    with pytest.raises(ConfigError, match="has no cross-validation folds"):
        cross_validate(_cv_config(tiny_dataset), runs_root=tmp_path)
    with pytest.raises(ConfigError, match="folds = 4, but dataset .* has 3 folds"):
        cross_validate(_cv_config(cv_dataset), runs_root=tmp_path, folds=4)
    with pytest.raises(ConfigError, match=r"folds \[0, 0\] must be distinct indices in 0..2"):
        cross_validate(_cv_config(cv_dataset), runs_root=tmp_path, folds=[0, 0])
    with pytest.raises(ConfigError, match="dataset folder .* not found"):
        cross_validate(_cv_config(tmp_path / "none"), runs_root=tmp_path)
    with pytest.raises(ConfigError, match="resume=True needs cv_id"):
        cross_validate(_cv_config(cv_dataset), runs_root=tmp_path, resume=True)
