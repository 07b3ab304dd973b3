"""PyTorch access to dataset folders written by :func:`grainseg_core.patching.export_dataset`.

:class:`GrainDataset` serves ``(image, label)`` tensors of one split (and fold) of a dataset
folder; :func:`list_datasets` finds the dataset folders under a root (for the Training page).

**Reproducibility.** Every random draw of an item (augmentation, crop position) comes from a
generator seeded with ``(seed, epoch, index)``, so an item's augmentation does not depend on
which DataLoader worker loads it or in what order. Call :meth:`GrainDataset.set_epoch` at the
start of each epoch to get fresh draws (with ``persistent_workers=False``, the default, each
epoch's workers receive the updated dataset). :func:`seed_worker` seeds numpy, ``random`` and
torch inside each worker for any other randomness::

    loader = DataLoader(ds, batch_size=16, shuffle=True, num_workers=2,
                        worker_init_fn=seed_worker,
                        generator=torch.Generator().manual_seed(seed))

**Normalisation** (identical at training and inference). A patch is scaled to [0, 1] with
the levels of its whole *source* image (recorded in the manifest at export, see
:mod:`grainseg_core.patching`), never with its own: so an item is exactly the crop of
``normalize_image(whole preprocessed source)`` that whole-image inference feeds the
network. :attr:`GrainDataset.input_normalization` is what the trainer writes into the model
card (``card["input_normalization"]``); :mod:`grainseg_core.inference` applies it to new
micrographs. Manifests written before the levels were recorded fall back to per-patch
scaling with a :class:`GrainsegWarning` (re-export the dataset to fix it).
"""

from __future__ import annotations

import os
import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from grainseg_core.augment import AugmentConfig, augment_pair
from grainseg_core.errors import DatasetError, GrainsegWarning, InputError, unknown_name_error
from grainseg_core.io import NORMALIZE_METHODS, normalize_image
from grainseg_core.patching import (
    MANIFEST_NAME,
    InputNormalization,
    Manifest,
    PatchRecord,
    normalize_with_bounds,
    read_manifest,
)

__all__ = ["GrainDataset", "DatasetSummary", "list_datasets", "seed_worker", "load_patch"]


def _normalize(
    image: np.ndarray, method: str, bounds: dict[str, list[float]] | None = None
) -> np.ndarray:
    """The one documented normalisation of grainseg, to float32 [0, 1].

    With ``bounds`` (the source image's levels, ``SourceInfo.normalization_bounds``), the
    patch is scaled as the whole source image is; without, on its own levels.
    """
    if method == "dtype":
        return normalize_image(image, method=method)
    if bounds is not None and method in bounds:
        return normalize_with_bounds(image, bounds[method])
    return normalize_image(image, method=method)


