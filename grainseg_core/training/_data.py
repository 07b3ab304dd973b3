"""Data loading for the trainer: seeded epoch order that can start mid-epoch.

The order of epoch ``e`` is a permutation drawn from a generator seeded with
``(seed, e)``; a resumed run rebuilds the same permutation and skips the batches it has
done, so no item is seen twice or missed. Augmentation draws are per ``(seed, epoch,
index)`` in :class:`~grainseg_core.datasets.GrainDataset`, so they match too.
"""

from __future__ import annotations

import math
import signal
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from grainseg_core.augment import AugmentConfig
from grainseg_core.datasets import GrainDataset, seed_worker
from grainseg_core.errors import ConfigError
from grainseg_core.patching import read_manifest

__all__ = ["EpochSampler", "make_loader", "open_datasets", "steps_per_epoch"]


# Largest validation split kept decoded in memory without cache_patches.
_VAL_CACHE_BYTES = 256 * 2**20


def _epoch_seed(seed: int, epoch: int) -> int:
    # A fixed odd multiplier keeps (seed, epoch) pairs apart for any realistic values.
    return (int(seed) * 1_000_003 + int(epoch) * 7_919 + 12_345) % (2**63 - 1)


class EpochSampler(Sampler[int]):
    """Indices of one epoch: a seeded permutation, from position ``start``, at most ``limit``.

    Parameters
    ----------
    n : int
        Dataset length.
    seed, epoch : int
        Seed the permutation (``shuffle=False``: identity order).
    start : int
        Items already done this epoch (skipped).
    limit : int, optional
        Items to yield at most.

    Examples
    --------
    >>> list(EpochSampler(5, seed=0, epoch=0, shuffle=False, start=2))
    [2, 3, 4]
    >>> a = list(EpochSampler(8, seed=1, epoch=3))
    >>> a[3:] == list(EpochSampler(8, seed=1, epoch=3, start=3))
    True
    """

    def __init__(
        self,
        n: int,
        *,
        seed: int = 0,
        epoch: int = 0,
        shuffle: bool = True,
        start: int = 0,
        limit: int | None = None,
    ) -> None:
        self.n = int(n)
        if shuffle:
            gen = torch.Generator().manual_seed(_epoch_seed(seed, epoch))
            order = torch.randperm(self.n, generator=gen)
        else:
            order = torch.arange(self.n)
        stop = self.n if limit is None else min(self.n, int(start) + int(limit))
        self.indices = order[int(start) : stop].tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def _worker_init(worker_id: int) -> None:
    # Ctrl-C reaches the whole process group; the workers must not die of it while the
    # main process finishes its step and saves (it stops them itself).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    seed_worker(worker_id)


def make_loader(
    dataset: GrainDataset,
    sampler: Sampler[int],
    *,
    batch_size: int,
    num_workers: int,
    pin_memory: bool,
) -> DataLoader:
    """A DataLoader over ``dataset`` in ``sampler``'s order (no worker persistence:
    each epoch's workers see the dataset's new epoch)."""
    kwargs: dict[str, Any] = {}
    if num_workers > 0:
        kwargs.update(worker_init_fn=_worker_init, prefetch_factor=2)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=False,
        **kwargs,
    )


def steps_per_epoch(n_items: int, batch_size: int, cap: int | None) -> int:
    """Optimiser steps of one epoch: ``ceil(n / batch)``, at most ``cap``.

    Examples
    --------
    >>> steps_per_epoch(10, 4, None), steps_per_epoch(10, 4, 2)
    (3, 2)
    """
    n = math.ceil(n_items / batch_size)
    return min(n, cap) if cap else n


def open_datasets(
    root: str,
    *,
    fold: int | None,
    patch_size: int,
    augment: AugmentConfig,
    seed: int,
    cache: bool,
) -> tuple[GrainDataset, GrainDataset, str]:
    """The training and validation datasets, and the name of the split used to validate.

    The ``val`` split is used when it has patches; otherwise the ``test`` split (seed 000
    exported without validation patches), with a warning.

    Raises
    ------
    ConfigError
        No training patches, or neither validation nor test patches.
    """
    manifest = read_manifest(root)
    counts = {s: len(manifest.select(s, fold)) for s in ("train", "val", "test")}
    if counts["train"] == 0:
        raise ConfigError(f"dataset '{root}' has no training patches{_fold(fold)}.")
    val_split = "val" if counts["val"] else "test"
    if counts[val_split] == 0:
        raise ConfigError(
            f"dataset '{root}' has no validation or test patches{_fold(fold)}; re-export it with "
            "val_fraction > 0."
        )
    if val_split == "test":
        warnings.warn(
            f"dataset '{root}' has no validation patches{_fold(fold)}; validating on its test "
            "split (the best checkpoint is then chosen on test data).",
            stacklevel=3,
        )
    train_ds = GrainDataset(
        root,
        split="train",
        fold=fold,
        augment=augment,
        patch_size=patch_size,
        seed=seed,
        cache=cache,
    )
    # Validation patches are read every epoch: keep them decoded when they take little memory
    # (float32 image + bool label per pixel).
    val_bytes = counts[val_split] * int(manifest.config.size) ** 2 * 5
    val_ds = GrainDataset(
        root,
        split=val_split,
        fold=fold,
        patch_size=patch_size,
        seed=seed,
        cache=cache or val_bytes <= _VAL_CACHE_BYTES,
    )
    return train_ds, val_ds, val_split


def _fold(fold: int | None) -> str:
    return f" in fold {fold}" if fold is not None else ""
