"""Learning-rate schedules as pure functions of the step, plus the plateau state.

The trainer sets the learning rate of every parameter group before each step from
:meth:`LRSchedule.lr`, so a resumed run needs only the global step (and, for
``plateau``, the small JSON state of :meth:`LRSchedule.state_dict`).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["LRSchedule"]


class LRSchedule:
    """The learning rate at each optimiser step.

    Parameters
    ----------
    kind : {"constant", "cosine", "step", "plateau"}
    base_lr : float
        Peak learning rate.
    total_steps : int
        Steps of the whole run (cosine ends there).
    steps_per_epoch : int
    warmup_steps : int
        Linear warm-up: step ``s`` (0-based) of the warm-up uses ``(s + 1) / warmup_steps``.
    min_lr_ratio : float
        Cosine floor as a fraction of ``base_lr``.
    step_epochs : int
        ``step``: epochs between decays.
    gamma : float
        ``step`` and ``plateau``: decay factor.
    plateau_patience : int
        ``plateau``: epochs without improvement before a decay.
    mode : {"min", "max"}
        ``plateau``: direction of improvement of the observed metric.

    Examples
    --------
    >>> s = LRSchedule("cosine", 1.0, total_steps=11, steps_per_epoch=11, min_lr_ratio=0.0)
    >>> round(s.lr(0), 3), round(s.lr(5), 3), round(s.lr(10), 3)
    (1.0, 0.5, 0.0)
    >>> LRSchedule("constant", 0.1, total_steps=10, steps_per_epoch=5, warmup_steps=4).lr(1)
    0.05
    """

    def __init__(
        self,
        kind: str,
        base_lr: float,
        *,
        total_steps: int,
        steps_per_epoch: int,
        warmup_steps: int = 0,
        min_lr_ratio: float = 0.0,
        step_epochs: int = 10,
        gamma: float = 0.1,
        plateau_patience: int = 3,
        mode: str = "min",
    ) -> None:
        self.kind = kind
        self.base_lr = float(base_lr)
        self.total_steps = max(1, int(total_steps))
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        self.warmup_steps = int(warmup_steps)
        self.min_lr_ratio = float(min_lr_ratio)
        self.step_epochs = int(step_epochs)
        self.gamma = float(gamma)
        self.plateau_patience = int(plateau_patience)
        self.mode = mode
        # plateau state
        self.scale = 1.0
        self.best: float | None = None
        self.bad_epochs = 0

    def lr(self, step: int) -> float:
        """Learning rate of 0-based optimiser step ``step``."""
        factor = self.scale
        if self.kind == "cosine":
            span = max(1, self.total_steps - 1 - self.warmup_steps)
            t = min(1.0, max(0.0, (step - self.warmup_steps) / span))
            factor = self.min_lr_ratio + (1.0 - self.min_lr_ratio) * 0.5 * (
                1.0 + math.cos(math.pi * t)
            )
        elif self.kind == "step":
            factor = self.gamma ** (step // self.steps_per_epoch // self.step_epochs)
        if step < self.warmup_steps:
            factor *= (step + 1) / self.warmup_steps
        return self.base_lr * factor

    def observe(self, value: float) -> bool:
        """``plateau``: record an epoch's metric; True when the rate was just decayed."""
        if self.kind != "plateau" or value is None or not math.isfinite(value):
            return False
        better = self.best is None or (
            value < self.best if self.mode == "min" else value > self.best
        )
        if better:
            self.best = float(value)
            self.bad_epochs = 0
            return False
        self.bad_epochs += 1
        if self.bad_epochs > self.plateau_patience:
            self.scale *= self.gamma
            self.bad_epochs = 0
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (only ``plateau`` has any)."""
        return {"scale": self.scale, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.scale = float(state.get("scale", 1.0))
        self.best = state.get("best")
        self.bad_epochs = int(state.get("bad_epochs", 0))
