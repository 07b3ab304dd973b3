"""Losses for boundary maps: kernels in ``_functional``, thin modules, and composites.

Every module has ``forward(logits, target)`` with logits and target (B, 1, H, W)
(target 1 = boundary, 0 = grain); BCE, Dice and focal also take (B, 1, n) for
sparsely sampled pixels. :func:`build_loss` turns a config into a weighted sum.
"""

from __future__ import annotations

from grainseg_core.losses.bce import WeightedBCELoss
from grainseg_core.losses.cldice import ClDiceLoss
from grainseg_core.losses.composite import LOSSES, CompositeLoss, build_loss, list_losses
from grainseg_core.losses.dice import DiceLoss
from grainseg_core.losses.focal import FocalLoss
from grainseg_core.losses.skeleton import SkeletonRecallLoss, skeleton_tube
from grainseg_core.losses.topo import GrainPersistence, TopoLoss, count_grains, grain_persistence

__all__ = [
    "LOSSES",
    "ClDiceLoss",
    "CompositeLoss",
    "DiceLoss",
    "FocalLoss",
    "GrainPersistence",
    "SkeletonRecallLoss",
    "TopoLoss",
    "WeightedBCELoss",
    "build_loss",
    "count_grains",
    "grain_persistence",
    "list_losses",
    "skeleton_tube",
]
