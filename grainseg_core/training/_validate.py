"""Validation of a network on dataset patches: loss, pixel scores and grain ARI.

Pixel counts accumulate on the device (one host copy at the end); grain labels, ARI and
the tolerant boundary F1 run per patch on the CPU with the shared metric functions of
:mod:`grainseg_core.metrics` (labelling a 256^2 patch and its ARI take about a
millisecond each).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from grainseg_core.grains import label_grains
from grainseg_core.metrics import adjusted_rand_index, confusion_counts

__all__ = ["evaluate"]


def _instances(mask: np.ndarray, target: str) -> np.ndarray:
    """Grains of a boundary map, or connected objects of a filled mask (int32 labels)."""
    if target == "mask":
        from skimage.measure import label

        return label(mask, connectivity=1).astype(np.int32, copy=False)
    return label_grains(mask)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    device: torch.device,
    threshold: float = 0.5,
    tolerance_px: float = 0.0,
    target: str = "boundary",
    autocast: Callable[[], Any] | None = None,
    channels_last: bool = False,
    max_batches: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, float] | None:
    """Score ``model`` on ``batches`` of (image, label) (B, 1, H, W).

    Parameters
    ----------
    model : nn.Module
        Dense network (B, 1, H, W) -> logits; put in eval mode here (and left so).
    batches : iterable
        (image, label) float tensors, label 1 = boundary (or object, ``target="mask"``).
    loss_fn : callable
        The training loss; its mean over batches is ``val_loss``.
    device : torch.device
    threshold : float
        Probability threshold of the predicted mask.
    tolerance_px : float
        Tolerance of the boundary F1 ``val_bf1`` (0: not computed).
    target : {"boundary", "mask"}
        How grains (objects) are labelled for the ARI.
    autocast : callable, optional
        Returns the mixed-precision context for the forward pass.
    channels_last : bool
    max_batches : int, optional
    should_stop : callable, optional
        Polled between batches; when it returns True, None is returned.

    Returns
    -------
    dict or None
        ``val_loss``, ``val_dice`` (= ``val_f1``), ``val_precision``, ``val_recall``,
        ``val_iou``, ``val_ari`` (mean over patches), ``val_bf1`` (with a tolerance),
        ``val_patches``; the loss terms as ``val_loss_<term>``. None when stopped.
    """
    model.eval()
    counts = torch.zeros(3, dtype=torch.float64, device=device)  # tp, fp, fn
    loss_sum = 0.0
    term_sums: dict[str, float] = {}
    n_batches = 0
    aris: list[float] = []
    tol_counts = np.zeros(4, dtype=np.int64)  # tp, fp, fn, tp_recall
    ctx = autocast or contextlib.nullcontext
    for images, labels in batches:
        if should_stop is not None and should_stop():
            return None
        if max_batches is not None and n_batches >= max_batches:
            break
        x = images.to(device, non_blocking=True)
        y = labels.to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with ctx():
            logits = model(x)
        logits = logits.float()
        loss_sum += float(loss_fn(logits, y))
        for k, v in getattr(loss_fn, "last_terms", {}).items():
            term_sums[k] = term_sums.get(k, 0.0) + float(v)
        n_batches += 1
        pred = logits > float(np.log(threshold / (1.0 - threshold)))  # sigmoid(l) > t
        truth = y > 0.5
        counts += torch.stack(
            [(pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum()]
        ).to(torch.float64)
        pred_np = pred[:, 0].cpu().numpy()
        truth_np = truth[:, 0].cpu().numpy()
        for p, t in zip(pred_np, truth_np, strict=True):
            aris.append(adjusted_rand_index(_instances(t, target), _instances(p, target)))
            if tolerance_px > 0:
                c = confusion_counts(p, t, tolerance_px=tolerance_px)
                tol_counts += (c.tp, c.fp, c.fn, c.tp_recall)
    if n_batches == 0:
        return {}
    tp, fp, fn = counts.tolist()
    precision = tp / (tp + fp) if tp + fp else (1.0 if tp + fn == 0 else 0.0)
    recall = tp / (tp + fn) if tp + fn else (1.0 if tp + fp == 0 else 0.0)
    dice = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 1.0
    out = {
        "val_loss": loss_sum / n_batches,
        "val_dice": dice,
        "val_f1": dice,
        "val_precision": precision,
        "val_recall": recall,
        "val_iou": dice / (2.0 - dice),
        "val_ari": float(np.mean(aris)) if aris else float("nan"),
        "val_patches": len(aris),
    }
    if tolerance_px > 0:
        ttp, tfp, tfn, ttr = (int(v) for v in tol_counts)
        bp = ttp / (ttp + tfp) if ttp + tfp else 1.0
        br = ttr / (ttr + tfn) if ttr + tfn else 1.0
        out["val_bf1"] = 2 * bp * br / (bp + br) if bp + br else 0.0
    for k, v in term_sums.items():
        out[f"val_loss_{k}"] = v / n_batches
    return out
