"""The dataset manifest (``manifest.json``): records, reading, atomic writing.

Private module of :mod:`grainseg_core.patching`; import from there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grainseg_core._atomic import write_text_atomic
from grainseg_core._patch_config import PatchConfig, as_json_data, check_target
from grainseg_core.errors import ConfigError, DatasetError, InputError

__all__ = [
    "SourceInfo",
    "PatchRecord",
    "Manifest",
    "write_manifest",
    "read_manifest",
    "is_dataset_dir",
    "MANIFEST_NAME",
    "FORMAT_VERSION",
    "EXPORT_MARKER_NAME",
]

#: File name of the manifest inside a dataset folder.
MANIFEST_NAME = "manifest.json"
#: Version of the manifest format written by this module.
FORMAT_VERSION = 1

_FORMAT_TAG = "grainseg-dataset"
#: Written when an export starts and removed when it ends: marks a folder as ours even
#: when an export was interrupted, so that a retry may overwrite it.
EXPORT_MARKER_NAME = ".grainseg-export-in-progress"


@dataclass(frozen=True)
class SourceInfo:
    """Provenance of one source image in a dataset manifest.

    Parameters
    ----------
    name, group : str
        Source name and split group.
    shape : tuple of int
        ``(M, N)`` of the source image.
    dtype : str
        Its dtype (``"uint8"``, ``"uint16"``, ``"float32"``).
    pixel_size_um : float or None
        Micrometres per pixel.
    label_fraction : float
        Fraction of label pixels over the whole image.
    n_patches : int
        Patches kept.
    n_filtered : int
        Patches left out by ``min_label_fraction``.
    provenance : dict
        Where the pair came from (files, annotations, arrays).
    normalization_bounds : dict, optional
        ``{"percentile": [low, high], "minmax": [low, high]}``: the levels
        :func:`grainseg_core.io.normalize_image` uses on the whole preprocessed source
        image. Training patches are scaled with them, so that a patch's network input
        equals the same crop of the whole-image input at inference. None in manifests
        written before they were recorded.
    """

    name: str
    group: str
    shape: tuple[int, int]
    dtype: str
    pixel_size_um: float | None
    label_fraction: float
    n_patches: int
    n_filtered: int
    provenance: dict[str, Any]
    normalization_bounds: dict[str, list[float]] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourceInfo:
        """Read the manifest's JSON form (shape back to a tuple, bounds to lists of floats)."""
        d = dict(data)
        d["shape"] = tuple(int(v) for v in d["shape"])
        bounds = d.get("normalization_bounds")
        if bounds is not None:
            d["normalization_bounds"] = {
                str(k): [float(v[0]), float(v[1])] for k, v in dict(bounds).items()
            }
        return cls(**d)


@dataclass(frozen=True)
class PatchRecord:
    """One patch of a dataset.

    Parameters
    ----------
    id : str
        Unique patch id (the file stem).
    source : str
        Name of the source image.
    row, col : int
        Top-left pixel in the source image.
    column : int
        Index of the patch column in the source's grid (for ``column_cv``).
    size : int
        Side in pixels.
    image, label : str
        Paths relative to the dataset folder (POSIX separators).
    label_fraction : float
        Fraction of label pixels in the patch.
    sha1 : str
        SHA-1 of the patch image's pixel bytes (duplicate and leak checks).
    splits : tuple of str
        ``"train"``, ``"val"`` or ``"test"``: one entry for a hold-out split, one per fold
        for cross-validation.
    """

    id: str
    source: str
    row: int
    col: int
    column: int
    size: int
    image: str
    label: str
    label_fraction: float
    sha1: str
    splits: tuple[str, ...]

    def split_in(self, fold: int = 0) -> str:
        """The patch's split in ``fold`` (0 for hold-out datasets)."""
        return self.splits[fold]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PatchRecord:
        """Read the manifest's JSON form (``splits`` back to a tuple)."""
        d = dict(data)
        d["splits"] = tuple(d["splits"])
        return cls(**d)


