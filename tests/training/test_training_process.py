"""Real background processes: SIGTERM and resume through the CLI, launch/stop/list/read/publish."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grainseg_core.errors import InputError, TrainingError
from grainseg_core.nets import load_model_file
from grainseg_core.training import (
    TrainConfig,
    launch_run,
    list_runs,
    publish_run,
    read_metrics,
    resume_run,
    stop_run,
    train,
)
from grainseg_core.training import process as process_mod
from grainseg_core.training.process import STALE_REASON
from grainseg_core.training.runs import (
    create_run_dir,
    iter_metric_records,
    read_status,
    update_status,
)

from .conftest import TINY_ARCH


def _train_command() -> list[str]:
    """``grainseg train`` once the main CLI routes it; the training CLI module until then."""
    from grainseg_core.cli import build_parser

    subs = [a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction"]
    script = Path(sys.executable).with_name("grainseg")
    if subs and "train" in subs[0].choices and script.is_file():
        return [str(script), "train"]
    return [sys.executable, "-m", "grainseg_core.training.cli", "train"]


def _long_config(dataset, **changes) -> TrainConfig:
    # Long enough never to finish before the test stops it (2 steps per epoch).
    base = dict(
        dataset=str(dataset),
        arch_kwargs=TINY_ARCH,
        epochs=40,
        batch_size=4,
        log_every_steps=1,
        patience=None,
        schedule="constant",
        num_threads=1,
    )
    base.update(changes)
    return TrainConfig(**base)


def _wait_for(predicate, timeout=90.0, what="condition", run_dir=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    log = ""
    if run_dir is not None and (Path(run_dir) / "log.txt").is_file():
        log = "\nlog.txt:\n" + (Path(run_dir) / "log.txt").read_text()[-3000:]
    raise AssertionError(f"timed out waiting for {what}{log}")


def _steps(run_dir):
    return [
        r["step"]
        for r in iter_metric_records(Path(run_dir) / "metrics.jsonl")
        if r["kind"] == "step"
    ]


def _check_sequence(run_dir, epochs, steps_per_epoch):
    records = list(iter_metric_records(Path(run_dir) / "metrics.jsonl"))
    steps = [r["step"] for r in records if r["kind"] == "step"]
    assert steps == list(range(1, epochs * steps_per_epoch + 1))  # no gap, no repeat
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == list(range(1, epochs + 1))
    for r in records:
        if r["kind"] == "step":
            assert r["epoch"] == (r["step"] - 1) // steps_per_epoch + 1


def test_sigterm_then_resume(tiny_dataset, tmp_path):
    cfg = _long_config(tiny_dataset, epochs=8)
    (tmp_path / "cfg.json").write_text(cfg.to_json())
    run_dir = tmp_path / "runs" / "sig"
    proc = subprocess.Popen(
        [
            *_train_command(),
            "--config",
            str(tmp_path / "cfg.json"),
            "--out",
            str(tmp_path / "runs"),
            "--run-id",
            "sig",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(lambda: len(_steps(run_dir)) >= 3 or proc.poll() is not None, what="3 steps")
        assert proc.poll() is None, proc.communicate()[0]  # it must still be training
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "stopped: stop requested (SIGTERM)" in out
    status = read_status(run_dir)
    assert status["state"] == "stopped" and status["reason"] == "stop requested (SIGTERM)"
    stopped_at = status["step"]
    assert 3 <= stopped_at < 16
    assert _steps(run_dir) == list(range(1, stopped_at + 1))
    summary = train(None, run_dir, resume=True)
    assert summary.state == "finished" and summary.steps_done == 16
    _check_sequence(run_dir, epochs=8, steps_per_epoch=2)


def test_launch_stop_list_read_resume_publish(tiny_dataset, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    run_dir = launch_run(_long_config(tiny_dataset), runs, run_id="bg")
    try:
        assert list_runs(runs)[0].state in ("starting", "running"), (
            run_dir / "log.txt"
        ).read_text()
        _wait_for(lambda: len(_steps(run_dir)) >= 2, what="step lines", run_dir=run_dir)
        info = list_runs(runs)[0]
        assert info.state == "running" and info.architecture == "slim_unet" and info.loss == "bce"
        assert (
            info.total_steps == 80
            and info.pid == json.loads((run_dir / "launch.json").read_text())["pid"]
        )
        assert stop_run(run_dir) is True
        _wait_for(
            lambda: read_status(run_dir).get("state") == "stopped", what="stop", run_dir=run_dir
        )
    finally:
        pid = json.loads((run_dir / "launch.json").read_text())["pid"]
        _wait_for(lambda: _gone(pid), timeout=30, what="the first process to exit")
    assert stop_run(run_dir) is False  # nothing left to stop
    frame = read_metrics(run_dir)
    assert {"kind", "epoch", "step", "loss", "loss_bce", "lr"} <= set(frame.columns)
    assert list(read_metrics(run_dir, kind="step")["step"]) == list(
        range(1, read_status(run_dir)["step"] + 1)
    )
    assert "=== " in (run_dir / "log.txt").read_text()

    # resume_run prepares the folder and starts the same `train --resume` command as
    # launch_run (exercised above); here the second process is replaced by the same
    # call in this process, which saves a second interpreter start-up.
    first_stop = read_status(run_dir)["step"]
    spawned = []
    monkeypatch.setattr(process_mod, "_spawn", lambda folder: spawned.append(folder) or 0)
    assert resume_run(run_dir) == run_dir and spawned == [run_dir]
    assert read_status(run_dir)["state"] == "starting" and read_status(run_dir)["pid"] is None
    assert process_mod._child_command(run_dir)[1:] == [
        "-m", "grainseg_core", "train", "--resume", str(run_dir)
    ]
    done = {"steps": 0}
    summary = train(
        None,
        run_dir,
        resume=True,
        progress=lambda d, t: done.update(steps=d),
        should_stop=lambda: done["steps"] >= first_stop + 2,
    )
    assert summary.state == "stopped"
    steps = _steps(run_dir)
    assert steps == list(range(1, read_status(run_dir)["step"] + 1)) and steps[-1] > first_stop
    assert read_status(run_dir)["segments"] == 2
    update_status(run_dir, state="running", pid=os.getpid())
    with pytest.raises(TrainingError, match="is running already"):
        resume_run(run_dir)
    update_status(run_dir, state="finished")
    with pytest.raises(TrainingError, match="has finished"):
        resume_run(run_dir)

    models = tmp_path / "models"
    weights = publish_run(run_dir, models, "tiny-v1", title="Tiny", roles=["default"])
    model, card = load_model_file(weights)
    assert card["name"] == "tiny-v1" and card["weights_file"] == "tiny-v1.safetensors"
    assert card["reproduce"]["command"].startswith("grainseg train --config")
    assert card["reproduce"]["config"]["epochs"] == 40 and card["source_run"]["state"] == "finished"
    assert card["source_run"]["run_id"] == "bg" and card["metrics"]["val_dice"] >= 0
    assert "checkpoint_token" not in card
    assert card["zoo"] == {"title": "Tiny", "description": "", "roles": ["default"]}
    with pytest.raises(InputError, match="exists in"):
        publish_run(run_dir, models, "tiny-v1")
    assert publish_run(run_dir, models, "tiny-v1", overwrite=True) == weights
    with pytest.raises(InputError, match="model name must start"):
        publish_run(run_dir, models, "../evil")


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"


def test_stale_running_status_is_reported_failed(tiny_dataset, tmp_path):
    cfg = _long_config(tiny_dataset)
    run_dir = create_run_dir(tmp_path, cfg, run_id="ghost")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    update_status(run_dir, state="running", pid=dead.pid)
    (run_dir / "log.txt").write_text("epoch 1 ...\nKilled\n")
    info = list_runs(tmp_path)[0]
    assert info.state == "failed"
    assert info.reason == f"{STALE_REASON} (last log line: Killed)"
    assert read_status(run_dir)["state"] == "running"  # reported, not rewritten
    assert stop_run(run_dir) is False
    # A live process that is not a grainseg run (pid reused) is not ours either.
    update_status(run_dir, pid=os.getppid() if os.getppid() > 1 else 1)
    assert list_runs(tmp_path)[0].state == "failed"


def test_a_just_launched_child_is_not_reported_failed(tiny_dataset, tmp_path, monkeypatch):
    # Between fork and exec the child still shows its parent's command line (streamlit's,
    # in the dashboard): the launcher must not call its own starting child a dead run.
    cfg = _long_config(tiny_dataset)
    run_dir = create_run_dir(tmp_path, cfg, run_id="young")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        update_status(run_dir, state="starting", pid=child.pid)
        assert list_runs(tmp_path)[0].state == "failed"  # not ours: not a grainseg command
        monkeypatch.setitem(process_mod._CHILDREN, child.pid, child)
        assert list_runs(tmp_path)[0].state == "starting"  # ours: launched by this process
    finally:
        child.kill()
        child.wait()
    assert list_runs(tmp_path)[0].state == "failed"  # ended: reaped and reported


def test_process_errors_and_partial_metrics(tiny_dataset, tmp_path):
    with pytest.raises(TrainingError, match="not a run folder"):
        stop_run(tmp_path)
    with pytest.raises(TrainingError, match="not a run folder"):
        resume_run(tmp_path)
    with pytest.raises(InputError, match="config must be a TrainConfig"):
        launch_run({"dataset": "x"}, tmp_path)  # type: ignore[arg-type]
    run_dir = create_run_dir(tmp_path, _long_config(tiny_dataset), run_id="r")
    assert read_metrics(run_dir).empty
    (run_dir / "metrics.jsonl").write_text(
        '{"kind":"step","epoch":1,"step":1,"loss":0.5}\n{"kind":"step","epoch":1,"st'
    )
    frame = read_metrics(run_dir)
    assert list(frame["step"]) == [1] and frame["loss"].iloc[0] == 0.5
    with pytest.raises(InputError, match="kind must be"):
        read_metrics(run_dir, kind="epochs")
    with pytest.raises(TrainingError, match="no best checkpoint"):
        publish_run(run_dir, tmp_path / "models", "m")
    assert list_runs(tmp_path / "missing") == []
    with pytest.raises(TrainingError, match="exists already"):
        create_run_dir(tmp_path, _long_config(tiny_dataset), run_id="r")
    with pytest.raises(InputError, match="run id must be"):
        create_run_dir(tmp_path, _long_config(tiny_dataset), run_id="a/b")
