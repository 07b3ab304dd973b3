"""Split assignment of dataset patches: by image, random (leaky), column CV, k-fold by image.

Private module of :mod:`grainseg_core.patching`; import from there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from grainseg_core._patch_config import PatchConfig
from grainseg_core.errors import DatasetError

__all__ = ["assign_splits", "LEAK_RANDOM"]

LEAK_RANDOM = (
    "random_patch split is LEAKY: neighbouring patches of one image end up in train and "
    "test, so test scores overestimate performance on new images (seed 000's protocol). "
    "Use split='by_image' for an honest test."
)


def _count(n: int, fraction: float) -> int:
    """Items for a fraction: rounded, but at least 1 when the fraction is > 0."""
    return max(1, int(round(fraction * n))) if fraction > 0 else 0


def _random_val(
    splits: np.ndarray, fold: int, fraction: float, rng: np.random.Generator
) -> None:
    """Move a random ``fraction`` of the training patches of ``fold`` to validation."""
    train = np.flatnonzero(splits[:, fold] == "train")
    n_val = _count(train.size, fraction) if train.size > 1 else 0
    if n_val:
        splits[rng.choice(train, size=n_val, replace=False), fold] = "val"


def assign_splits(
    groups: Sequence[str],
    sources: Sequence[str],
    columns: Sequence[int],
    n_columns: Mapping[str, int],
    ids: Sequence[str],
    config: PatchConfig,
) -> tuple[np.ndarray, list[str]]:
    """Return (splits array (P, n_folds) of str, warnings)."""
    n = len(ids)
    rng = np.random.default_rng(config.seed)
    warnings: list[str] = []
    group_arr = np.asarray(groups, dtype=object)

    if config.split == "random_patch":
        splits = np.full((n, 1), "train", dtype=object)
        order = np.argsort(np.asarray(ids, dtype=object), kind="stable")
        perm = order[rng.permutation(n)]
        n_test = _count(n, config.test_fraction)
        n_val = _count(n, config.val_fraction)
        if n - n_test - n_val < 1:
            raise DatasetError(
                f"random_patch split of {n} patch(es) leaves none for training with "
                f"val_fraction={config.val_fraction} and test_fraction={config.test_fraction}; "
                "use smaller patches or more images."
            )
        splits[perm[:n_test], 0] = "test"
        splits[perm[n_test : n_test + n_val], 0] = "val"
        warnings.append(LEAK_RANDOM)
        return splits, warnings

    if config.split == "by_image":
        unique = sorted(set(groups))
        n_groups = len(unique)
        n_test = _count(n_groups, config.test_fraction)
        if n_groups - n_test < 1:
            raise DatasetError(
                f"by_image split needs at least {n_test + 1} images (groups) with patches to "
                f"hold out a test set; got {n_groups} ({', '.join(unique[:5])}). Add images, "
                "set test_fraction=0, or use split='random_patch' (leaky)."
            )
        perm = [unique[i] for i in rng.permutation(n_groups)]
        test_groups = set(perm[:n_test])
        rest = perm[n_test:]
        n_val = _count(n_groups, config.val_fraction)
        splits = np.full((n, 1), "train", dtype=object)
        splits[np.isin(group_arr, list(test_groups)), 0] = "test"
        if n_val and len(rest) - n_val >= 1:
            splits[np.isin(group_arr, rest[:n_val]), 0] = "val"
        elif n_val:
            _random_val(splits, 0, config.val_fraction, rng)
            warnings.append(
                f"too few images ({n_groups}) for a by-image validation set: validation "
                "patches were drawn at random from the training images, so validation "
                "scores are optimistic (the test set is still by image)."
            )
        return splits, warnings

    k = config.n_folds
    splits = np.full((n, k), "train", dtype=object)
    if config.split == "kfold_by_image":
        unique = sorted(set(groups))
        if len(unique) < k:
            raise DatasetError(
                f"kfold_by_image with n_folds={k} needs at least {k} images (groups) with "
                f"patches; got {len(unique)}. Lower n_folds or add images."
            )
        perm = [unique[i] for i in rng.permutation(len(unique))]
        folds = np.array_split(np.arange(len(unique)), k)
        for f, members in enumerate(folds):
            test_groups = [perm[i] for i in members]
            splits[np.isin(group_arr, test_groups), f] = "test"
            held_out = set(test_groups)
            rest = [g for g in perm if g not in held_out]
            n_val = _count(len(rest), config.val_fraction)
            if n_val and len(rest) - n_val >= 1:
                splits[np.isin(group_arr, rest[:n_val]), f] = "val"
            elif n_val:
                _random_val(splits, f, config.val_fraction, rng)
                if not any(w.startswith("fold") and "validation" in w for w in warnings):
                    warnings.append(
                        "fold(s) with too few training images for a by-image validation set: "
                        "validation patches were drawn at random from the training images."
                    )
        return splits, warnings

    # column_cv: contiguous bands of patch columns per source.
    src_arr = np.asarray(sources, dtype=object)
    col_arr = np.asarray(columns, dtype=np.int64)
    fold_of = np.empty(n, dtype=np.int64)
    for name in dict.fromkeys(sources):
        n_cols = n_columns[name]
        if n_cols < k:
            raise DatasetError(
                f"column_cv with n_folds={k} needs at least {k} patch columns per image; "
                f"image '{name}' has {n_cols}. Use smaller patches, fewer folds, or drop it."
            )
        sel = src_arr == name
        fold_of[sel] = col_arr[sel] * k // n_cols
    for f in range(k):
        splits[fold_of == f, f] = "test"
        _random_val(splits, f, config.val_fraction, rng)
    if config.val_fraction > 0:
        warnings.append(
            "column_cv: validation patches are a random fraction of each fold's training "
            "columns (as in seed 004), so they neighbour training patches."
        )
    return splits, warnings