@dataclass(frozen=True)
class Manifest:
    """Everything known about a dataset folder (``manifest.json``).

    Parameters
    ----------
    format_version : int
        :data:`FORMAT_VERSION` when written.
    created : str
        ISO 8601 UTC time of the export.
    grainseg_version : str
        Version of grainseg that wrote it.
    config : PatchConfig
        The options of the export.
    target : {"boundary", "mask"}
        What the labels are.
    n_folds : int
        1 for hold-out splits, ``config.n_folds`` for cross-validation.
    leaky : bool
        True when test patches share pixels or neighbourhoods with training patches.
    warnings : tuple of str
        Plain-language caveats (leaky split, fallbacks, skipped images).
    sources : tuple of SourceInfo
    patches : tuple of PatchRecord
    counts : dict
        ``{"patches": P, "sources": S, "folds": [{"train": .., "val": .., "test": ..}, ...]}``.
    """

    format_version: int
    created: str
    grainseg_version: str
    config: PatchConfig
    target: str
    n_folds: int
    leaky: bool
    warnings: tuple[str, ...]
    sources: tuple[SourceInfo, ...]
    patches: tuple[PatchRecord, ...]
    counts: dict[str, Any]

    def select(self, split: str, fold: int | None = None) -> tuple[PatchRecord, ...]:
        """Patches of one split (``"train"``, ``"val"`` or ``"test"``) in one fold.

        Parameters
        ----------
        split : {"train", "val", "test"}
        fold : int, optional
            Required for cross-validation datasets; must be None or 0 otherwise.

        Returns
        -------
        tuple of PatchRecord
        """
        if split not in ("train", "val", "test"):
            raise InputError(f"split must be 'train', 'val' or 'test'; got {split!r}.")
        index = self._fold_index(fold)
        return tuple(p for p in self.patches if p.split_in(index) == split)

    def _fold_index(self, fold: int | None) -> int:
        if fold is None:
            if self.n_folds > 1:
                raise InputError(
                    f"this dataset has {self.n_folds} cross-validation folds "
                    f"(split '{self.config.split}'); pass fold=0..{self.n_folds - 1}."
                )
            return 0
        if isinstance(fold, bool) or not isinstance(fold, (int, np.integer)) or not (
            0 <= int(fold) < self.n_folds
        ):
            raise InputError(f"fold must be an integer in [0, {self.n_folds - 1}]; got {fold!r}.")
        return int(fold)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (what ``manifest.json`` holds)."""
        return {
            "format": _FORMAT_TAG,
            "format_version": self.format_version,
            "created": self.created,
            "grainseg_version": self.grainseg_version,
            "config": self.config.to_dict(),
            "target": self.target,
            "n_folds": self.n_folds,
            "leaky": self.leaky,
            "warnings": list(self.warnings),
            "counts": as_json_data(self.counts),
            "sources": [as_json_data(asdict(s)) for s in self.sources],
            "patches": [as_json_data(asdict(p)) for p in self.patches],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Inverse of :meth:`to_dict`; raises :class:`DatasetError` on a malformed manifest."""
        if data.get("format") != _FORMAT_TAG:
            raise DatasetError(
                f"not a grainseg dataset manifest (format {data.get('format')!r}, "
                f"expected {_FORMAT_TAG!r})."
            )
        version = data.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
            raise DatasetError(
                f"dataset manifest format version {version!r} is not supported (this grainseg "
                f"reads versions 1..{FORMAT_VERSION}); update grainseg or re-export the dataset."
            )
        try:
            return cls(
                format_version=version,
                created=str(data["created"]),
                grainseg_version=str(data["grainseg_version"]),
                config=PatchConfig.from_dict(data["config"]),
                target=check_target(data["target"]),
                n_folds=int(data["n_folds"]),
                leaky=bool(data["leaky"]),
                warnings=tuple(str(w) for w in data["warnings"]),
                sources=tuple(SourceInfo.from_dict(s) for s in data["sources"]),
                patches=tuple(PatchRecord.from_dict(p) for p in data["patches"]),
                counts=dict(data["counts"]),
            )
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise DatasetError(f"dataset manifest is malformed: {type(exc).__name__}: {exc}") from exc


def write_manifest(manifest: Manifest, path: str | os.PathLike) -> Path:
    """Write a manifest atomically (temporary file, then rename).

    Parameters
    ----------
    manifest : Manifest
    path : str or path
        The dataset folder or the ``manifest.json`` path.

    Returns
    -------
    Path
        The manifest file written.
    """
    target = Path(path)
    if target.is_dir():
        target = target / MANIFEST_NAME
    return write_text_atomic(target, json.dumps(manifest.to_dict(), indent=1), fsync=True)


def read_manifest(path: str | os.PathLike) -> Manifest:
    """Read a dataset manifest.

    Parameters
    ----------
    path : str or path
        The dataset folder or its ``manifest.json``.

    Returns
    -------
    Manifest

    Examples
    --------
    >>> # manifest = read_manifest("datasets/tbm256"); manifest.counts["folds"][0]
    """
    file = Path(path)
    if file.is_dir():
        if (file / EXPORT_MARKER_NAME).exists() and not (file / MANIFEST_NAME).exists():
            raise DatasetError(
                f"dataset folder '{file}' holds an unfinished export (interrupted?); export "
                "it again with overwrite=True."
            )
        file = file / MANIFEST_NAME
    if not file.is_file():
        raise DatasetError(
            f"no dataset manifest at '{file}'; give a folder written by export_dataset."
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"dataset manifest '{file}' could not be read: {exc}") from exc
    if not isinstance(data, dict):
        raise DatasetError(f"dataset manifest '{file}' must hold a JSON object.")
    try:
        return Manifest.from_dict(data)
    except DatasetError as exc:
        raise DatasetError(f"'{file}': {exc}") from exc


def is_dataset_dir(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder holding a grainseg dataset (finished or interrupted)."""
    folder = Path(path)
    if (folder / EXPORT_MARKER_NAME).exists():
        return True
    file = folder / MANIFEST_NAME
    if not file.is_file():
        return False
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("format") == _FORMAT_TAG
