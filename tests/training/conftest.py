"""Tiny synthetic datasets and configs for the training tests (one torch thread)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from grainseg_core.patching import ImagePair, PatchConfig, export_dataset
from grainseg_core.synthetic import make_microstructure
from grainseg_core.training.config import TrainConfig

# A 2-level slim U-Net with 4 channels: the cheapest network that still learns.
TINY_ARCH = {"base_width": 4, "depth": 2}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # Two threads on a shared 2-core machine mostly wait for each other in tiny tests.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _pairs(n: int, size: int = 128) -> list[ImagePair]:
    out = []
    for i in range(n):
        ms = make_microstructure((size, size), seed=100 + i, mean_grain_size_px=20)
        out.append(ImagePair(f"im{i}", ms.image, ms.boundary))
    return out


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """4 images of 128^2 -> 16 patches of 64^2 by image: 8 train, 4 val, 4 test."""
    root = tmp_path_factory.mktemp("data") / "tiny"
    export_dataset(_pairs(4), root, PatchConfig(size=64, val_fraction=0.25, test_fraction=0.25))
    return root


@pytest.fixture(scope="session")
def cv_dataset(tmp_path_factory) -> Path:
    """6 images of 64^2 -> 24 patches of 32^2 in 3 folds by image (val by image)."""
    root = tmp_path_factory.mktemp("data") / "cv3"
    export_dataset(
        _pairs(6, 64),
        root,
        PatchConfig(size=32, split="kfold_by_image", n_folds=3, val_fraction=0.25),
    )
    return root


@pytest.fixture
def tiny_config(tiny_dataset):
    """A config factory: tiny network, 2 epochs of 2 steps, a step line per step."""

    def make(**changes) -> TrainConfig:
        base = dict(
            dataset=str(tiny_dataset),
            arch_kwargs=TINY_ARCH,
            epochs=2,
            batch_size=4,
            log_every_steps=1,
            patience=None,
            schedule="constant",
        )
        base.update(changes)
        return TrainConfig(**base)

    return make
