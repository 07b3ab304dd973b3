"""The training step: a network with its loss and optimiser (:class:`Trainer`).

One call of :meth:`Trainer.train_step` is a forward pass (dense, PixelNet's sparse
pixel sample, or with side outputs for deep supervision), the loss, the backward pass
and the optimiser step, with mixed precision and channels-last on CUDA. The composite
loss copies its logged values to the host once per step; that copy also serves the NaN
check, so a step costs no extra synchronisation.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from grainseg_core.errors import ConfigError, TrainingError
from grainseg_core.training._validate import evaluate
from grainseg_core.training.config import DEFAULT_SPARSE_PIXELS, SPARSE_PIXEL_LOSSES, TrainConfig

__all__ = ["Trainer", "StepResult"]


@dataclass(frozen=True)
class StepResult:
    """One optimiser step: the total loss and each term (unweighted), as floats."""

    loss: float
    terms: dict[str, float]


def _side_loss_config(loss: Mapping[str, Any]) -> dict[str, Any]:
    """The pixel terms of a loss config (deep supervision of side outputs stays cheap)."""
    terms = [
        t
        for t in loss.get("terms", [])
        if (t if isinstance(t, str) else t.get("name")) in SPARSE_PIXEL_LOSSES
    ]
    return {"terms": terms or ["bce"]}


class Trainer:
    """A network with its loss and optimiser, and the training step.

    Parameters
    ----------
    config : TrainConfig
    device : str or torch.device
        Where to compute (``check_config`` resolves ``"auto"``).
    model : nn.Module, optional
        Start from this network instead of a new one (same architecture as the config).

    Attributes
    ----------
    model, loss_fn, optimizer
        The network, the :class:`~grainseg_core.losses.CompositeLoss`, the optimiser.
    side_loss_fn : CompositeLoss or None
        Loss of the side outputs (deep supervision), when the network has them.
    sparse_pixels : int
        Pixels sampled per image (0: dense training).

    Examples
    --------
    >>> cfg = TrainConfig(dataset="unused", arch_kwargs={"base_width": 4, "depth": 2})
    >>> t = Trainer(cfg, device="cpu")
    >>> r = t.train_step(torch.rand(2, 1, 32, 32), (torch.rand(2, 1, 32, 32) > 0.8).float(), step=0)
    >>> sorted(r.terms), r.loss > 0
    (['bce'], True)
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        device: str | torch.device = "cpu",
        model: nn.Module | None = None,
    ) -> None:
        from grainseg_core.losses import build_loss
        from grainseg_core.nets import build_model

        self.config = config
        self.device = torch.device(device)
        if model is None:
            torch.manual_seed(config.seed)  # the same initial weights for the same seed
            model = build_model(config.architecture, **config.arch_kwargs)
        self.model = model
        self._freeze(config.freeze)
        cuda = self.device.type == "cuda"
        self.channels_last = bool(config.channels_last and cuda)
        self.model.to(self.device)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.loss_fn = build_loss(config.loss).to(self.device)
        self.side_loss_fn = None
        if getattr(model, "has_side_outputs", False) and config.side_loss_weight > 0:
            self.side_loss_fn = build_loss(_side_loss_config(config.loss)).to(self.device)
        if getattr(model, "supports_sparse_sampling", False):
            self.sparse_pixels = (
                DEFAULT_SPARSE_PIXELS if config.sparse_pixels is None else int(config.sparse_pixels)
            )
        else:
            self.sparse_pixels = 0
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt_cls(params, lr=config.lr, weight_decay=config.weight_decay)
        self.amp_dtype: torch.dtype | None = None
        if cuda and config.amp:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        # Loss scaling is needed for float16 only (bfloat16 has float32's range).
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self._params = params

    def _freeze(self, prefixes: Sequence[str]) -> None:
        if not prefixes:
            return
        names = [n for n, _ in self.model.named_parameters()]
        for prefix in prefixes:
            if not any(n.startswith(prefix) for n in names):
                tops = sorted({n.split(".")[0] + "." for n in names})
                raise ConfigError(
                    f"TrainConfig.freeze: no parameter of '{self.config.architecture}' starts with "
                    f"'{prefix}'; top-level modules: {', '.join(tops)}."
                )
        for name, p in self.model.named_parameters():
            if name.startswith(tuple(prefixes)):
                p.requires_grad_(False)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The mixed-precision context of the forward pass (a no-op without AMP)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def set_lr(self, lr: float) -> None:
        """Set the learning rate of every parameter group."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _sample_generator(self, step: int) -> torch.Generator:
        # Seeded per step: a resumed run samples the same pixels without saving any state.
        gen = torch.Generator(device=self.device)
        gen.manual_seed((self.config.seed * 1_000_003 + step * 7_919 + 17) % (2**63 - 1))
        return gen

    def train_step(self, images: torch.Tensor, labels: torch.Tensor, *, step: int) -> StepResult:
        """One optimiser step on a batch.

        Parameters
        ----------
        images, labels : Tensor (B, 1, H, W)
            Normalised images and float targets (1 = boundary).
        step : int
            0-based global step (seeds PixelNet's pixel sample).

        Returns
        -------
        StepResult

        Raises
        ------
        TrainingError
            The loss is NaN or infinite (nothing is updated).
        """
        model = self.model
        model.train()
        x = images.to(self.device, non_blocking=True)
        y = labels.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        self.optimizer.zero_grad(set_to_none=True)
        side_total = 0.0
        with self.autocast():
            if self.sparse_pixels:
                n = min(self.sparse_pixels, x.shape[-2] * x.shape[-1])
                logits, index = model.forward_sampled(x, n, self._sample_generator(step))
                y = y.flatten(2).gather(2, index.unsqueeze(1))
                sides: list[torch.Tensor] = []
            elif self.side_loss_fn is not None:
                logits, sides = model.forward_with_sides(x)
            else:
                logits, sides = model(x), []
        loss = self.loss_fn(logits.float(), y)
        total_value = float(self.loss_fn.last_total)
        if sides:
            # All sides in one call: the mean of the per-side losses, one host copy.
            stacked = torch.cat([s.float() for s in sides], dim=0)
            side_loss = self.side_loss_fn(stacked, y.repeat(len(sides), 1, 1, 1))
            loss = loss + self.config.side_loss_weight * side_loss
            side_total = float(self.side_loss_fn.last_total)
            total_value += self.config.side_loss_weight * side_total
        if not math.isfinite(total_value):
            raise TrainingError(
                f"the loss became {total_value} at step {step + 1} (terms "
                f"{self.loss_fn.last_terms}); lower the learning rate or check the data."
            )
        self.scaler.scale(loss).backward()
        if self.config.grad_clip_norm is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self._params, self.config.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        terms = dict(self.loss_fn.last_terms)
        if sides:
            terms["side"] = side_total
        return StepResult(total_value, terms)

    def evaluate(
        self,
        batches: Any,
        *,
        threshold: float | None = None,
        tolerance_px: float | None = None,
        target: str = "boundary",
        max_batches: int | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> dict[str, float] | None:
        """Validation scores of the network on (image, label) batches (see ``_validate``)."""
        cfg = self.config
        return evaluate(
            self.model,
            batches,
            loss_fn=self.loss_fn,
            device=self.device,
            threshold=cfg.val_threshold if threshold is None else threshold,
            tolerance_px=cfg.val_tolerance_px if tolerance_px is None else tolerance_px,
            target=target,
            autocast=self.autocast,
            channels_last=self.channels_last,
            max_batches=max_batches,
            should_stop=should_stop,
        )
