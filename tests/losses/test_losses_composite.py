"""Composite losses from configs."""

from __future__ import annotations

import pytest
import torch

from grainseg_core.errors import ConfigError
from grainseg_core.losses import (
    CompositeLoss,
    DiceLoss,
    TopoLoss,
    WeightedBCELoss,
    build_loss,
    list_losses,
)


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    target = torch.zeros(2, 1, 32, 32)
    target[..., ::8, :] = 1.0
    target[..., :, ::8] = 1.0
    logits = torch.randn(2, 1, 32, 32, generator=gen) + (target * 4 - 2)
    return logits, target


def test_seed000_fine_tuning_loss(batch):
    logits, target = batch
    loss = build_loss(
        {"terms": [{"name": "bce", "pos_weight": 9, "weight": 1.0}, {"name": "topo", "weight": 0.04}]}
    )
    logits.requires_grad_(True)
    total = loss(logits, target)
    bce = WeightedBCELoss(pos_weight=9)(logits, target).item()
    topo = TopoLoss()(logits, target).item()
    assert loss.last_terms == {"bce": pytest.approx(bce), "topo": pytest.approx(topo)}
    assert total.item() == pytest.approx(bce + 0.04 * topo, rel=1e-6)
    assert loss.last_total == pytest.approx(total.item())
    total.backward()
    assert logits.grad.abs().sum() > 0


def test_every_loss_by_name(batch):
    logits, target = batch
    loss = build_loss([{"name": n} for n in list_losses()])
    loss(logits, target)
    assert sorted(loss.last_terms) == list_losses()
    assert all(v >= 0 for v in loss.last_terms.values())


def test_shorthands_labels_and_repeats(batch):
    logits, target = batch
    assert isinstance(build_loss("dice").terms[0], DiceLoss)
    loss = build_loss(["bce", {"name": "bce", "pos_weight": 9}, {"name": "dice", "label": "soft_dice"}])
    loss(logits, target)
    assert list(loss.last_terms) == ["bce", "bce_2", "soft_dice"]
    assert loss.last_terms["bce_2"] > loss.last_terms["bce"]  # boundary pixels weigh 9x
    assert "bce*1, bce_2*1, soft_dice*1" in repr(loss)


def test_zero_weight_term_is_logged_but_does_not_count(batch):
    logits, target = batch
    loss = build_loss([{"name": "dice", "weight": 0}, {"name": "bce"}])
    total = loss(logits, target)
    assert total.item() == pytest.approx(loss.last_terms["bce"])
    assert loss.last_terms["dice"] > 0


@pytest.mark.parametrize(
    ("config", "error_match"),
    [
        ({"terms": [{"name": "tpo"}]}, r"unknown loss 'tpo'; did you mean 'topo'\? Valid names: bce, cldice"),
        ({"terms": [{"name": "bce", "weight": -1}]}, r"weight of loss term 0 \(bce\) must be >= 0; got -1"),
        ({"terms": [{"name": "focal", "gamma": -2}]}, r"loss term 0 \(focal\): gamma must be >= 0"),
        ({"terms": [{"name": "bce", "pos_wieght": 9}]}, r"loss 'bce' has no option 'pos_wieght'; valid options: pos_weight, weight, label"),
        ({"terms": []}, "'terms' must be a non-empty list"),
        ({"loss": "bce"}, "loss config needs a 'terms' list"),
        ({"terms": ["bce"], "lr": 1}, r"unknown keys \['lr'\]"),
        ({"terms": [{"weight": 1}]}, "loss term 0 has no 'name'"),
        ({"terms": [3]}, "loss term 0 must be a name or a mapping"),
        ({"terms": [{"name": "dice", "label": ""}]}, "label of loss term 0 .* non-empty string"),
        (42, "'terms' must be a non-empty list"),
    ],
)
def test_config_errors(config, error_match):
    with pytest.raises(ConfigError, match=error_match):
        build_loss(config)


def test_composite_needs_unique_labels():
    with pytest.raises(ConfigError, match="labels must be unique"):
        CompositeLoss([("a", DiceLoss(), 1.0), ("a", DiceLoss(), 1.0)])
    with pytest.raises(ConfigError, match="at least one term"):
        CompositeLoss([])
