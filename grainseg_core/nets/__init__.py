"""Boundary networks: the architecture registry, the networks and model files.

Every network maps a one-channel image batch (B, 1, H, W) to one-channel boundary
logits (B, 1, H, W); H and W must be multiples of ``model.input_divisor``.
"""

from __future__ import annotations

from grainseg_core.nets._base import BoundaryNet
from grainseg_core.nets._smp import SmpBoundaryNet, load_encoder_weights
from grainseg_core.nets.deepcrack import DeepCrack
from grainseg_core.nets.defectsegnet import DefectSegNet
from grainseg_core.nets.hed import HED
from grainseg_core.nets.pixelnet import PixelNet
from grainseg_core.nets.rcf import RCF
from grainseg_core.nets.registry import (
    ARCHITECTURES,
    ArchitectureSpec,
    architecture_info,
    build_model,
    count_parameters,
    list_architectures,
)
from grainseg_core.nets.serialization import (
    CARD_FORMAT_VERSION,
    convert_checkpoint,
    load_model_file,
    read_model_card,
    save_model,
)
from grainseg_core.nets.slim_unet import SlimUNet

__all__ = [
    "ARCHITECTURES",
    "ArchitectureSpec",
    "BoundaryNet",
    "CARD_FORMAT_VERSION",
    "DeepCrack",
    "DefectSegNet",
    "HED",
    "PixelNet",
    "RCF",
    "SlimUNet",
    "SmpBoundaryNet",
    "architecture_info",
    "build_model",
    "convert_checkpoint",
    "count_parameters",
    "list_architectures",
    "load_encoder_weights",
    "load_model_file",
    "read_model_card",
    "save_model",
]
