"""Hooks into a training run: callbacks, the monitored metric, and stop signals.

* :class:`Callback`: override ``on_step_end`` / ``on_epoch_end`` / ``on_run_end`` to
  watch a run from Python (each gets the JSON record the run also writes to
  ``metrics.jsonl``). Return ``True`` from ``on_epoch_end`` to ask for a stop.
* :class:`MetricMonitor`: best value of a validation metric, and early stopping
  (patience, min_delta, min/max).
* :class:`StopSignals`: while active, SIGTERM and SIGINT set a flag instead of killing
  the process; the trainer finishes its step, saves ``last`` and ends as ``stopped``.
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Mapping
from types import FrameType
from typing import Any

__all__ = ["Callback", "MetricMonitor", "StopSignals"]


class Callback:
    """Base class of training callbacks (every hook does nothing by default).

    Examples
    --------
    >>> class Losses(Callback):
    ...     def __init__(self): self.values = []
    ...     def on_step_end(self, record): self.values.append(record["loss"])
    >>> cb = Losses(); cb.on_step_end({"loss": 0.5}); cb.values
    [0.5]
    """

    def on_step_end(self, record: Mapping[str, Any]) -> None:
        """After a logged step, with its ``metrics.jsonl`` record."""

    def on_epoch_end(self, record: Mapping[str, Any]) -> bool | None:
        """After validation, with the epoch record; return True to stop the run."""
        return None

    def on_run_end(self, status: Mapping[str, Any]) -> None:
        """When the run ends (finished, stopped or failed), with its status."""


class MetricMonitor:
    """Tracks the best value of a metric and counts epochs without improvement.

    Parameters
    ----------
    name : str
        Metric key in the epoch record (e.g. ``"val_dice"``).
    mode : {"min", "max"}
        Direction of improvement.
    patience : int, optional
        :attr:`should_stop` becomes True after this many epochs without improvement
        (None: never).
    min_delta : float
        An improvement must beat the best by more than this.

    Examples
    --------
    >>> m = MetricMonitor("val_loss", mode="min", patience=2, min_delta=0.01)
    >>> [m.update(v) for v in (1.0, 0.995, 0.5, 0.6, 0.7)]
    [True, False, True, False, False]
    >>> m.best, m.best_epoch, m.should_stop
    (0.5, 3, True)
    """

    def __init__(
        self, name: str, *, mode: str = "max", patience: int | None = None, min_delta: float = 0.0
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max'; got {mode!r}")
        self.name = name
        self.mode = mode
        self.patience = patience
        self.min_delta = float(min_delta)
        self.best: float | None = None
        self.best_epoch: int = 0
        self.bad_epochs = 0
        self.epoch = 0

    def is_better(self, value: float) -> bool:
        """True when ``value`` beats the best so far by more than ``min_delta``."""
        if value is None or not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float) -> bool:
        """Record one epoch's value; True when it is a new best."""
        self.epoch += 1
        if self.is_better(value):
            self.best = float(value)
            self.best_epoch = self.epoch
            self.bad_epochs = 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        """True when patience has run out."""
        return self.patience is not None and self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.best = state.get("best")
        self.best_epoch = int(state.get("best_epoch", 0))
        self.bad_epochs = int(state.get("bad_epochs", 0))
        self.epoch = int(state.get("epoch", 0))


class StopSignals:
    """Context manager: SIGTERM/SIGINT set :attr:`requested` instead of ending the process.

    Outside the main thread (where Python cannot install signal handlers) it does
    nothing. The previous handlers come back on exit. A second SIGINT while a stop is
    pending raises ``KeyboardInterrupt`` (an impatient Ctrl-C still works).

    Examples
    --------
    >>> with StopSignals() as stop:
    ...     stop.requested
    False
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
        self.signals = signals
        self.requested = False
        self.signal_name = ""
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
