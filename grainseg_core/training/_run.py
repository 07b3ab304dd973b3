"""One segment of a training run (from start or resume to its end) and its bookkeeping.

:class:`RunSegment` owns the datasets, the :class:`~grainseg_core.training._step.Trainer`, the
schedule, the monitored metric and the run folder's files; :func:`grainseg_core.training.train`
builds one and calls :meth:`RunSegment.run`.

Progress is ``(epoch, batch, step)``: the 0-based epoch in progress, the batches done in it
and the optimiser steps done in all. A validated epoch moves to ``(epoch + 1, 0)``; an epoch
trained but not yet validated is ``(epoch, steps_per_epoch)``, so a resumed run validates it
first. ``checkpoints/last`` stores exactly this position.
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from grainseg_core.errors import TrainingError
from grainseg_core.training._checkpoint import (
    checkpoint_exists,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from grainseg_core.training._data import EpochSampler, make_loader, open_datasets, steps_per_epoch
from grainseg_core.training._schedule import LRSchedule
from grainseg_core.training._step import StepResult, Trainer
from grainseg_core.training.callbacks import Callback, MetricMonitor, StopSignals
from grainseg_core.training.config import CheckedConfig
from grainseg_core.training.runs import (
    CHECKPOINT_DIR,
    METRICS_FILE,
    STATUS_FILE,
    MetricsLog,
    now_iso,
    read_status,
    write_json_atomic,
)
from grainseg_core.types import ProgressCallback

__all__ = ["RunSegment", "RunSummary"]

# Least seconds between two status.json writes within an epoch (state changes always write).
_STATUS_INTERVAL_S = 1.0


@dataclass(frozen=True)
class RunSummary:
    """How a run ended.

    Attributes
    ----------
    run_dir, run_id : str
    state : {"finished", "stopped"}
        (A failed run raises after writing ``status.json``.)
    reason : str
        Why it ended (e.g. early stopping, a signal).
    epochs_done, steps_done, total_steps : int
    monitor : str
        The monitored metric.
    best_value : float or None
    best_epoch : int
        1-based; 0 when no epoch was validated.
    best_checkpoint, last_checkpoint : str or None
        Weights files (each with its ``.json`` card).
    val : dict
        Scores of the last validated epoch.
    elapsed_s : float
        Training time over all segments of the run.
    device : str
    """

    run_dir: str
    run_id: str
    state: str
    reason: str
    epochs_done: int
    steps_done: int
    total_steps: int
    monitor: str
    best_value: float | None
    best_epoch: int
    best_checkpoint: str | None
    last_checkpoint: str | None
    val: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


class _StopNow(Exception):
    """Internal: leave the epoch loop to end the run as ``stopped``."""


class RunSegment:
    """State and bookkeeping of one run segment (from start or resume to its end)."""

    def __init__(
        self,
        checked: CheckedConfig,
        run_dir: Path,
        *,
        resume: bool,
        progress: ProgressCallback | None,
        should_stop: Callable[[], bool] | None,
        callbacks: Sequence[Callback],
    ) -> None:
        cfg = checked.config
        self.cfg = cfg
        self.checked = checked
        self.run_dir = run_dir
        self.ckpt_dir = run_dir / CHECKPOINT_DIR
        self.progress = progress
        self.user_stop = should_stop
        self.callbacks = list(callbacks)
        self.run_id = run_dir.name
        self.signals: StopSignals | None = None
        if cfg.num_threads is not None:
            torch.set_num_threads(cfg.num_threads)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.train_ds, self.val_ds, self.val_split = open_datasets(
                cfg.dataset,
                fold=cfg.fold,
                patch_size=checked.patch_size,
                augment=cfg.augment,
                seed=cfg.seed,
                cache=cfg.cache_patches,
            )
        self.notes = [str(w.message) for w in caught]
        for w in caught:  # recorded for the status, and still shown to the caller
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if checked.device_note:
            self.notes.append(checked.device_note)
        self.steps_per_epoch = steps_per_epoch(
            len(self.train_ds), cfg.batch_size, cfg.max_steps_per_epoch
        )
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.trainer = Trainer(cfg, device=checked.device)
        self.schedule = LRSchedule(
            cfg.schedule,
            cfg.lr,
            total_steps=self.total_steps,
            steps_per_epoch=self.steps_per_epoch,
            warmup_steps=cfg.warmup_steps,
            min_lr_ratio=cfg.min_lr_ratio,
            step_epochs=cfg.step_epochs,
            gamma=cfg.gamma,
            plateau_patience=cfg.plateau_patience,
            mode=cfg.mode,
        )
        self.monitor = MetricMonitor(
            cfg.monitor, mode=cfg.mode, patience=cfg.patience, min_delta=cfg.min_delta
        )
        self.metrics = MetricsLog(run_dir / METRICS_FILE)
        # Progress: epoch (0-based, in progress), batches done in it, global steps done.
        self.epoch = 0
        self.batch = 0
        self.step = 0
        self.elapsed_before = 0.0
        self.acc: dict[str, Any] = self._fresh_acc()
        self.last_val: dict[str, float] = {}
        self.status: dict[str, Any] = read_status(run_dir)
        self.segments = int(self.status.get("segments", 0))
        if resume and checkpoint_exists(self.ckpt_dir, "last"):
            self._restore()
        elif resume:
            # Never got to a checkpoint: start from scratch, dropping any partial log.
            self.metrics.truncate_after(0, 0)
            self._init_weights()
        else:
            self._init_weights()
        self.t0 = time.perf_counter()
        self.last_save = time.monotonic()
        self.last_status = 0.0
        self.step_times: list[float] = []
        self.val_time = 0.0
        # How inference must scale a micrograph (whole-image levels, export preprocessing).
        self.normalization = dict(self.train_ds.input_normalization)

    # ------------------------------------------------------------------ setup
    @staticmethod
    def _fresh_acc() -> dict[str, Any]:
        return {"loss": 0.0, "terms": {}, "n": 0, "samples": 0, "time": 0.0}

    def _init_weights(self) -> None:
        if self.checked.init_path is None:
            return
        from grainseg_core.nets import load_model_file

        source, _ = load_model_file(self.checked.init_path)
        self.trainer.model.load_state_dict(source.state_dict())

    def _restore(self) -> None:
        ck = load_checkpoint(self.ckpt_dir, "last")
        st = ck["trainer"]
        if int(st.get("steps_per_epoch", self.steps_per_epoch)) != self.steps_per_epoch:
            raise TrainingError(
                f"cannot resume '{self.run_dir}': the dataset now gives {self.steps_per_epoch} "
                f"steps per epoch, the checkpoint {st.get('steps_per_epoch')} (was the dataset "
                "re-exported?)."
            )
        self.trainer.model.load_state_dict(ck["model"].state_dict())
        try:
            self.trainer.optimizer.load_state_dict(ck["optimizer"])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise TrainingError(f"optimiser state of '{self.run_dir}' does not fit: {exc}") from exc
        if st.get("scaler"):
            self.trainer.scaler.load_state_dict(st["scaler"])
        self.epoch = int(st["epoch"])
        self.batch = int(st["batch"])
        self.step = int(st["step"])
        self.elapsed_before = float(st.get("elapsed_s", 0.0))
        self.schedule.load_state_dict(st.get("schedule", {}))
        self.monitor.load_state_dict(st.get("monitor", {}))
        self.acc = dict(st.get("acc", self._fresh_acc()))
        self.last_val = dict(st.get("last_val", {}))
        restore_rng(ck["rng_tensors"], ck["rng_meta"])
        self.metrics.truncate_after(self.step, self.epoch)

    # ------------------------------------------------------------------ bookkeeping
    @property
    def elapsed(self) -> float:
        """Seconds of training in this run, earlier segments included."""
        return self.elapsed_before + (time.perf_counter() - self.t0)

    def stopping(self) -> bool:
        """True once a stop was asked for (SIGTERM/SIGINT or the caller's ``should_stop``)."""
        if self.signals is not None and self.signals.requested:
            return True
        return bool(self.user_stop is not None and self.user_stop())

    def _eta(self) -> float | None:
        if not self.step_times:
            return None
        recent = self.step_times[-50:]
        per_step = sum(recent) / len(recent)
        remaining = self.total_steps - self.step
        return remaining * per_step + max(0, self.cfg.epochs - self.epoch) * self.val_time

    def write_status(self, state: str, *, reason: str = "", force: bool = True) -> None:
        """Write ``status.json``; without ``force``, at most every ``_STATUS_INTERVAL_S`` s."""
        now = time.monotonic()
        if not force and now - self.last_status < _STATUS_INTERVAL_S:
            return
        self.last_status = now
        best = self.monitor.best
        self.status.update(
            {
                "run_id": self.run_id,
                "state": state,
                "reason": reason,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "updated": now_iso(),
                "device": self.checked.device,
                "epoch": self.epoch,
                "epochs": self.cfg.epochs,
                "step": self.step,
                "total_steps": self.total_steps,
                "steps_per_epoch": self.steps_per_epoch,
                "elapsed_s": round(self.elapsed, 3),
                "eta_s": None if state != "running" else self._eta(),
                "monitor": self.cfg.monitor,
                "monitor_mode": self.cfg.mode,
                "best_value": best,
                "best_epoch": self.monitor.best_epoch,
                "last_val": self.last_val,
                "val_split": self.val_split,
                "notes": self.notes,
                "segments": self.segments,
            }
        )
        self.status.setdefault("created", now_iso())
        write_json_atomic(self.run_dir / STATUS_FILE, self.status)

    def _card(
        self, metrics: Mapping[str, float], *, epochs_done: int | None = None
    ) -> dict[str, Any]:
        ds = self.train_ds
        return {
            "input_normalization": self.normalization,
            "target": self.checked.target,
            "threshold": self.cfg.val_threshold,
            "training": {
                "run_id": self.run_id,
                "config": self.cfg.to_dict(),
                "dataset": {
                    "path": str(Path(self.cfg.dataset).resolve()),
                    "fold": self.cfg.fold,
                    "split": ds.manifest.config.split,
                    "patch_size": self.checked.patch_size,
                    "n_train": len(ds),
                    "n_val": len(self.val_ds),
                    "val_split": self.val_split,
                    "sources": [s.name for s in ds.manifest.sources],
                },
                "epoch": self.epoch if epochs_done is None else epochs_done,
                "step": self.step,
                "device": self.checked.device,
                "init_from": self.checked.init_path,
            },
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
        }

    def save_last(self) -> None:
        """Save ``checkpoints/last``: weights, optimiser and the position to resume from."""
        trainer_state = {
            "epoch": self.epoch,
            "batch": self.batch,
            "step": self.step,
            "steps_per_epoch": self.steps_per_epoch,
            "elapsed_s": self.elapsed,
            "schedule": self.schedule.state_dict(),
            "monitor": self.monitor.state_dict(),
            "acc": self.acc,
            "last_val": self.last_val,
            "scaler": self.trainer.scaler.state_dict()
            if self.trainer.scaler.is_enabled()
            else None,
        }
        save_checkpoint(
            self.ckpt_dir,
            "last",
            self.trainer.model,
            card=self._card(self.last_val),
            optimizer=self.trainer.optimizer,
            trainer_state=trainer_state,
        )
        self.last_save = time.monotonic()

    def log_step(self, result: StepResult, lr: float, interval: float, samples: int) -> None:
        """Append a ``step`` record to ``metrics.jsonl`` and pass it to the callbacks."""
        record = {
            "kind": "step",
            "epoch": self.epoch + 1,
            "batch": self.batch,
            "step": self.step,
            "loss": result.loss,
            **{f"loss_{k}": v for k, v in result.terms.items()},
            "lr": lr,
            "time_s": round(self.elapsed, 4),
            "samples_per_s": samples / interval if interval > 0 else None,
            "device": self.checked.device,
            "wall": time.time(),
        }
        self.metrics.write(record)
        for cb in self.callbacks:
            cb.on_step_end(record)

    # ------------------------------------------------------------------ the loop
    def run(self) -> RunSummary:
        """Train until the last epoch, a stop request or early stopping; the run's summary."""
        self.segments += 1
        self.status["started"] = self.status.get("started") or now_iso()
        self.status["resumed"] = now_iso() if self.segments > 1 else None
        self.write_status("running")
        cfg = self.cfg
        reason = ""
        stopped = False
        try:
            for epoch in range(self.epoch, cfg.epochs):
                self.epoch = epoch
                if self.batch < self.steps_per_epoch:
                    self._train_epoch()
                if self.stopping():
                    raise _StopNow
                t_val = time.perf_counter()
                val = self._validate()
                if val is None:
                    raise _StopNow
                self.val_time = time.perf_counter() - t_val
                stop_asked = self._end_epoch(val)
                if self.monitor.should_stop:
                    reason = (
                        f"early stopping: {cfg.monitor} did not improve by more than "
                        f"{cfg.min_delta:g} "
                        f"for {cfg.patience} epochs (best {self.monitor.best:.4g} at epoch "
                        f"{self.monitor.best_epoch})"
                    )
                    break
                if stop_asked:
                    stopped, reason = True, "stopped by a callback"
                    break
                if self.stopping():
                    raise _StopNow
            else:
                reason = f"trained {cfg.epochs} epoch{'' if cfg.epochs == 1 else 's'}"
        except _StopNow:
            stopped = True
            reason = (
                f"stop requested ({self.signals.signal_name})"
                if self.signals is not None and self.signals.signal_name
                else "stop requested"
            )
            self.save_last()
        state = "stopped" if stopped else "finished"
        self.write_status(state, reason=reason)
        self.metrics.close()
        for cb in self.callbacks:
            cb.on_run_end(self.status)
        return self.summary(state, reason)

    def _train_epoch(self) -> None:
        cfg = self.cfg
        trainer = self.trainer
        self.train_ds.set_epoch(self.epoch)
        sampler = EpochSampler(
            len(self.train_ds),
            seed=cfg.seed,
            epoch=self.epoch,
            start=self.batch * cfg.batch_size,
            limit=(self.steps_per_epoch - self.batch) * cfg.batch_size,
        )
        loader = make_loader(
            self.train_ds,
            sampler,
            batch_size=cfg.batch_size,
            num_workers=cfg.num_workers,
            pin_memory=self.checked.device == "cuda",
        )
        save_every = cfg.save_every_min * 60.0
        t_last = time.perf_counter()
        t_log, samples_log = t_last, 0
        for images, labels in loader:
            lr = self.schedule.lr(self.step)
            trainer.set_lr(lr)
            result = trainer.train_step(images, labels, step=self.step)
            self.step += 1
            self.batch += 1
            n = int(images.shape[0])
            now = time.perf_counter()
            self.step_times.append(now - t_last)
            if len(self.step_times) > 200:
                del self.step_times[:100]
            acc = self.acc
            acc["loss"] += result.loss * n
            for k, v in result.terms.items():
                acc["terms"][k] = acc["terms"].get(k, 0.0) + v * n
            acc["n"] += 1
            acc["samples"] += n
            acc["time"] += now - t_last
            t_last = now
            samples_log += n
            if self.step % cfg.log_every_steps == 0 or self.batch == self.steps_per_epoch:
                self.log_step(result, lr, now - t_log, samples_log)
                t_log, samples_log = now, 0
                self.write_status("running", force=False)
            if self.progress is not None:
                self.progress(self.step, self.total_steps)
            if self.stopping():
                raise _StopNow
            if save_every > 0 and time.monotonic() - self.last_save >= save_every:
                self.save_last()

    def _validate(self) -> dict[str, float] | None:
        loader = make_loader(
            self.val_ds,
            EpochSampler(len(self.val_ds), shuffle=False),
            batch_size=self.cfg.batch_size,
            num_workers=self.cfg.num_workers,
            pin_memory=self.checked.device == "cuda",
        )
        return self.trainer.evaluate(
            loader,
            target=self.checked.target,
            max_batches=self.cfg.max_val_batches,
            should_stop=self.stopping,
        )

    def _end_epoch(self, val: dict[str, float]) -> bool:
        acc = self.acc
        samples = max(1, acc["samples"])
        improved = self.monitor.update(val.get(self.cfg.monitor, float("nan")))
        self.schedule.observe(val.get(self.cfg.monitor, float("nan")))
        self.last_val = dict(val)
        record = {
            "kind": "epoch",
            "epoch": self.epoch + 1,
            "step": self.step,
            "train_loss": acc["loss"] / samples,
            **{f"train_loss_{k}": v / samples for k, v in acc["terms"].items()},
            **val,
            "lr": self.schedule.lr(max(0, self.step - 1)),
            "time_s": round(self.elapsed, 4),
            "epoch_train_s": acc["time"],
            "val_s": self.val_time,
            "samples_per_s": acc["samples"] / acc["time"] if acc["time"] > 0 else None,
            "device": self.checked.device,
            "best": improved,
            "wall": time.time(),
        }
        self.metrics.write(record)
        if improved:
            card = self._card(val, epochs_done=self.epoch + 1)
            save_checkpoint(self.ckpt_dir, "best", self.trainer.model, card=card)
        stop = False
        for cb in self.callbacks:
            stop = bool(cb.on_epoch_end(record)) or stop
        # The epoch is done: the checkpoint points at the start of the next one.
        self.epoch += 1
        self.batch = 0
        self.acc = self._fresh_acc()
        self.save_last()
        self.write_status("running")
        return stop

    def summary(self, state: str, reason: str) -> RunSummary:
        """The :class:`RunSummary` of the run as it stands, ending in ``state``."""
        best = self.ckpt_dir / "best.safetensors"
        last = self.ckpt_dir / "last.safetensors"
        return RunSummary(
            run_dir=str(self.run_dir),
            run_id=self.run_id,
            state=state,
            reason=reason,
            epochs_done=self.epoch,
            steps_done=self.step,
            total_steps=self.total_steps,
            monitor=self.cfg.monitor,
            best_value=self.monitor.best,
            best_epoch=self.monitor.best_epoch,
            best_checkpoint=str(best) if best.is_file() else None,
            last_checkpoint=str(last) if last.is_file() else None,
            val=dict(self.last_val),
            elapsed_s=self.elapsed,
            device=self.checked.device,
        )
