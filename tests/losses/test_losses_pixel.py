"""BCE, Dice, focal, clDice and Skeleton Recall: known values, gradients, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grainseg_core.errors import ConfigError, InputError
from grainseg_core.losses import (
    ClDiceLoss,
    DiceLoss,
    FocalLoss,
    SkeletonRecallLoss,
    TopoLoss,
    WeightedBCELoss,
    skeleton_tube,
)

LOG2 = math.log(2.0)


def _grid_target(size=32):
    """Boundary lines every 8 px: 16 grains."""
    t = torch.zeros(1, 1, size, size)
    t[..., ::8, :] = 1.0
    t[..., :, ::8] = 1.0
    return t


@pytest.mark.parametrize(
    "loss",
    [WeightedBCELoss(pos_weight=9), DiceLoss(), FocalLoss(gamma=2, alpha=0.9), ClDiceLoss(),
     SkeletonRecallLoss(), TopoLoss()],
    ids=lambda m: type(m).__name__,
)
def test_single_channel_output_gets_a_gradient(loss):
    # MONAI's clDice once dropped channel 0 and gave one-channel outputs zero loss.
    target = _grid_target()
    logits = torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    value = loss(logits, target)
    assert value.ndim == 0 and value.item() > 0
    value.backward()
    assert logits.grad.abs().sum() > 0


def test_bce_known_values():
    logits = torch.zeros(1, 1, 1, 2)
    target = torch.tensor([[[[1.0, 0.0]]]])
    assert WeightedBCELoss(pos_weight=3)(logits, target).item() == pytest.approx(2 * LOG2)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 8, 8, generator=gen)
    t = (torch.rand(2, 1, 8, 8, generator=gen) > 0.7).float()
    p = torch.sigmoid(x)
    manual = -(9 * t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean()
    assert WeightedBCELoss(pos_weight=9)(x, t).item() == pytest.approx(manual.item(), rel=1e-5)


def test_bce_accepts_sampled_pixels_and_bool_targets():
    logits = torch.zeros(2, 1, 10)
    target = torch.zeros(2, 1, 10, dtype=torch.bool)
    assert WeightedBCELoss()(logits, target).item() == pytest.approx(LOG2)


def test_dice_known_values():
    target = torch.tensor([[[[1.0, 1.0, 0.0, 0.0]]]])
    # p = 0.5 everywhere: intersection 1, sums 2 and 2 -> 1 - (2 + 1) / (4 + 1).
    assert DiceLoss()(torch.zeros(1, 1, 1, 4), target).item() == pytest.approx(0.4)
    perfect = (target * 2 - 1) * 50
    assert DiceLoss(smooth=0.0)(perfect, target).item() == pytest.approx(0.0, abs=1e-6)


def test_focal_known_values():
    logits, target = torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1)
    # p_t = 0.5: (1 - 0.5)^2 log 2, times alpha for the boundary class.
    assert FocalLoss(gamma=2)(logits, target).item() == pytest.approx(0.25 * LOG2)
    assert FocalLoss(gamma=2, alpha=0.25)(logits, target).item() == pytest.approx(0.0625 * LOG2)
    assert FocalLoss(gamma=2, alpha=0.25)(logits, 1 - target).item() == pytest.approx(0.1875 * LOG2)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 1, 8, 8, generator=gen)
    t = (torch.rand(1, 1, 8, 8, generator=gen) > 0.5).float()
    assert FocalLoss(gamma=0)(x, t).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(x, t).item(), rel=1e-6
    )


def test_cldice_prefers_a_closed_line():
    target = torch.zeros(1, 1, 16, 16)
    target[..., 8, :] = 1.0
    perfect = (target * 2 - 1) * 20
    gapped = perfect.clone()
    gapped[..., 8, 6:10] = -20.0
    loss = ClDiceLoss()
    assert loss(perfect, target).item() < 1e-3
    assert loss(gapped, target).item() > loss(perfect, target).item() + 0.05


def test_skeleton_tube_known_answers():
    line = np.zeros((6, 7), bool)
    line[2, 1:6] = True  # a 1-px line is its own skeleton: the tube is its cross dilation
    expected = np.zeros_like(line)
    expected[1:4, 1:6] = True
    expected[2, 0] = expected[2, 6] = True
    assert np.array_equal(skeleton_tube(line), expected)
    thick = np.zeros((9, 12), bool)
    thick[3:6, 1:11] = True  # 3 px wide: the tube is 3 px wide around the centre row
    tube = skeleton_tube(thick)
    assert tube[3:6, 2:9].all()
    assert not tube[[0, 1, 6, 7, 8], 2:9].any()
    assert not skeleton_tube(np.zeros((4, 4), bool)).any()


def test_skeleton_recall_known_value_and_precomputed_tube():
    target = torch.zeros(2, 1, 9, 12)
    target[0, 0, 3:6, 1:11] = 1.0  # the second image has no boundary: recall 1, loss 0
    tube = torch.from_numpy(np.stack([skeleton_tube(m) for m in target[:, 0].numpy() > 0.5]))[:, None]
    n = float(tube[0].sum())
    logits = torch.zeros(2, 1, 9, 12)  # p = 0.5
    loss = SkeletonRecallLoss()
    expected = (1 - (0.5 * n + 1) / (n + 1)) / 2
    assert loss(logits, target).item() == pytest.approx(expected)
    assert loss(logits, target, tube=tube.float()).item() == pytest.approx(expected)
    with pytest.raises(InputError, match=r"tube \(\(1, 1, 9, 12\)\) must be a tensor shaped like logits"):
        loss(logits, target, tube=tube[:1].float())


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: WeightedBCELoss(pos_weight=0), "pos_weight must be > 0"),
        (lambda: WeightedBCELoss(pos_weight="nine"), "pos_weight must be a number"),
        (lambda: FocalLoss(gamma=-1), "gamma must be >= 0"),
        (lambda: FocalLoss(alpha=1.5), r"alpha must lie in \[0, 1\]"),
        (lambda: DiceLoss(smooth=-1), "smooth must be >= 0"),
        (lambda: DiceLoss(smooth=float("nan")), "smooth must be finite"),
        (lambda: ClDiceLoss(iterations=0), r"iterations must be in \[1, 100\]"),
        (lambda: SkeletonRecallLoss(smooth=-0.5), "smooth must be >= 0"),
    ],
)
def test_option_validation(factory, match):
    with pytest.raises(ConfigError, match=match):
        factory()


def test_input_validation():
    with pytest.raises(InputError, match="bce: logits must be a floating-point tensor"):
        WeightedBCELoss()(torch.zeros(1, 1, 4, 4, dtype=torch.long), torch.zeros(1, 1, 4, 4))
    with pytest.raises(InputError, match=r"dice: logits must have shape \(B, 1, n\) or \(B, 1, H, W\)"):
        DiceLoss()(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4))
    with pytest.raises(InputError, match=r"cldice: logits must have shape \(B, 1, H, W\)"):
        ClDiceLoss()(torch.zeros(1, 1, 4), torch.zeros(1, 1, 4))
    with pytest.raises(InputError, match="focal: logits and target must be torch tensors"):
        FocalLoss()(np.zeros((1, 1, 4, 4)), torch.zeros(1, 1, 4, 4))
    with pytest.raises(InputError, match=r"target must lie in \[0, 1\] \(1 = boundary\); got values in \[0, 255\]"):
        WeightedBCELoss()(torch.zeros(1, 1, 2, 2), torch.tensor([[[[0.0, 255.0], [0.0, 0.0]]]]))
