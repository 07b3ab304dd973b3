"""Training runs as background processes, for the dashboard.

The dashboard never trains in its own process (a rerun or a closed tab must lose
nothing): :func:`launch_run` starts ``python -m grainseg_core train --resume <run_dir>``
in a new session, its output going to ``run_dir/log.txt``, and returns at once; the page
polls :func:`list_runs` / :func:`read_metrics`. :func:`stop_run` sends SIGTERM (the run
finishes its step, saves and ends ``stopped``); :func:`resume_run` starts it again.
:func:`publish_run` copies a run's best model into the model zoo.

A run whose status says ``running`` (or ``starting``) while its process is gone (killed,
machine restarted) is reported as ``failed`` with the reason "process ended unexpectedly".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from grainseg_core._atomic import write_atomic, write_text_atomic
from grainseg_core.errors import InputError, TrainingError
from grainseg_core.training.config import TrainConfig
from grainseg_core.training.cv import CV_FILE
from grainseg_core.training.runs import (
    CONFIG_FILE,
    LOG_FILE,
    create_run_dir,
    is_run_dir,
    iter_metric_records,
    now_iso,
    pid_alive,
    read_json,
    read_status,
    write_json_atomic,
)

__all__ = [
    "RunInfo",
    "launch_run",
    "stop_run",
    "resume_run",
    "run_info",
    "list_runs",
    "read_metrics",
    "publish_run",
    "STALE_REASON",
]

LAUNCH_FILE = "launch.json"
#: Reason given for a run whose process is gone while its status still says running.
STALE_REASON = "process ended unexpectedly"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# Popen objects of launched runs, kept so that their exit status is collected (no zombies).
_CHILDREN: dict[int, subprocess.Popen] = {}


@dataclass(frozen=True)
class RunInfo:
    """One run, as the dashboard lists it.

    Attributes
    ----------
    run_id, run_dir : str
    state : str
        ``starting``, ``running``, ``finished``, ``stopped``, ``failed`` (also for a run
        whose process is gone) or ``unknown`` (no status).
    reason : str
    name, architecture, loss, dataset : str
        From the config (``loss`` as ``"bce + 0.04*topo"``).
    fold : int or None
    epoch, epochs, step, total_steps : int
        Progress (epochs completed).
    monitor : str
    best_value : float or None
    best_epoch : int
    eta_s, elapsed_s : float or None
    started, updated : str
        ISO times.
    pid : int or None
    device : str
    group : str or None
        The CV folder a fold run belongs to.
    """

    run_id: str
    run_dir: str
    state: str
    reason: str
    name: str
    architecture: str
    loss: str
    dataset: str
    fold: int | None
    epoch: int
    epochs: int
    step: int
    total_steps: int
    monitor: str
    best_value: float | None
    best_epoch: int
    eta_s: float | None
    elapsed_s: float | None
    started: str
    updated: str
    pid: int | None
    device: str
    group: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


# ---------------------------------------------------------------------- processes
def _reap() -> None:
    for pid, proc in list(_CHILDREN.items()):
        if proc.poll() is not None:
            del _CHILDREN[pid]


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [p.decode("utf-8", "replace") for p in raw.split(b"\0") if p]


def _is_ours(pid: int) -> bool:
    """True when ``pid`` is alive and is a grainseg training process."""
    if pid == os.getpid():
        return True  # a run trained in this very process (e.g. from Python)
    if not pid_alive(pid):
        return False
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is None:
        # Launched by this process and not ended. Checked before the command line: between
        # fork and exec a child still shows its parent's (e.g. streamlit's) command line.
        return True
    cmd = _cmdline(pid)
    if cmd is None:
        return True  # no /proc (not Linux): liveness is all we can check
    text = " ".join(cmd)
    return "grainseg" in text and (" train" in text or " cv" in text)


def _run_pid(run_dir: Path, status: dict[str, Any]) -> int | None:
    pid = status.get("pid")
    if pid is None:
        pid = (read_json(run_dir / LAUNCH_FILE) or {}).get("pid")
    try:
        return int(pid) if pid is not None else None
    except (TypeError, ValueError):
        return None


def _same_host(status: dict[str, Any]) -> bool:
    host = status.get("host")
    return host in (None, socket.gethostname())


def _last_log_line(run_dir: Path) -> str:
    try:
        with open(run_dir / LOG_FILE, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 4096))
            lines = [
                ln.strip() for ln in fh.read().decode("utf-8", "replace").splitlines() if ln.strip()
            ]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def effective_status(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``status.json`` with a dead ``running``/``starting`` run reported as ``failed``."""
    folder = Path(run_dir)
    _reap()
    status = read_status(folder)
    if status.get("state") in ("running", "starting") and _same_host(status):
        pid = _run_pid(folder, status)
        if pid is not None and not _is_ours(pid):
            last = _last_log_line(folder)
            status = {
                **status,
                "state": "failed",
                "reason": STALE_REASON + (f" (last log line: {last})" if last else ""),
                "eta_s": None,
            }
    return status


