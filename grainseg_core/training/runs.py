"""Run folders: the files a training run writes and a dashboard reads.

A run folder ``runs/<id>/`` (ids sort by start time: ``YYYYmmdd-HHMMSS-<arch>-<short>``)
holds::

    config.json                 the TrainConfig (TrainConfig.from_json reads it back)
    status.json                 state, reason, pid, times, progress, ETA, best metric
                                (replaced atomically: a reader never sees half a file)
    metrics.jsonl               one JSON object per line: "kind": "step" or "epoch"
    log.txt                     stdout/stderr of a background run
    checkpoints/last.*          model + card, optimiser/RNG state (resume)
    checkpoints/best.*          model + card of the best validation epoch

States: ``starting`` (a background process was launched), ``running``, ``finished``,
``stopped`` (SIGTERM/SIGINT or ``should_stop``; resumable), ``failed`` (``reason`` says why).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from grainseg_core._atomic import write_text_atomic
from grainseg_core.errors import InputError, TrainingError

__all__ = [
    "RUN_STATES",
    "CONFIG_FILE",
    "STATUS_FILE",
    "METRICS_FILE",
    "LOG_FILE",
    "make_run_id",
    "create_run_dir",
    "is_run_dir",
    "write_json_atomic",
    "read_json",
    "read_status",
    "update_status",
    "iter_metric_records",
    "MetricsLog",
    "now_iso",
    "pid_alive",
]

RUN_STATES = ("starting", "running", "finished", "stopped", "failed")
CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.jsonl"
LOG_FILE = "log.txt"
CHECKPOINT_DIR = "checkpoints"

_ID_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def now_iso() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def make_run_id(architecture: str, *, when: float | None = None) -> str:
    """A new run id ``YYYYmmdd-HHMMSS-<arch>-<4 hex>`` (local time; sorts by start).

    Examples
    --------
    >>> rid = make_run_id("slim_unet")
    >>> rid.split("-")[2], len(rid.split("-")[3])
    ('slim_unet', 4)
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if when is None else when))
    arch = _ID_SAFE.sub("_", str(architecture)) or "net"
    return f"{stamp}-{arch}-{secrets.token_hex(2)}"


def _check_run_id(run_id: str) -> str:
    if (
        not isinstance(run_id, str)
        or not run_id
        or _ID_SAFE.search(run_id)
        or run_id in (".", "..")
    ):
        raise InputError(
            f"run id must be a non-empty name of letters, digits, '_', '-' or '.'; got {run_id!r}."
        )
    return run_id


def pid_alive(pid: Any) -> bool:
    """True when process ``pid`` exists on this machine and has not exited (zombies excluded)."""
    try:
        number = int(pid)
    except (TypeError, ValueError):
        return False
    if number <= 0:
        return False
    try:
        os.kill(number, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    except OverflowError:
        return False
    stat = Path(f"/proc/{number}/stat")
    try:
        # "pid (name) state ...": an exited child not yet reaped is 'Z' (zombie).
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def is_run_dir(path: str | os.PathLike) -> bool:
    """True when ``path`` is a run folder (it holds ``config.json``)."""
    return (Path(path) / CONFIG_FILE).is_file()


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """Write JSON to ``path`` through a temporary file and ``os.replace``.

    A reader polling the file sees the old or the new content, never a partial one.
    """
    return write_text_atomic(path, json.dumps(data, indent=1, allow_nan=True))


def read_json(path: str | os.PathLike) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None when missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def create_run_dir(
    runs_root: str | os.PathLike,
    config: Any,
    *,
    run_id: str | None = None,
) -> Path:
    """Create ``runs_root/<run_id>/`` with ``config.json`` and a ``starting`` status.

    Parameters
    ----------
    runs_root : str or path
        Folder of runs (created if needed).
    config : TrainConfig
        Written to ``config.json``.
    run_id : str, optional
        Folder name; default :func:`make_run_id`.

    Returns
    -------
    Path
        The new run folder.

    Raises
    ------
    TrainingError
        The folder exists already.
    """
    root = Path(runs_root)
    rid = _check_run_id(run_id) if run_id is not None else make_run_id(config.architecture)
    run_dir = root / rid
    root.mkdir(parents=True, exist_ok=True)
    try:
        run_dir.mkdir()
    except FileExistsError as exc:
        raise TrainingError(
            f"run folder '{run_dir}' exists already; choose another run id or resume it."
        ) from exc
    write_json_atomic(run_dir / CONFIG_FILE, config.to_dict())
    write_json_atomic(
        run_dir / STATUS_FILE,
        {
            "run_id": rid,
            "state": "starting",
            "reason": "",
            "pid": None,
            "host": socket.gethostname(),
            "created": now_iso(),
            "updated": now_iso(),
        },
    )
    return run_dir


def read_status(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The raw ``status.json`` of a run ({} when missing or unreadable)."""
    return read_json(Path(run_dir) / STATUS_FILE) or {}


def update_status(run_dir: str | os.PathLike, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into ``status.json`` (atomically) and stamp ``updated``."""
    status = read_status(run_dir)
    status.update(fields)
    status["updated"] = now_iso()
    write_json_atomic(Path(run_dir) / STATUS_FILE, status)
    return status


def iter_metric_records(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The JSON objects of a ``metrics.jsonl`` file, skipping lines that do not parse.

    A line that is being written (no newline yet, or cut short by a crash) is skipped,
    so a reader polling a live run never fails on it.
    """
    file = Path(path)
    if file.is_dir():
        file = file / METRICS_FILE
    try:
        handle = open(file, encoding="utf-8", errors="replace")
    except OSError:
        return
    with handle:
        for line in handle:
            if not line.endswith("\n"):
                break  # the writer has not finished this line
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record


class MetricsLog:
    """Appends records to ``metrics.jsonl``, one flushed line each.

    Parameters
    ----------
    path : str or path
        The ``metrics.jsonl`` file (created if needed).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._handle: TextIO | None = None

    def _open(self) -> TextIO:
        if self._handle is None:
            self._handle = open(self.path, "a", encoding="utf-8")
        return self._handle

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record as a JSON line and flush it (a reader sees whole lines)."""
        handle = self._open()
        handle.write(json.dumps(record, allow_nan=True, separators=(",", ":")) + "\n")
        handle.flush()

    def truncate_after(self, step: int, epochs_done: int) -> int:
        """Drop records past a checkpoint: step lines after ``step``, epoch lines after
        ``epochs_done`` (a run killed after its last checkpoint logged them; the resumed
        run logs them again). Returns the number of records dropped."""
        self.close()
        if not self.path.is_file():
            return 0
        keep: list[str] = []
        dropped = 0
        for record in iter_metric_records(self.path):
            late = (
                record.get("kind") == "epoch" and int(record.get("epoch", 0)) > epochs_done
            ) or (record.get("kind") == "step" and int(record.get("step", 0)) > step)
            if late:
                dropped += 1
            else:
                keep.append(json.dumps(record, allow_nan=True, separators=(",", ":")) + "\n")
        write_text_atomic(self.path, "".join(keep))
        return dropped

    def close(self) -> None:
        """Close the file (reopened on the next write)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
