"""Loss kernels: plain functions of tensors, wrapped by the modules of this package.

Shapes: ``logits`` are raw network outputs (B, 1, H, W) (or (B, 1, n) for sampled
pixels where noted); ``target`` is the boundary map of the same shape, 1 = boundary,
0 = grain (bool or float in [0, 1]). Every kernel returns a scalar tensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from grainseg_core.errors import InputError

__all__ = [
    "check_logits_target",
    "weighted_bce",
    "soft_dice_loss",
    "focal_loss",
    "soft_erode",
    "soft_dilate",
    "soft_skeleton",
    "cldice_loss",
    "soft_recall_loss",
    "persistence_pair_loss",
]


def check_logits_target(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    name: str = "loss",
    spatial_dims: tuple[int, ...] = (2,),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check the pair and return ``target`` as a float tensor like ``logits``.

    Parameters
    ----------
    logits, target : Tensor (B, 1, H, W), or (B, 1, n) when 1 is in ``spatial_dims``
        Network output and boundary map (1 = boundary).
    name : str
        The loss, for the message.
    spatial_dims : tuple of int
        Accepted numbers of spatial dimensions.

    Raises
    ------
    InputError
        Not tensors, not floating logits, shapes differ, channel count is not 1, or
        target values outside [0, 1].
    """
    if not isinstance(logits, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise InputError(
            f"{name}: logits and target must be torch tensors; got "
            f"{type(logits).__name__} and {type(target).__name__}."
        )
    if not logits.is_floating_point():
        raise InputError(f"{name}: logits must be a floating-point tensor; got {logits.dtype}.")
    if logits.ndim - 2 not in spatial_dims or logits.shape[1] != 1:
        expected = " or ".join(
            "(B, 1, n)" if d == 1 else "(B, 1, H, W)" for d in sorted(spatial_dims)
        )
        raise InputError(
            f"{name}: logits must have shape {expected} (one boundary channel); "
            f"got {tuple(logits.shape)}."
        )
    if tuple(target.shape) != tuple(logits.shape):
        raise InputError(
            f"{name}: target (shape {tuple(target.shape)}) must match logits "
            f"(shape {tuple(logits.shape)})."
        )
    if target.dtype == torch.bool:
        return logits, target.to(logits.dtype)
    target = target.to(logits.dtype)
    if target.numel():
        lo, hi = torch.aminmax(target.detach())
        if float(lo) < 0.0 or float(hi) > 1.0:
            raise InputError(
                f"{name}: target must lie in [0, 1] (1 = boundary); got values in "
                f"[{float(lo):.4g}, {float(hi):.4g}]."
            )
    return logits, target


def weighted_bce(logits: torch.Tensor, target: torch.Tensor, *, pos_weight: float = 1.0) -> torch.Tensor:
    """Class-weighted binary cross-entropy, mean over pixels.

    ``pos_weight`` multiplies the boundary (positive) term: seed 000 used 9.

    Examples
    --------
    >>> round(float(weighted_bce(torch.zeros(1, 1, 1, 2), torch.tensor([[[[1.0, 0.0]]]]),
    ...                          pos_weight=3.0)), 4)
    1.3863
    """
    weight = torch.tensor(float(pos_weight), dtype=logits.dtype, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits, target, pos_weight=weight)


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, *, smooth: float = 1.0) -> torch.Tensor:
    """``1 - (2 sum(p t) + s) / (sum(p) + sum(t) + s)`` over the whole batch, p = sigmoid(logits).

    Pooling the batch (as smp does for binary masks) keeps crops without
    boundary pixels from dominating.
    """
    p = torch.sigmoid(logits)
    inter = (p * target).sum()
    return 1.0 - (2.0 * inter + smooth) / (p.sum() + target.sum() + smooth)


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    gamma: float = 2.0,
    alpha: float | None = None,
) -> torch.Tensor:
    """Binary focal loss ``-alpha_t (1 - p_t)^gamma log(p_t)``, mean over pixels.

    ``alpha`` weights the boundary class (``1 - alpha`` the grains); ``None`` = no
    class weight. ``gamma = 0`` and ``alpha = None`` give plain BCE.
    """
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * target + (1.0 - p) * (1.0 - target)
    loss = ce * (1.0 - p_t).clamp_min(0.0).pow(gamma) if gamma else ce
    if alpha is not None:
        loss = loss * (alpha * target + (1.0 - alpha) * (1.0 - target))
    return loss.mean()


