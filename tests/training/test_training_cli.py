"""The train and cv sub-commands (in-process: the handlers the main CLI routes to)."""

from __future__ import annotations

import argparse
import json

from grainseg_core.training.cli import add_subcommands, main
from grainseg_core.training.runs import read_status

from .conftest import TINY_ARCH


def _write(tmp_path, dataset, **changes):
    cfg = {
        "dataset": str(dataset),
        "arch_kwargs": TINY_ARCH,
        "epochs": 1,
        "batch_size": 4,
        "patience": None,
        "max_steps_per_epoch": 1,
    }
    cfg.update(changes)
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    return path


def test_add_subcommands_sets_handlers():
    parser = argparse.ArgumentParser()
    add_subcommands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--config", "c.json", "--out", "r", "--run-id", "x"])
    assert callable(args.handler) and (args.config, args.out, args.run_id) == ("c.json", "r", "x")
    args = parser.parse_args(["cv", "--config", "c.json", "--folds", "5"])
    assert callable(args.handler) and args.folds == 5


def test_train_resume_and_device_override(tiny_dataset, tmp_path, capsys):
    cfg = _write(tmp_path, tiny_dataset)
    assert (
        main(["train", "--config", str(cfg), "--out", str(tmp_path / "runs"), "--run-id", "a"]) == 0
    )
    out = capsys.readouterr().out
    assert (
        "run folder:" in out
        and "epoch 1: train_loss" in out
        and "finished: trained 1 epoch;" in out
    )
    assert read_status(tmp_path / "runs" / "a")["state"] == "finished"
    # resuming a finished run trains nothing more and exits 0
    assert (
        main(["train", "--resume", str(tmp_path / "runs" / "a"), "--device", "cpu", "--quiet"]) == 0
    )
    assert "1/1 steps" in capsys.readouterr().out
    stored = json.loads((tmp_path / "runs" / "a" / "config.json").read_text())
    assert stored["device"] == "cpu"


def test_errors_are_one_line_exit_2(tiny_dataset, tmp_path, capsys):
    bad = _write(tmp_path, tiny_dataset, lr=-1)
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("grainseg: error: TrainConfig.lr must be > 0") and "\n" not in err
    assert main(["train", "--out", str(tmp_path / "runs")]) == 2
    assert "needs --config FILE" in capsys.readouterr().err
    missing = _write(tmp_path, tmp_path / "nowhere")
    argv = ["train", "--config", str(missing), "--out", str(tmp_path / "r2"), "--run-id", "x"]
    assert main(argv) == 2
    assert "dataset folder" in capsys.readouterr().err
    status = read_status(tmp_path / "r2" / "x")  # the prepared run folder says why
    assert status["state"] == "failed" and "dataset folder" in status["reason"]
    assert main(["cv", "--config", str(_write(tmp_path, tiny_dataset))]) == 2
    assert "has no cross-validation folds" in capsys.readouterr().err
    assert main(["cv", "--resume", str(tmp_path)]) == 2
    assert "not a cross-validation folder" in capsys.readouterr().err


def test_cv_command(cv_dataset, tmp_path, capsys):
    cfg = _write(tmp_path, cv_dataset, batch_size=8)
    assert main(["cv", "--config", str(cfg), "--folds", "2", "--out", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "fold 0: finished" in out and "fold 1: finished" in out and "fold 2" not in out
    assert "test_dice:" in out and "+-" in out
    (cv_dir,) = (tmp_path / "runs").iterdir()
    assert "-cv-slim_unet-" in cv_dir.name
    summary = json.loads((cv_dir / "cv_summary.json").read_text())
    assert [f["fold"] for f in summary["folds"]] == [0, 1]
