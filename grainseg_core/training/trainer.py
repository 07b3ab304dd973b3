"""The trainer: one optimiser step (:class:`Trainer`) and a whole run (:func:`train`).

:func:`train` drives a run folder (see :mod:`grainseg_core.training.runs`): it writes
``config.json``, appends ``metrics.jsonl``, keeps ``status.json`` current, saves
``checkpoints/last`` (each epoch, every ``save_every_min`` minutes and on a stop) and
``checkpoints/best`` (on each new best validation score). A stop request (SIGTERM,
SIGINT, ``should_stop()`` or a callback) finishes the current step, saves ``last`` and
ends the run as ``stopped``; ``train(..., resume=True)`` continues from there with the
same data order. A failure (exception, NaN loss) ends it as ``failed`` with the reason and
leaves every checkpoint in place.

Per-step cost is kept low: the composite loss copies its logged values to the host once
per step (which also serves the NaN check), learning rates are set from a pure schedule,
and the validation pixel counts stay on the device until the end of the pass.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

from grainseg_core.errors import ConfigError, GrainsegError, TrainingError
from grainseg_core.training._run import RunSegment, RunSummary
from grainseg_core.training._step import StepResult, Trainer
from grainseg_core.training.callbacks import Callback, StopSignals
from grainseg_core.training.config import DEVICE_FIELDS, TrainConfig, check_config
from grainseg_core.training.runs import (
    CONFIG_FILE,
    STATUS_FILE,
    now_iso,
    pid_alive,
    read_json,
    read_status,
    write_json_atomic,
)
from grainseg_core.types import ProgressCallback

__all__ = ["Trainer", "StepResult", "RunSummary", "train"]

# Files a launcher may put in a run folder before the run starts.
_PRESTART_FILES = {CONFIG_FILE, STATUS_FILE, "log.txt", "launch.json"}


def _prepare_run_dir(config: TrainConfig | None, run_dir: Path, resume: bool) -> TrainConfig:
    """Check the folder and return the config to run (the stored one when resuming)."""
    if resume:
        if not (run_dir / CONFIG_FILE).is_file():
            raise TrainingError(
                f"cannot resume '{run_dir}': it is not a run folder (no {CONFIG_FILE})."
            )
        stored = TrainConfig.from_json(run_dir / CONFIG_FILE)
        if config is None:
            return stored
        a, b = stored.to_dict(), config.to_dict()
        changed = sorted(k for k in a if a[k] != b[k] and k not in DEVICE_FIELDS)
        if changed:
            raise ConfigError(
                f"a resumed run must keep its config; these differ from '{run_dir / CONFIG_FILE}': "
                f"{', '.join(changed)} (only {', '.join(DEVICE_FIELDS)} may change)."
            )
        return config
    if config is None:
        raise ConfigError("train needs a TrainConfig (or resume=True with an existing run folder).")
    if run_dir.exists():
        present = {p.name for p in run_dir.iterdir()}
        if present - _PRESTART_FILES:
            raise TrainingError(
                f"run folder '{run_dir}' holds a started run "
                f"({', '.join(sorted(present - _PRESTART_FILES))}); "
                "resume it (resume=True / --resume) or choose a new folder."
            )
        stored = read_json(run_dir / CONFIG_FILE)
        if stored is not None and stored != config.to_dict():
            raise TrainingError(
                f"run folder '{run_dir}' was prepared with another config; resume it to use "
                "that one."
            )
    return config


def train(
    config: TrainConfig | None,
    run_dir: str | os.PathLike,
    *,
    resume: bool = False,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    callbacks: Sequence[Callback] = (),
) -> RunSummary:
    """Train a network and keep its run folder current.

    Parameters
    ----------
    config : TrainConfig or None
        What to train. With ``resume=True`` it may be None (the run's ``config.json`` is
        used) or differ from it only in :data:`~grainseg_core.training.config.DEVICE_FIELDS`.
    run_dir : str or path
        The run folder (see :func:`~grainseg_core.training.runs.create_run_dir`); created
        when missing. A new run needs a missing, empty or only-prepared folder.
    resume : bool
        Continue from ``checkpoints/last`` (same data order, no lost or repeated step);
        a prepared run without a checkpoint starts from the beginning.
    progress : callable, optional
        ``progress(steps_done, total_steps)`` after every step.
    should_stop : callable, optional
        Polled after every step (and between validation batches); True stops the run
        as SIGTERM does.
    callbacks : sequence of Callback

    Returns
    -------
    RunSummary
        ``state`` is ``"finished"`` (all epochs, or early stopping) or ``"stopped"``.

    Raises
    ------
    ConfigError
        Bad config (see :func:`~grainseg_core.training.check_config`).
    TrainingError
        Unusable run folder, a NaN loss, a broken checkpoint; ``status.json`` says
        ``failed`` with the reason. Other exceptions also mark the run ``failed`` and
        are re-raised.

    Examples
    --------
    >>> # summary = train(TrainConfig(dataset="datasets/demo", epochs=2), "runs/demo")
    >>> # summary.state, summary.best_checkpoint
    """
    folder = Path(run_dir)
    if resume:
        status = read_status(folder)
        if status.get("state") in ("running",) and status.get("pid") not in (None, os.getpid()):
            if status.get("host") in (None, socket.gethostname()) and pid_alive(status.get("pid")):
                raise TrainingError(
                    f"run '{folder}' is running already (pid {status['pid']}); stop it first."
                )
    try:
        cfg = _prepare_run_dir(config, folder, resume)
        checked = check_config(cfg)
    except GrainsegError as exc:
        # A prepared run (launched, or created by the CLI) that cannot start has failed; a
        # stopped run with a bad resume request stays stopped, another run stays untouched.
        if read_status(folder).get("state") == "starting":
            _mark_failed(folder, exc)
        raise
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / CONFIG_FILE, cfg.to_dict())
    try:
        run = RunSegment(
            checked,
            folder,
            resume=resume,
            progress=progress,
            should_stop=should_stop,
            callbacks=callbacks,
        )
    except BaseException as exc:
        _mark_failed(folder, exc)
        raise
    with StopSignals() as signals:
        run.signals = signals
        try:
            return run.run()
        except KeyboardInterrupt:
            run.write_status(
                "stopped",
                reason="interrupted; resume continues from the last checkpoint",
            )
            raise
        except BaseException as exc:
            with contextlib.suppress(Exception):
                run.write_status("failed", reason=_reason(exc))
            for cb in run.callbacks:
                with contextlib.suppress(Exception):
                    cb.on_run_end(run.status)
            raise
        finally:
            run.metrics.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, GrainsegError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _mark_failed(folder: Path, exc: BaseException) -> None:
    status = read_status(folder)
    status.update(
        {
            "run_id": folder.name,
            "state": "failed",
            "reason": _reason(exc),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "updated": now_iso(),
        }
    )
    with contextlib.suppress(OSError):
        write_json_atomic(folder / STATUS_FILE, status)