def load_patch(path: str | os.PathLike, *, kind: Literal["image", "label"] = "image") -> np.ndarray:
    """Read one stored patch file.

    Parameters
    ----------
    path : str or path
        A PNG (8/16-bit) or TIFF (float32) patch.
    kind : {"image", "label"}
        ``"label"`` returns bool (stored 0/255 -> True where > 127).

    Returns
    -------
    np.ndarray, shape (S, S)
        Native dtype for images, bool for labels.

    Examples
    --------
    >>> # img = load_patch("ds/images/a_r00000_c00000.png")
    """
    file = Path(path)
    if not file.is_file():
        raise DatasetError(f"patch file '{file}' is missing; the dataset folder is incomplete.")
    if file.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        arr = np.asarray(tifffile.imread(file))
    else:
        arr = cv2.imdecode(np.fromfile(file, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise DatasetError(f"patch file '{file}' could not be decoded; it may be corrupt.")
    if arr.ndim == 3:
        arr = arr[:, :, 0]
    return arr > 127 if kind == "label" else arr


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn`` for DataLoader: seed numpy, ``random`` and torch per worker.

    The seed derives from the DataLoader's base seed (set through its ``generator``), so a
    run is reproducible for a given seed and number of workers.

    Parameters
    ----------
    worker_id : int
        Given by the DataLoader.
    """
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)
    torch.manual_seed(worker_seed)


class GrainDataset(Dataset):
    """Patches of one split of a grainseg dataset folder, as tensors.

    Parameters
    ----------
    root : str or path
        Dataset folder (holding ``manifest.json``).
    split : {"train", "val", "test"}
        Which patches.
    fold : int, optional
        Cross-validation fold (required for ``column_cv`` / ``kfold_by_image`` datasets).
    augment : AugmentConfig, optional
        Augmentations for the *training* split (ignored for val/test); None = none.
    patch_size : int, optional
        Side of the returned items, at most the stored size: training items are random crops,
        val/test items fixed crops (one seeded position per patch, the same every epoch).
        None = the stored size.
    seed : int
        Base seed of the per-item generators.
    normalize : str, optional
        Normalisation method; the manifest's by default. Levels come from the patch's
        whole source image (see the module docstring).
    cache : bool
        Keep decoded patches in memory (per worker).

    Attributes
    ----------
    manifest : Manifest
    records : tuple of PatchRecord
        The selected patches, in manifest order.

    Examples
    --------
    >>> # ds = GrainDataset("datasets/tbm256", split="train", augment=AugmentConfig())
    >>> # image, label = ds[0]   # float32 tensors of shape (1, 256, 256)
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        split: Literal["train", "val", "test"] = "train",
        fold: int | None = None,
        augment: AugmentConfig | None = None,
        patch_size: int | None = None,
        seed: int = 0,
        normalize: str | None = None,
        cache: bool = False,
    ) -> None:
        self.root = Path(root)
        self.manifest: Manifest = read_manifest(self.root)
        self.split = split
        self.fold = fold
        self.records: tuple[PatchRecord, ...] = self.manifest.select(split, fold)
        if not self.records:
            where = f" of fold {fold}" if fold is not None else ""
            raise DatasetError(
                f"the '{split}' split{where} of dataset '{self.root}' is empty "
                f"(counts: {self.manifest.counts['folds']})."
            )
        if augment is not None and not isinstance(augment, AugmentConfig):
            raise InputError(f"augment must be an AugmentConfig or None; got {type(augment).__name__}.")
        self.augment = augment if split == "train" else None
        stored = int(self.manifest.config.size)
        if patch_size is None:
            self.patch_size = stored
        else:
            if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)) or not (
                1 <= int(patch_size) <= stored
            ):
                raise InputError(
                    f"patch_size must be an integer in [1, {stored}] (the stored patch size); "
                    f"got {patch_size!r}."
                )
            self.patch_size = int(patch_size)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InputError(f"seed must be a non-negative integer; got {seed!r}.")
        self.seed = int(seed)
        self.normalize = normalize or self.manifest.config.normalize
        if self.normalize not in NORMALIZE_METHODS:
            raise unknown_name_error(
                "normalisation method", str(self.normalize), NORMALIZE_METHODS, InputError
            )
        self.epoch = 0
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = {} if cache else None
        self._bounds = {s.name: s.normalization_bounds for s in self.manifest.sources}
        if self.normalize != "dtype" and any(
            self._bounds.get(r.source) is None for r in self.records
        ):
            warnings.warn(
                f"dataset '{self.root}' was exported without per-source normalisation levels: "
                "patches are scaled on their own, which differs from whole-image inference. "
                "Re-export it with this version of grainseg.",
                GrainsegWarning,
                stacklevel=2,
            )

    @property
    def input_normalization(self) -> dict:
        """The network-input normalisation of this dataset, for the model card.

        Write it to ``card["input_normalization"]`` when saving a model trained on this
        dataset: inference replays the export's preprocessing (median, CLAHE) and this
        scaling on the whole micrograph.

        Returns
        -------
        dict
            :meth:`grainseg_core.patching.InputNormalization.to_dict` form.
        """
        cfg = self.manifest.config
        return InputNormalization(
            method=self.normalize,
            median=cfg.median,
            clahe=cfg.clahe,
            clahe_clip_limit=cfg.clahe_clip_limit,
            clahe_tiles=cfg.clahe_tiles,
        ).to_dict()

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Use the augmentation draws of ``epoch`` (call once per epoch)."""
        self.epoch = int(epoch)

    @property
    def label_fraction(self) -> float:
        """Mean fraction of label pixels over the selected patches (for class weights)."""
        return float(np.mean([r.label_fraction for r in self.records]))

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The stored patch ``index``: normalised float32 image (S, S) and bool label (S, S)."""
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        rec = self.records[index]
        image = load_patch(self.root / rec.image, kind="image")
        label = load_patch(self.root / rec.label, kind="label")
        expected = (rec.size, rec.size)
        if image.shape != expected or label.shape != expected:
            raise DatasetError(
                f"patch '{rec.id}' of dataset '{self.root}' has shape {image.shape} / "
                f"{label.shape}; the manifest says {expected}. Re-export the dataset."
            )
        pair = (_normalize(image, self.normalize, self._bounds.get(rec.source)), label)
        if self._cache is not None:
            self._cache[index] = pair
        return pair

    def item_rng(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` (depends on seed, index and, for training, epoch)."""
        key = [self.seed, index, self.epoch] if self.split == "train" else [self.seed, index]
        return np.random.default_rng(key)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} patches.")
        index = index % len(self)
        image, label = self.load(index)
        rng = self.item_rng(index)
        if self.augment is not None:
            image, label = augment_pair(
                image, label, rng, self.augment, label_kind=self.manifest.target
            )
        size = self.patch_size
        if size < image.shape[0] or size < image.shape[1]:
            r0 = int(rng.integers(0, image.shape[0] - size + 1))
            c0 = int(rng.integers(0, image.shape[1] - size + 1))
            image, label = image[r0 : r0 + size, c0 : c0 + size], label[r0 : r0 + size, c0 : c0 + size]
        image_t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]
        label_t = torch.from_numpy(np.ascontiguousarray(label, dtype=np.float32))[None]
        return image_t, label_t

    def __repr__(self) -> str:
        fold = f", fold={self.fold}" if self.fold is not None else ""
        return (
            f"GrainDataset('{self.root}', split='{self.split}'{fold}, n={len(self)}, "
            f"patch_size={self.patch_size})"
        )


@dataclass(frozen=True)
class DatasetSummary:
    """One dataset folder, as listed by :func:`list_datasets`.

    Parameters
    ----------
    path : str
        The folder.
    name : str
        Its base name.
    created, grainseg_version : str
        From the manifest.
    target : str
        ``"boundary"`` or ``"mask"``.
    split : str
        Split method; ``n_folds`` folds (1 for hold-out).
    patch_size : int
    n_sources, n_patches : int
    counts : tuple of dict
        Per fold: ``{"train": .., "val": .., "test": ..}``.
    leaky : bool
    warnings : tuple of str
    """

    path: str
    name: str
    created: str
    grainseg_version: str
    target: str
    split: str
    n_folds: int
    patch_size: int
    n_sources: int
    n_patches: int
    counts: tuple[dict[str, int], ...]
    leaky: bool
    warnings: tuple[str, ...]


def _summary(folder: Path, manifest: Manifest) -> DatasetSummary:
    return DatasetSummary(
        path=str(folder),
        name=folder.name,
        created=manifest.created,
        grainseg_version=manifest.grainseg_version,
        target=manifest.target,
        split=manifest.config.split,
        n_folds=manifest.n_folds,
        patch_size=manifest.config.size,
        n_sources=len(manifest.sources),
        n_patches=len(manifest.patches),
        counts=tuple(dict(c) for c in manifest.counts["folds"]),
        leaky=manifest.leaky,
        warnings=manifest.warnings,
    )


def list_datasets(root: str | os.PathLike) -> list[DatasetSummary]:
    """Dataset folders in ``root`` (``root`` itself and its direct subfolders).

    Parameters
    ----------
    root : str or path
        A folder of datasets.

    Returns
    -------
    list of DatasetSummary
        Sorted by name. Folders whose manifest cannot be read are left out with a
        :class:`GrainsegWarning`; a missing ``root`` gives an empty list.

    Examples
    --------
    >>> list_datasets("/nonexistent")
    []
    """
    base = Path(root)
    if not base.is_dir():
        return []
    candidates: Sequence[Path] = [base, *sorted(p for p in base.iterdir() if p.is_dir())]
    out: list[DatasetSummary] = []
    for folder in candidates:
        if not (folder / MANIFEST_NAME).is_file():
            continue
        try:
            manifest = read_manifest(folder)
        except DatasetError as exc:
            warnings.warn(f"skipping dataset folder '{folder}': {exc}", GrainsegWarning, stacklevel=2)
            continue
        out.append(_summary(folder, manifest))
    return sorted(out, key=lambda s: (s.name, s.path))