def soft_erode(img: torch.Tensor) -> torch.Tensor:
    """Soft erosion: min over the 4-neighbourhood cross (B, C, H, W)."""
    p1 = -F.max_pool2d(-img, (3, 1), stride=1, padding=(1, 0))
    p2 = -F.max_pool2d(-img, (1, 3), stride=1, padding=(0, 1))
    return torch.minimum(p1, p2)


def soft_dilate(img: torch.Tensor) -> torch.Tensor:
    """Soft dilation: max over the 3x3 square (B, C, H, W)."""
    return F.max_pool2d(img, 3, stride=1, padding=1)


def soft_skeleton(img: torch.Tensor, iterations: int) -> torch.Tensor:
    """Soft skeleton of a probability map (Shit et al. 2021), (B, C, H, W) -> same shape.

    Iterated soft erosions; what each opening removes is added to the skeleton.
    All channels are kept (MONAI once dropped the first and returned zero for a
    one-channel map).
    """
    skel = F.relu(img - soft_dilate(soft_erode(img)))
    for _ in range(iterations):
        img = soft_erode(img)
        delta = F.relu(img - soft_dilate(soft_erode(img)))
        skel = skel + F.relu(delta - skel * delta)
    return skel


def cldice_loss(
    logits: torch.Tensor, target: torch.Tensor, *, iterations: int = 3, smooth: float = 1.0
) -> torch.Tensor:
    """clDice loss ``1 - 2 Tprec Tsens / (Tprec + Tsens)`` on the boundary class.

    Tprec: fraction of the predicted soft skeleton inside the target; Tsens:
    fraction of the target's skeleton covered by the prediction; sums over the batch.
    """
    p = torch.sigmoid(logits)
    skel_p = soft_skeleton(p, iterations)
    skel_t = soft_skeleton(target, iterations)
    tprec = ((skel_p * target).sum() + smooth) / (skel_p.sum() + smooth)
    tsens = ((skel_t * p).sum() + smooth) / (skel_t.sum() + smooth)
    return 1.0 - 2.0 * tprec * tsens / (tprec + tsens)


def soft_recall_loss(logits: torch.Tensor, tube: torch.Tensor, *, smooth: float = 1.0) -> torch.Tensor:
    """``1 - soft recall`` of p = sigmoid(logits) on a tube (B, 1, H, W), mean over images.

    Recall per image is ``(sum(p * tube) + s) / (sum(tube) + s)``: an empty tube
    gives recall 1 (nothing to miss).
    """
    p = torch.sigmoid(logits)
    dims = tuple(range(1, p.ndim))
    recall = ((p * tube).sum(dim=dims) + smooth) / (tube.sum(dim=dims) + smooth)
    return (1.0 - recall).mean()


def persistence_pair_loss(
    fixed_birth: torch.Tensor,
    fixed_death: torch.Tensor,
    spurious_birth: torch.Tensor,
    spurious_death: torch.Tensor,
    *,
    batch_size: int,
) -> torch.Tensor:
    """The TopoLoss formula on the probabilities at already-selected persistence pairs.

    ``sum p[b]^2 + (p[d] - 1)^2`` over the pairs to make perfect, plus
    ``sum 0.5 (p[b] - p[d])^2`` over the spurious pairs, divided by ``batch_size``.

    Parameters
    ----------
    fixed_birth, fixed_death : Tensor (n_fixed,)
        Probabilities at the birth and death pixels of the pairs to make perfect
        (indexed from ``p`` itself, so the gradient reaches the network).
    spurious_birth, spurious_death : Tensor (n_spurious,)
        Probabilities at the birth and death pixels of the spurious pairs.
    batch_size : int
        Images in the batch (the average is per image).

    Examples
    --------
    >>> loss = persistence_pair_loss(torch.tensor([0.5]), torch.tensor([0.5]),
    ...                              torch.tensor([0.2]), torch.tensor([0.6]), batch_size=2)
    >>> round(float(loss), 4)   # (0.25 + 0.25 + 0.5 * 0.16) / 2
    0.29
    """
    loss = (
        fixed_birth.square().sum()
        + (fixed_death - 1.0).square().sum()
        + 0.5 * (spurious_birth - spurious_death).square().sum()
    )
    return loss / max(int(batch_size), 1)