def _child_command(run_dir: Path) -> list[str]:
    """``python -m grainseg_core train --resume RUN_DIR``: the CLI's own resume command."""
    return [sys.executable, "-m", "grainseg_core", "train", "--resume", str(run_dir)]


def _spawn(run_dir: Path) -> int:
    cmd = _child_command(run_dir)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(run_dir / LOG_FILE, "ab") as log:
        log.write(f"\n=== {now_iso()} {' '.join(cmd)}\n".encode())
        log.flush()
        # A new session: the run survives the dashboard and gets no Ctrl-C of its terminal.
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    _CHILDREN[proc.pid] = proc
    write_json_atomic(
        run_dir / LAUNCH_FILE,
        {"pid": proc.pid, "command": cmd, "launched": now_iso(), "host": socket.gethostname()},
    )
    return proc.pid


def launch_run(
    config: TrainConfig, runs_root: str | os.PathLike, *, run_id: str | None = None
) -> Path:
    """Start a training run in the background and return its folder at once.

    Parameters
    ----------
    config : TrainConfig
        Checked here (dataset, device, ...), so a bad config fails now, not in the log.
    runs_root : str or path
        Folder of runs.
    run_id : str, optional
        Folder name (default: generated, sortable by start time).

    Returns
    -------
    Path
        The run folder (status ``starting``, then ``running`` once the process is up).

    Raises
    ------
    ConfigError
        The config does not pass :func:`~grainseg_core.training.check_config`.

    Examples
    --------
    >>> # run_dir = launch_run(cfg, "runs"); list_runs("runs")[-1].state
    """
    from grainseg_core.training.config import check_config

    if not isinstance(config, TrainConfig):
        raise InputError(f"config must be a TrainConfig; got {type(config).__name__}.")
    check_config(config)
    run_dir = create_run_dir(runs_root, config, run_id=run_id)
    _spawn(run_dir)
    return run_dir


def stop_run(run_dir: str | os.PathLike) -> bool:
    """Ask a running run to stop (SIGTERM): it finishes its step, saves and ends ``stopped``.

    Returns
    -------
    bool
        True when the signal was sent; False when the run is not running (finished,
        stopped, failed, or its process is gone).

    Raises
    ------
    TrainingError
        ``run_dir`` is not a run folder, or the run runs on another machine.
    """
    folder = Path(run_dir)
    if not is_run_dir(folder):
        raise TrainingError(f"'{folder}' is not a run folder (no {CONFIG_FILE}).")
    status = read_status(folder)
    if status.get("state") not in ("running", "starting"):
        return False
    if not _same_host(status):
        raise TrainingError(
            f"run '{folder.name}' runs on host '{status.get('host')}'; stop it there."
        )
    pid = _run_pid(folder, status)
    if pid is None or pid == os.getpid() or not _is_ours(pid):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def resume_run(run_dir: str | os.PathLike) -> Path:
    """Continue a stopped (or failed) run in the background from its last checkpoint.

    Raises
    ------
    TrainingError
        Not a run folder, already running, or already finished.
    """
    folder = Path(run_dir)
    if not is_run_dir(folder):
        raise TrainingError(f"'{folder}' is not a run folder (no {CONFIG_FILE}).")
    status = effective_status(folder)
    state = status.get("state")
    if state in ("running", "starting"):
        raise TrainingError(f"run '{folder.name}' is {state} already (pid {status.get('pid')}).")
    if state == "finished":
        raise TrainingError(
            f"run '{folder.name}' has finished; start a new run (e.g. fine-tune from it with "
            "init_from)."
        )
    write_json_atomic(
        folder / "status.json",
        {
            **read_status(folder),
            "state": "starting",
            "reason": "",
            "pid": None,
            "updated": now_iso(),
        },
    )
    _spawn(folder)
    return folder


# ---------------------------------------------------------------------- reading runs
def run_info(run_dir: str | os.PathLike, *, group: str | None = None) -> RunInfo:
    """Describe one run folder (stale ``running`` reported as ``failed``)."""
    folder = Path(run_dir)
    status = effective_status(folder)
    cfg = read_json(folder / CONFIG_FILE) or {}
    try:
        loss = TrainConfig.from_dict(cfg).loss_summary() if cfg else ""
    except Exception:  # noqa: BLE001 - a hand-edited config must not break the list
        loss = ""

    def num(key: str, default: Any = 0) -> Any:
        v = status.get(key, default)
        return default if v is None else v

    return RunInfo(
        run_id=folder.name,
        run_dir=str(folder),
        state=str(status.get("state", "unknown")),
        reason=str(status.get("reason", "")),
        name=str(cfg.get("name", "")),
        architecture=str(cfg.get("architecture", "")),
        loss=loss,
        dataset=str(cfg.get("dataset", "")),
        fold=cfg.get("fold"),
        epoch=int(num("epoch")),
        epochs=int(num("epochs", cfg.get("epochs", 0))),
        step=int(num("step")),
        total_steps=int(num("total_steps")),
        monitor=str(status.get("monitor", cfg.get("monitor", ""))),
        best_value=status.get("best_value"),
        best_epoch=int(num("best_epoch")),
        eta_s=status.get("eta_s"),
        elapsed_s=status.get("elapsed_s"),
        started=str(status.get("started") or status.get("created") or ""),
        updated=str(status.get("updated", "")),
        pid=status.get("pid"),
        device=str(status.get("device", "")),
        group=group,
    )


def _natural_key(path: Path) -> str:
    # fold2 before fold10
    return re.sub(r"\d+", lambda m: m.group().zfill(8), path.name)


def list_runs(runs_root: str | os.PathLike) -> list[RunInfo]:
    """Every run under ``runs_root`` (fold runs of a CV folder included), sorted by id.

    Returns
    -------
    list of RunInfo
        Oldest first (ids sort by start time); empty when ``runs_root`` is missing.

    Examples
    --------
    >>> list_runs("/nonexistent")
    []
    """
    root = Path(runs_root)
    if not root.is_dir():
        return []
    out: list[RunInfo] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if is_run_dir(sub):
            out.append(run_info(sub))
        elif (sub / CV_FILE).is_file():
            folds = [p for p in sub.iterdir() if p.is_dir() and is_run_dir(p)]
            for fold_dir in sorted(folds, key=_natural_key):
                out.append(run_info(fold_dir, group=sub.name))
    return out


def read_metrics(run_dir: str | os.PathLike, *, kind: str | None = None) -> Any:
    """The run's ``metrics.jsonl`` as a DataFrame (a half-written last line is skipped).

    Parameters
    ----------
    run_dir : str or path
    kind : {"step", "epoch"}, optional
        Only those records.

    Returns
    -------
    pandas.DataFrame
        One row per record, one column per key (``kind``, ``epoch``, ``step``, ``loss``,
        ``loss_<term>``, ``val_*``, ``lr``, ``time_s``, ``samples_per_s``, ...); empty
        (no columns) when nothing was logged yet.
    """
    import pandas as pd

    if kind not in (None, "step", "epoch"):
        raise InputError(f"kind must be 'step', 'epoch' or None; got {kind!r}.")
    records = [r for r in iter_metric_records(run_dir) if kind is None or r.get("kind") == kind]
    return pd.DataFrame.from_records(records)


def publish_run(
    run_dir: str | os.PathLike,
    models_dir: str | os.PathLike,
    name: str,
    *,
    title: str | None = None,
    description: str = "",
    roles: Sequence[str] = (),
    overwrite: bool = False,
) -> Path:
    """Copy a run's best model into the model zoo as ``<models_dir>/<name>.safetensors``.

    The card is completed with the run id, its data and best metrics (from training),
    the publication time and the command that reproduces the run.

    Parameters
    ----------
    run_dir : str or path
    models_dir : str or path
        The model zoo folder (created if needed).
    name : str
        Model name: letters, digits, ``_``, ``-``, ``.``.
    title, description : str
        Shown in the zoo (:mod:`grainseg_core.zoo`); the title defaults to the name.
    roles : sequence of str
        Zoo roles (``"default"``, ``"compare_bce"``, ``"compare_topo"``).
    overwrite : bool
        Replace an existing model of that name.

    Returns
    -------
    Path
        The published weights file (its card beside it).

    Raises
    ------
    InputError
        Bad name, or the model exists and ``overwrite`` is False.
    TrainingError
        The run has no best checkpoint.
    """
    from grainseg_core.nets import load_model_file, read_model_card

    folder = Path(run_dir)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InputError(
            f"model name must start with a letter or digit and hold only letters, digits, '_', "
            f"'-', '.' (at most 100); got {name!r}."
        )
    best = folder / "checkpoints" / "best.safetensors"
    if not best.is_file():
        raise TrainingError(
            f"run '{folder.name}' has no best checkpoint yet (no epoch was validated)."
        )
    dest_dir = Path(models_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{name}.safetensors"
    dest_card = dest_dir / f"{name}.json"
    if (dest.exists() or dest_card.exists()) and not overwrite:
        raise InputError(
            f"model '{name}' exists in '{dest_dir}'; pass overwrite=True to replace it."
        )
    card = read_model_card(best)
    card.pop("checkpoint_token", None)
    status = read_status(folder)
    card["name"] = name
    card["zoo"] = {
        "title": title or name,
        "description": description,
        "roles": [str(r) for r in roles],
    }
    card["weights_file"] = dest.name
    card["published"] = now_iso()
    card["source_run"] = {
        "run_id": folder.name,
        "state": status.get("state"),
        "epochs_done": status.get("epoch"),
        "best_epoch": status.get("best_epoch"),
        "monitor": status.get("monitor"),
        "best_value": status.get("best_value"),
    }
    card["reproduce"] = {
        "command": "grainseg train --config config.json --out runs/",
        "config": read_json(folder / CONFIG_FILE),
        "note": "config.json is the 'config' object above; the dataset path must exist.",
    }
    write_atomic(dest, lambda tmp: shutil.copyfile(best, tmp))
    write_text_atomic(dest_card, json.dumps(card, indent=2) + "\n")
    load_model_file(dest)  # the published pair must load (sha256 and shapes checked)
    return dest
