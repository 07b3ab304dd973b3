"""Training datasets on disk: image/label pairs -> patches, splits and a manifest.

The flow is ``pairs -> export_dataset -> folder``, and :class:`grainseg_core.datasets.GrainDataset`
reads the folder back. A dataset folder holds::

    out_dir/images/<source>_r<row>_c<col>.png   patch images, native dtype (8- or 16-bit PNG;
                                                float images as float32 TIFF)
    out_dir/labels/<source>_r<row>_c<col>.png   labels, 8-bit 0/255
    out_dir/manifest.json                       provenance, options, split of every patch

**Pairs.** Every source becomes an :class:`ImagePair` (image of native dtype, binary label,
pixel size, provenance): from arrays (:func:`pair_from_arrays`, e.g. EBSD-derived labels after
registration), from image + label files (:func:`pair_from_files`, :func:`pairs_from_folders`),
or from polygon annotations (:func:`pairs_from_annotations`). A label is a grain-*boundary* map
by default (``target="boundary"``); particle datasets use filled masks (``target="mask"``).

**Splits** (``PatchConfig.split``):

``"by_image"`` (default)
    whole images (or whole *groups*, e.g. all crops of one micrograph) go to train, val or
    test: no test pixel was ever seen in training. The validation set is also drawn by image
    when there are enough images, else at random from the training patches (the manifest
    says so in ``warnings``).
``"random_patch"``
    seed 000's protocol: each patch to train/val/test at random. **Leaky**: neighbouring
    patches of one image share grains and end up on both sides, so test scores overestimate
    performance on new images. The manifest has ``leaky=True`` and a warning.
``"column_cv"``
    seed 004's protocol: k-fold cross-validation by *chip columns*. The patch columns of
    every image are cut into ``n_folds`` contiguous bands; fold f tests on band f and
    trains on the others (validation: a random ``val_fraction`` of the training patches).
    (Seed 004 tested on single columns A, D and F of a 7-column grid; a partition of the
    columns uses every column for testing once.)
``"kfold_by_image"``
    k-fold cross-validation over whole images (groups).

**Remainders.** Patches start every ``stride`` pixels from the top-left corner. When the
image is not a whole number of strides, ``remainder="shift"`` (default) adds a last row /
column of patches aligned to the bottom / right edge (it overlaps its neighbour; every pixel
is covered), ``remainder="drop"`` leaves the remainder out. Images smaller than one patch
give no patches (listed in the manifest's warnings).

**Preprocessing** (on the whole image, before cutting, so that no patch edge shows):
median filter of size ``median`` (seed 000), then CLAHE (seed 003's local histogram
equalisation; OpenCV's ``createCLAHE`` on uint8/uint16 keeps the dtype; float images are
min-max scaled to [0, 1] and equalised with ``skimage.exposure.equalize_adapthist``).

Seed protocols as configurations::

    PatchConfig(size=128, median=3, split="random_patch", val_fraction=0, test_fraction=0.1)  # 000
    PatchConfig(size=256, split="column_cv", n_folds=3, val_fraction=0.1)                     # 004
    PatchConfig(size=256, clahe=True)                                                         # 003
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from grainseg_core._validation import as_2d_array, check_pixel_size, check_same_shape
from grainseg_core.errors import ConfigError, DatasetError, InputError
from grainseg_core.types import ProgressCallback

__all__ = [
    "ImagePair",
    "PatchConfig",
    "SourceInfo",
    "PatchRecord",
    "Manifest",
    "pair_from_arrays",
    "pair_from_files",
    "pairs_from_folders",
    "pairs_from_annotations",
    "read_label_file",
    "preprocess_image",
    "patch_grid",
    "extract_patches",
    "export_dataset",
    "write_manifest",
    "read_manifest",
    "is_dataset_dir",
    "MANIFEST_NAME",
    "FORMAT_VERSION",
    "SPLIT_METHODS",
]

#: File name of the manifest inside a dataset folder.
MANIFEST_NAME = "manifest.json"
#: Version of the manifest format written by this module.
FORMAT_VERSION = 1
#: Valid values of ``PatchConfig.split``.
SPLIT_METHODS = ("by_image", "random_patch", "column_cv", "kfold_by_image")

_FORMAT_TAG = "grainseg-dataset"
# Written when an export starts and removed when it ends: marks a folder as ours even
# when an export was interrupted, so that a retry may overwrite it.
_MARKER_NAME = ".grainseg-export-in-progress"
_TARGETS = ("boundary", "mask")
_IMAGE_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)
_IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
_TIFF_SUFFIXES = (".tif", ".tiff")

Target = Literal["boundary", "mask"]
SplitMethod = Literal["by_image", "random_patch", "column_cv", "kfold_by_image"]


# --------------------------------------------------------------------------------------
# Pairs
# --------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON data (paths -> str, numpy -> python, tuples -> lists)."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _check_target(target: Any, name: str = "target") -> str:
    if target not in _TARGETS:
        raise InputError(
            f"{name} must be 'boundary' (grain-boundary maps) or 'mask' (filled particles); "
            f"got {target!r}."
        )
    return str(target)


@dataclass(frozen=True, eq=False)
class ImagePair:
    """One source image with its binary label, ready to be cut into patches.

    Parameters
    ----------
    name : str
        Unique name of the source (becomes part of the patch file names).
    image : np.ndarray, shape (M, N)
        Gray image of native dtype: uint8, uint16, float32 or float64 (float64 is stored
        as float32).
    label : np.ndarray, shape (M, N)
        Binary label, stored as bool: True = grain boundary (``target="boundary"``) or
        foreground (``target="mask"``). bool, 0/1 and 0/255 arrays are accepted (> 0 is True).
    pixel_size_um : float, optional
        Micrometres per pixel.
    target : {"boundary", "mask"}
        What the label is.
    group : str, optional
        Images of one group never straddle splits under ``"by_image"`` / ``"kfold_by_image"``
        (e.g. several crops of one micrograph). Defaults to ``name``.
    source : dict
        Provenance (where the pair came from), JSON-ready; copied into the manifest.

    Examples
    --------
    >>> pair = ImagePair("a", np.zeros((64, 64), np.uint8), np.eye(64, dtype=bool))
    >>> pair.shape, pair.group, pair.target
    ((64, 64), 'a', 'boundary')
    """

    name: str
    image: np.ndarray
    label: np.ndarray
    pixel_size_um: float | None = None
    target: Target = "boundary"
    group: str | None = None
    source: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError(f"ImagePair name must be a non-empty string; got {self.name!r}.")
        image = as_2d_array(self.image, f"image of pair '{self.name}'")
        if image.dtype not in _IMAGE_DTYPES:
            raise InputError(
                f"image of pair '{self.name}' has dtype {image.dtype}; grainseg datasets store "
                "uint8, uint16 or float32 images: convert it first (e.g. image.astype(np.uint16))."
            )
        if image.dtype.kind == "f" and not np.isfinite(image).all():
            raise InputError(f"image of pair '{self.name}' contains NaN or infinite values.")
        label = as_2d_array(self.label, f"label of pair '{self.name}'")
        check_same_shape(label, image, f"label of pair '{self.name}'", "its image")
        if label.dtype != bool:
            if not np.issubdtype(label.dtype, np.number):
                raise InputError(
                    f"label of pair '{self.name}' must be bool or numeric; got dtype {label.dtype}."
                )
            label = label > 0
        group = self.name if self.group is None else str(self.group)
        object.__setattr__(self, "image", image)
        object.__setattr__(self, "label", label)
        object.__setattr__(
            self, "pixel_size_um", check_pixel_size(self.pixel_size_um, "pixel_size_um")
        )
        object.__setattr__(self, "target", _check_target(self.target))
        object.__setattr__(self, "group", group)
        try:
            object.__setattr__(self, "source", _jsonable(dict(self.source or {})))
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"source of pair '{self.name}' must be a JSON-ready dict (str, numbers, "
                f"paths, lists); {exc}."
            ) from exc

    @property
    def shape(self) -> tuple[int, int]:
        """``(M, N)`` of the image."""
        return (int(self.image.shape[0]), int(self.image.shape[1]))


def _to_gray(image: np.ndarray, name: str) -> np.ndarray:
    """(M, N) stays; (M, N, 3|4) RGB(A) -> luminance in the same dtype."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        rgb = np.ascontiguousarray(image[:, :, :3])
        if rgb.dtype in (np.uint8, np.uint16, np.float32):
            return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        weights = np.array([0.299, 0.587, 0.114])
        return (rgb.astype(np.float64) @ weights).astype(rgb.dtype)
    raise InputError(f"{name} must be gray (M, N) or colour (M, N, 3|4); got shape {image.shape}.")


def pair_from_arrays(
    image: np.ndarray,
    label: np.ndarray,
    *,
    name: str,
    pixel_size_um: float | None = None,
    target: Target = "boundary",
    group: str | None = None,
    source: Mapping[str, Any] | None = None,
) -> ImagePair:
    """Make an :class:`ImagePair` from in-memory arrays (e.g. a registered EBSD label).

    Parameters
    ----------
    image : np.ndarray, shape (M, N) or (M, N, 3|4)
        Gray or RGB(A) image; colour is turned to luminance in the same dtype.
    label : np.ndarray, shape (M, N)
        Binary label (bool, 0/1 or 0/255).
    name : str
        Unique name of the source.
    pixel_size_um, target, group
        See :class:`ImagePair`.
    source : dict, optional
        Provenance; ``{"kind": "arrays"}`` is added.

    Returns
    -------
    ImagePair

    Examples
    --------
    >>> pair = pair_from_arrays(np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32)), name="x")
    >>> pair.image.shape, pair.label.dtype
    ((32, 32), dtype('bool'))
    """
    img = _to_gray(np.asarray(image), f"image '{name}'")
    prov = {"kind": "arrays", **dict(source or {})}
    return ImagePair(
        name=name,
        image=img,
        label=np.asarray(label),
        pixel_size_um=pixel_size_um,
        target=target,
        group=group,
        source=prov,
    )


def _decode_file(path: Path, what: str) -> np.ndarray:
    """Read an image file of any supported format as stored (dtype and channels kept)."""
    if not path.is_file():
        raise DatasetError(f"{what} '{path}' does not exist or is not a file; check the path.")
    if path.suffix.lower() in _TIFF_SUFFIXES:
        import tifffile

        try:
            return np.asarray(tifffile.imread(path))
        except (OSError, ValueError, tifffile.TiffFileError) as exc:
            raise DatasetError(f"{what} '{path}' could not be read as TIFF: {exc}") from exc
    data = np.fromfile(path, dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if arr is None:
        raise DatasetError(
            f"{what} '{path}' could not be decoded as an image (PNG, JPEG, BMP or TIFF expected)."
        )
    if arr.ndim == 3:
        # OpenCV decodes colour as BGR(A); the rest of grainseg works in RGB.
        arr = arr[:, :, [2, 1, 0, 3][: arr.shape[2]]] if arr.shape[2] in (3, 4) else arr
    return arr


def _read_image(path: Path) -> tuple[np.ndarray, float | None]:
    """Read a micrograph as gray native dtype, with its pixel size when the file has one."""
    try:
        from grainseg_core.io import read_image
    except ImportError:  # the io package is not there yet: decode directly
        return _to_gray(_decode_file(path, "image file"), f"image file '{path}'"), None
    image, meta = read_image(path)
    return _to_gray(np.asarray(image), f"image file '{path}'"), getattr(meta, "pixel_size_um", None)


def read_label_file(
    source: str | os.PathLike,
    *,
    foreground: Literal["white", "black"] = "white",
    threshold: float = 128,
) -> np.ndarray:
    """Read a label image (boundary map or mask) as a boolean array.

    Parameters
    ----------
    source : str or path
        PNG, TIFF, JPEG or BMP file; gray or colour (colour is averaged), 8- or 16-bit, or
        float. 0/1 images are read as 0/255, 16-bit images are brought to the 0-255 scale.
    foreground : {"white", "black"}
        Colour of the boundary (or mask foreground): ``"white"`` for white lines on black
        (AutoSAM TBM masks, grainseg's own labels), ``"black"`` for black lines on white
        (TBM ``labels_128``).
    threshold : float
        On the 0-255 scale: white foreground is ``value >= threshold``, black foreground
        ``value < threshold``. 128 splits anti-aliased edges down the middle.

    Returns
    -------
    np.ndarray of bool, shape (M, N)
        True = boundary / foreground.

    Examples
    --------
    >>> import tempfile, cv2, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "m.png"
    >>> _ = cv2.imwrite(str(path), np.array([[0, 255], [200, 10]], np.uint8))
    >>> read_label_file(path).tolist()
    [[False, True], [True, False]]
    >>> read_label_file(path, foreground="black").tolist()
    [[True, False], [False, True]]
    """
    if foreground not in ("white", "black"):
        raise InputError(f"foreground must be 'white' or 'black'; got {foreground!r}.")
    thr = float(threshold)
    if not (math.isfinite(thr) and 0 < thr <= 255):
        raise InputError(f"threshold must lie in (0, 255] on the 8-bit scale; got {threshold!r}.")
    path = Path(source)
    arr = _decode_file(path, "label file")
    if arr.ndim == 3:
        arr = arr[:, :, :3].mean(axis=2) if arr.shape[2] >= 3 else arr[:, :, 0]
    if arr.ndim != 2:
        raise DatasetError(f"label file '{path}' must hold a 2-D image; got shape {arr.shape}.")
    values = arr.astype(np.float32)
    top = float(values.max()) if values.size else 0.0
    if arr.dtype == bool or top <= 1.0:
        values = values * 255.0  # 0/1 labels, or float labels in [0, 1]
    elif top > 255.0:
        values = values / 257.0  # 16-bit labels: 65535 -> 255
    return values >= thr if foreground == "white" else values < thr


def _group_of(stem: str, group_pattern: str | None) -> str | None:
    if group_pattern is None:
        return None
    match = re.search(group_pattern, stem)
    if match is None:
        return stem
    return match.group(1) if match.groups() else match.group(0)


def pair_from_files(
    image_path: str | os.PathLike,
    label_path: str | os.PathLike,
    *,
    name: str | None = None,
    foreground: Literal["white", "black"] = "white",
    threshold: float = 128,
    target: Target = "boundary",
    pixel_size_um: float | None = None,
    group: str | None = None,
) -> ImagePair:
    """Read one image file and its label file into an :class:`ImagePair`.

    Parameters
    ----------
    image_path : str or path
        The micrograph (read with :func:`grainseg_core.io.read_image`; colour -> gray).
    label_path : str or path
        The label image; see :func:`read_label_file` for ``foreground`` and ``threshold``.
    name : str, optional
        Source name; the image file's stem by default.
    target : {"boundary", "mask"}
        What the label is.
    pixel_size_um : float, optional
        Overrides the pixel size read from the image's metadata.
    group : str, optional
        See :class:`ImagePair`.

    Returns
    -------
    ImagePair

    Examples
    --------
    >>> # pair = pair_from_files("sem/01.tif", "gb/01.png", foreground="white")
    """
    img_path, lab_path = Path(image_path), Path(label_path)
    image, meta_px = _read_image(img_path)
    label = read_label_file(lab_path, foreground=foreground, threshold=threshold)
    if label.shape != image.shape:
        raise DatasetError(
            f"label file '{lab_path}' (shape {label.shape}) does not match image file "
            f"'{img_path}' (shape {image.shape}); give labels of the image's size."
        )
    px = pixel_size_um if pixel_size_um is not None else meta_px
    return ImagePair(
        name=name or img_path.stem,
        image=image,
        label=label,
        pixel_size_um=px,
        target=target,
        group=group,
        source={
            "kind": "files",
            "image": str(img_path),
            "label": str(lab_path),
            "foreground": foreground,
            "threshold": float(threshold),
        },
    )


def _list_images(folder: Path, what: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise DatasetError(f"{what} '{folder}' is not a folder; check the path.")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)
    by_stem: dict[str, Path] = {}
    for path in files:
        if path.stem in by_stem:
            raise DatasetError(
                f"{what} '{folder}' holds two images named '{path.stem}' "
                f"({by_stem[path.stem].name}, {path.name}); keep one."
            )
        by_stem[path.stem] = path
    return by_stem


def pairs_from_folders(
    image_dir: str | os.PathLike,
    label_dir: str | os.PathLike,
    *,
    foreground: Literal["white", "black"] = "white",
    threshold: float = 128,
    target: Target = "boundary",
    pixel_size_um: float | None = None,
    group_pattern: str | None = None,
    strict: bool = True,
    names: Iterable[str] | None = None,
) -> list[ImagePair]:
    """Pair the images of one folder with the same-named labels of another.

    Parameters
    ----------
    image_dir, label_dir : str or path
        Folders of images and labels; files match by stem (``a.tif`` <-> ``a.png``).
    foreground, threshold, target, pixel_size_um
        As in :func:`pair_from_files`.
    group_pattern : str, optional
        Regular expression searched in each stem; its first group (or whole match) is the
        pair's group, so that e.g. crops ``10-256-512`` and ``10-0-768`` of micrograph 10
        stay on one side of a by-image split: ``group_pattern=r"^(\\d+)-"``.
    strict : bool
        Raise when an image has no label (or the reverse); with False such files are
        skipped.
    names : iterable of str, optional
        Only these stems (in this order).

    Returns
    -------
    list of ImagePair
        Sorted by stem.

    Examples
    --------
    >>> # pairs = pairs_from_folders("TBM/TrainDataset/images", "TBM/TrainDataset/masks",
    >>> #                            group_pattern=r"^(\\d+)-")
    """
    images = _list_images(Path(image_dir), "image folder")
    labels = _list_images(Path(label_dir), "label folder")
    if names is not None:
        wanted = [str(n) for n in names]
        missing = [n for n in wanted if n not in images]
        if missing:
            raise DatasetError(
                f"image folder '{image_dir}' has no image named {missing[:5]}; "
                f"available: {sorted(images)[:10]}."
            )
        stems = wanted
    else:
        stems = sorted(images)
        extra_labels = sorted(set(labels) - set(images))
        if strict and extra_labels:
            raise DatasetError(
                f"label folder '{label_dir}' has labels without images: {extra_labels[:5]}; "
                "remove them or pass strict=False to skip them."
            )
    no_label = [s for s in stems if s not in labels]
    if strict and no_label:
        raise DatasetError(
            f"images without a label in '{label_dir}': {no_label[:5]}; add the labels or "
            "pass strict=False to skip those images."
        )
    pairs = [
        pair_from_files(
            images[s],
            labels[s],
            name=s,
            foreground=foreground,
            threshold=threshold,
            target=target,
            pixel_size_um=pixel_size_um,
            group=_group_of(s, group_pattern),
        )
        for s in stems
        if s in labels
    ]
    if not pairs:
        raise DatasetError(
            f"no image in '{image_dir}' has a label of the same name in '{label_dir}'."
        )
    return pairs


def _fill_polygons(polygons: Sequence[Any], shape: tuple[int, int]) -> np.ndarray:
    from grainseg_core.io import polygons_to_mask

    return np.asarray(polygons_to_mask(list(polygons), shape)).astype(bool)


def pairs_from_annotations(
    annotations: Any,
    image_dir: str | os.PathLike,
    *,
    target: Target = "mask",
    pixel_size_um: float | None = None,
    group_pattern: str | None = None,
    strict: bool = True,
) -> list[ImagePair]:
    """Rebuild labels from polygon annotations and pair them with their images.

    Parameters
    ----------
    annotations : path, AnnotationSet or dict
        A polygon CSV (seed 001's format, :func:`grainseg_core.io.read_polygon_csv`) or a
        COCO JSON file (``.json``, :func:`grainseg_core.io.read_coco_polygons`), or what
        those return (an ``AnnotationSet``, or a dict from image base name to
        ``ImageAnnotations``).
    image_dir : str or path
        Folder of the images named in the annotations (matched by base name).
    target : {"mask", "boundary"}
        ``"mask"`` (default, particles): the filled polygons. ``"boundary"``: the outlines
        of the filled polygons (``skimage.segmentation.find_boundaries``, mode "inner").
    pixel_size_um : float, optional
        Overrides the pixel size read from the images.
    group_pattern : str, optional
        As in :func:`pairs_from_folders` (searched in the image stem).
    strict : bool
        Raise when an annotated image is missing from ``image_dir``; with False it is skipped.
        Images listed with no polygon get an empty label.

    Returns
    -------
    list of ImagePair
        In the annotations' order.

    Examples
    --------
    >>> # pairs = pairs_from_annotations("polygons.csv", "images/")
    """
    _check_target(target)
    images, described = _read_annotations(annotations)
    folder = Path(image_dir)
    if not folder.is_dir():
        raise DatasetError(f"image folder '{folder}' is not a folder; check the path.")
    pairs: list[ImagePair] = []
    missing: list[str] = []
    for image_name, item in images.items():
        path = folder / image_name
        if not path.is_file():
            missing.append(image_name)
            continue
        image, meta_px = _read_image(path)
        mask = _fill_polygons(item.polygons, image.shape)
        if target == "boundary":
            from skimage.segmentation import find_boundaries

            mask = find_boundaries(mask, mode="inner")
        stem = Path(image_name).stem
        pairs.append(
            ImagePair(
                name=stem,
                image=image,
                label=mask,
                pixel_size_um=pixel_size_um if pixel_size_um is not None else meta_px,
                target=target,
                group=_group_of(stem, group_pattern),
                source={
                    "kind": "annotations",
                    "annotations": described,
                    "image": str(path),
                    "n_polygons": len(item.polygons),
                },
            )
        )
    if missing and strict:
        raise DatasetError(
            f"{len(missing)} annotated image(s) are not in '{folder}': {missing[:5]}; add them "
            "or pass strict=False to skip them."
        )
    if not pairs:
        raise DatasetError(f"none of the annotated images was found in '{folder}'.")
    return pairs


def _read_annotations(annotations: Any) -> tuple[dict[str, Any], str]:
    """Return ({image base name: ImageAnnotations}, description of the source)."""
    if hasattr(annotations, "images"):  # an AnnotationSet
        return dict(annotations.images), str(getattr(annotations, "source_name", "annotations"))
    if isinstance(annotations, Mapping):  # read_coco_polygons' result
        return dict(annotations), "annotations"
    from grainseg_core.io import read_coco_polygons, read_polygon_csv

    path = Path(annotations)
    if path.suffix.lower() == ".json":
        return dict(read_coco_polygons(path)), str(path)
    return dict(read_polygon_csv(path).images), str(path)


# --------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------


def _int_option(value: Any, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an integer; got {value!r}.")
    out = int(value)
    if out < low or (high is not None and out > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ConfigError(f"{name} must be {bound}; got {out}.")
    return out


def _fraction_option(value: Any, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number in [0, 1); got {value!r}.") from exc
    if not (math.isfinite(out) and 0.0 <= out < 1.0):
        raise ConfigError(f"{name} must lie in [0, 1); got {value!r}.")
    return out


@dataclass(frozen=True)
class PatchConfig:
    """How :func:`export_dataset` cuts, preprocesses and splits.

    Parameters
    ----------
    size : int
        Patch side in pixels (square patches), >= 32: e.g. 128 (seed 000), 256 (seed 004), 512.
    stride : int, optional
        Step between patch origins; ``None`` = ``size`` (non-overlapping).
    remainder : {"shift", "drop"}
        Right/bottom remainder: add a last patch aligned to the edge, or leave it out.
    median : int
        Median filter size (odd, >= 3); 0 = off (seed 000 used a median filter).
    clahe : bool
        Contrast-limited adaptive histogram equalisation (seed 003).
    clahe_clip_limit : float
        OpenCV clip limit (> 0; 2 is common).
    clahe_tiles : int
        Tiles per image side for CLAHE.
    min_label_fraction : float
        Keep only patches whose label covers at least this fraction (0 keeps all).
    split : {"by_image", "random_patch", "column_cv", "kfold_by_image"}
        See the module docstring.
    val_fraction, test_fraction : float
        Fractions of images (by-image splits) or patches (random split) for validation and
        test; ``test_fraction`` is unused by the cross-validation splits.
    n_folds : int
        Folds of the cross-validation splits (>= 2).
    seed : int
        Seed of every random choice in the split.
    normalize : str
        Method name given to :func:`grainseg_core.io.normalize_image` when patches are loaded.

    Examples
    --------
    >>> PatchConfig(size=128, median=3, split="random_patch", val_fraction=0).stride_px
    128
    """

    size: int = 256
    stride: int | None = None
    remainder: Literal["shift", "drop"] = "shift"
    median: int = 0
    clahe: bool = False
    clahe_clip_limit: float = 2.0
    clahe_tiles: int = 8
    min_label_fraction: float = 0.0
    split: SplitMethod = "by_image"
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    n_folds: int = 3
    seed: int = 0
    normalize: str = "percentile"

    def __post_init__(self) -> None:
        _int_option(self.size, "PatchConfig.size", 32)
        if self.stride is not None:
            _int_option(self.stride, "PatchConfig.stride", 1, int(self.size))
        if self.remainder not in ("shift", "drop"):
            raise ConfigError(
                f"PatchConfig.remainder must be 'shift' or 'drop'; got {self.remainder!r}."
            )
        median = _int_option(self.median, "PatchConfig.median", 0)
        if median not in (0, 1) and median % 2 == 0:
            raise ConfigError(f"PatchConfig.median must be odd (3, 5, ...) or 0; got {median}.")
        if not isinstance(self.clahe, (bool, np.bool_)):
            raise ConfigError(f"PatchConfig.clahe must be True or False; got {self.clahe!r}.")
        clip = float(self.clahe_clip_limit)
        if not (math.isfinite(clip) and clip > 0):
            raise ConfigError(f"PatchConfig.clahe_clip_limit must be > 0; got {clip}.")
        _int_option(self.clahe_tiles, "PatchConfig.clahe_tiles", 1, 64)
        frac = float(self.min_label_fraction)
        if not (math.isfinite(frac) and 0.0 <= frac <= 1.0):
            raise ConfigError(f"PatchConfig.min_label_fraction must lie in [0, 1]; got {frac}.")
        if self.split not in SPLIT_METHODS:
            from grainseg_core.errors import unknown_name_error

            raise unknown_name_error("split method", str(self.split), SPLIT_METHODS)
        val = _fraction_option(self.val_fraction, "PatchConfig.val_fraction")
        test = _fraction_option(self.test_fraction, "PatchConfig.test_fraction")
        if self.split in ("by_image", "random_patch") and val + test >= 1.0:
            raise ConfigError(
                f"PatchConfig.val_fraction + test_fraction must be < 1 to leave training data; "
                f"got {val} + {test}."
            )
        _int_option(self.n_folds, "PatchConfig.n_folds", 2, 20)
        _int_option(self.seed, "PatchConfig.seed", 0)
        if not isinstance(self.normalize, str) or not self.normalize:
            raise ConfigError(f"PatchConfig.normalize must be a method name; got {self.normalize!r}.")
        # Store canonical Python types so that the manifest round-trips exactly.
        for name, kind in (("clahe_clip_limit", float), ("min_label_fraction", float),
                           ("val_fraction", float), ("test_fraction", float), ("clahe", bool)):
            object.__setattr__(self, name, kind(getattr(self, name)))
        for name in ("size", "median", "clahe_tiles", "n_folds", "seed"):
            object.__setattr__(self, name, int(getattr(self, name)))
        if self.stride is not None:
            object.__setattr__(self, "stride", int(self.stride))

    @property
    def stride_px(self) -> int:
        """The stride in pixels (``size`` when ``stride`` is None)."""
        return self.size if self.stride is None else self.stride

    @property
    def is_cv(self) -> bool:
        """True for the cross-validation splits (several folds)."""
        return self.split in ("column_cv", "kfold_by_image")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PatchConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        known = {f.name for f in fields(cls)}
        extra = set(data) - known
        if extra:
            raise ConfigError(f"unknown PatchConfig keys {sorted(extra)}; valid: {sorted(known)}.")
        return cls(**dict(data))


# --------------------------------------------------------------------------------------
# Preprocessing and cutting
# --------------------------------------------------------------------------------------


def preprocess_image(image: np.ndarray, config: PatchConfig | None = None) -> np.ndarray:
    """Apply the configured median filter and CLAHE to a whole image.

    Parameters
    ----------
    image : np.ndarray, shape (M, N)
        uint8, uint16 or float image.
    config : PatchConfig, optional
        Uses ``median``, ``clahe``, ``clahe_clip_limit`` and ``clahe_tiles``.

    Returns
    -------
    np.ndarray, shape (M, N)
        uint8/uint16 images keep their dtype; float images come back float32 (in [0, 1]
        when CLAHE is on).

    Examples
    --------
    >>> img = np.zeros((9, 9), np.uint8); img[4, 4] = 255
    >>> int(preprocess_image(img, PatchConfig(median=3)).max())
    0
    """
    cfg = PatchConfig() if config is None else config
    img = as_2d_array(image, "image")
    if img.dtype not in _IMAGE_DTYPES:
        raise InputError(f"image must be uint8, uint16 or float; got dtype {img.dtype}.")
    if img.dtype == np.float64:
        img = img.astype(np.float32)
    if cfg.median >= 3:
        # OpenCV's median is fast for uint8 at any size and for 16-bit/float up to 5.
        if img.dtype == np.uint8 or cfg.median <= 5:
            img = cv2.medianBlur(np.ascontiguousarray(img), cfg.median)
        else:
            from scipy.ndimage import median_filter

            img = median_filter(img, size=cfg.median, mode="reflect")
    if cfg.clahe:
        rows, cols = img.shape
        tiles = (max(1, min(cfg.clahe_tiles, cols)), max(1, min(cfg.clahe_tiles, rows)))
        if img.dtype in (np.uint8, np.uint16):
            clahe = cv2.createCLAHE(clipLimit=cfg.clahe_clip_limit, tileGridSize=tiles)
            img = clahe.apply(np.ascontiguousarray(img))
        else:
            from skimage.exposure import equalize_adapthist

            lo, hi = float(img.min()), float(img.max())
            unit = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
            # skimage's clip limit is normalised (0.01 ~ OpenCV's 2 at 8x8 tiles on 8-bit).
            kernel = (max(1, rows // tiles[1]), max(1, cols // tiles[0]))
            img = equalize_adapthist(
                unit, kernel_size=kernel, clip_limit=cfg.clahe_clip_limit / 200.0
            ).astype(np.float32)
    return img


def _starts(length: int, size: int, stride: int, remainder: str) -> np.ndarray:
    if length < size:
        return np.zeros(0, dtype=np.int64)
    starts = np.arange(0, length - size + 1, stride, dtype=np.int64)
    if remainder == "shift" and starts[-1] + size < length:
        starts = np.append(starts, length - size)
    return starts


def patch_grid(
    shape: tuple[int, int],
    *,
    size: int,
    stride: int | None = None,
    remainder: Literal["shift", "drop"] = "shift",
) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners of the patch grid over an image.

    Parameters
    ----------
    shape : tuple of int
        ``(M, N)`` of the image.
    size : int
        Patch side.
    stride : int, optional
        Step between origins (``size`` by default: non-overlapping).
    remainder : {"shift", "drop"}
        ``"shift"``: a last row/column of patches aligned to the bottom/right edge when the
        image is not a whole number of strides; ``"drop"``: the remainder is left out.

    Returns
    -------
    rows, cols : np.ndarray of int64
        Start rows and start columns; the patches are their Cartesian product. Empty when
        the image is smaller than one patch.

    Examples
    --------
    >>> rows, cols = patch_grid((300, 512), size=256)
    >>> rows.tolist(), cols.tolist()
    ([0, 44], [0, 256])
    >>> patch_grid((300, 512), size=256, remainder="drop")[0].tolist()
    [0]
    """
    if len(tuple(shape)) != 2:
        raise InputError(f"shape must be (M, N); got {shape!r}.")
    size_px = _int_option(size, "size", 1)
    stride_px = size_px if stride is None else _int_option(stride, "stride", 1)
    if remainder not in ("shift", "drop"):
        raise InputError(f"remainder must be 'shift' or 'drop'; got {remainder!r}.")
    rows, cols = (int(v) for v in shape)
    return (
        _starts(rows, size_px, stride_px, remainder),
        _starts(cols, size_px, stride_px, remainder),
    )


def extract_patches(
    image: np.ndarray,
    label: np.ndarray,
    *,
    size: int,
    stride: int | None = None,
    remainder: Literal["shift", "drop"] = "shift",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut an image and its label into square patches.

    Parameters
    ----------
    image : np.ndarray, shape (M, N)
    label : np.ndarray, shape (M, N)
    size, stride, remainder
        See :func:`patch_grid`.

    Returns
    -------
    images : np.ndarray, shape (P, size, size)
        Same dtype as ``image``.
    labels : np.ndarray, shape (P, size, size)
        Same dtype as ``label``.
    coords : np.ndarray of int64, shape (P, 2)
        ``(row, col)`` of each patch's top-left pixel in the source, row-major order.

    Examples
    --------
    >>> img = np.arange(64 * 96).reshape(64, 96)
    >>> patches, _, coords = extract_patches(img, img > 0, size=32)
    >>> patches.shape, coords[:2].tolist()
    ((6, 32, 32), [[0, 0], [0, 32]])
    >>> bool((patches[1] == img[0:32, 32:64]).all())
    True
    """
    img = as_2d_array(image, "image")
    lab = as_2d_array(label, "label")
    check_same_shape(lab, img, "label", "image")
    rows, cols = patch_grid(img.shape, size=size, stride=stride, remainder=remainder)
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    coords = np.stack([rr.ravel(), cc.ravel()], axis=1).astype(np.int64)
    if coords.shape[0] == 0:
        empty = (0, int(size), int(size))
        return np.zeros(empty, img.dtype), np.zeros(empty, lab.dtype), coords
    offsets = np.arange(int(size))
    # Fancy indexing gathers every patch in one vectorised copy.
    r_idx = (coords[:, 0, None] + offsets)[:, :, None]
    c_idx = (coords[:, 1, None] + offsets)[:, None, :]
    return img[r_idx, c_idx], lab[r_idx, c_idx], coords


# --------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------


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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourceInfo:
        d = dict(data)
        d["shape"] = tuple(int(v) for v in d["shape"])
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
        return tuple(p for p in self.patches if p.splits[index] == split)

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
            "counts": _jsonable(self.counts),
            "sources": [_jsonable(asdict(s)) for s in self.sources],
            "patches": [_jsonable(asdict(p)) for p in self.patches],
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
                target=_check_target(data["target"]),
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
    text = json.dumps(manifest.to_dict(), indent=1)
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


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
        if (file / _MARKER_NAME).exists() and not (file / MANIFEST_NAME).exists():
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
    if (folder / _MARKER_NAME).exists():
        return True
    file = folder / MANIFEST_NAME
    if not file.is_file():
        return False
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("format") == _FORMAT_TAG


# --------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------

_LEAK_RANDOM = (
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


def _assign_splits(
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
        warnings.append(_LEAK_RANDOM)
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


# --------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------


def _safe_name(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return safe or "image"


def _prepare_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DatasetError(f"output '{out}' exists and is a file; give a folder path.")
    if out.is_dir() and any(out.iterdir()):
        if not is_dataset_dir(out):
            raise DatasetError(
                f"output folder '{out}' is not empty and is not a grainseg dataset; refusing to "
                "write into it. Choose a new or empty folder."
            )
        if not overwrite:
            raise DatasetError(
                f"output folder '{out}' already holds a grainseg dataset; pass overwrite=True "
                "to replace it, or choose another folder."
            )
        # Only what an export writes is removed; anything else the user put there stays.
        for sub in ("images", "labels"):
            if (out / sub).is_dir():
                shutil.rmtree(out / sub)
        (out / MANIFEST_NAME).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / _MARKER_NAME).write_text("export in progress\n", encoding="utf-8")
    (out / "images").mkdir()
    (out / "labels").mkdir()


def _encode(path: Path, array: np.ndarray) -> None:
    if array.dtype == np.float32:
        import tifffile

        tifffile.imwrite(path, array)
        return
    ok, buf = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise DatasetError(f"could not encode patch '{path.name}' as PNG.")
    path.write_bytes(buf.tobytes())


def _check_pairs(pairs: Any) -> list[ImagePair]:
    if isinstance(pairs, ImagePair):
        pairs = [pairs]
    items = list(pairs) if pairs is not None else []
    if not items:
        raise DatasetError("no image pairs were given: an empty dataset cannot be exported.")
    for i, item in enumerate(items):
        if not isinstance(item, ImagePair):
            raise InputError(
                f"pairs[{i}] must be an ImagePair (see pair_from_arrays / pairs_from_folders); "
                f"got {type(item).__name__}."
            )
    seen: dict[str, str] = {}
    for item in items:
        safe = _safe_name(item.name)
        if safe in seen:
            raise DatasetError(
                f"two pairs share the name '{item.name}' (as a file name '{safe}', also "
                f"'{seen[safe]}'); give every source a unique name."
            )
        seen[safe] = item.name
    targets = sorted({p.target for p in items})
    if len(targets) > 1:
        raise DatasetError(
            f"pairs mix label targets {targets}; a dataset holds boundary maps or masks, not both."
        )
    return items


def export_dataset(
    pairs: Iterable[ImagePair],
    out_dir: str | os.PathLike,
    config: PatchConfig | None = None,
    *,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> Manifest:
    """Cut image pairs into patches, split them, and write a dataset folder.

    Parameters
    ----------
    pairs : iterable of ImagePair
        The sources (unique names; one target kind).
    out_dir : str or path
        Folder to write (created if needed). A non-empty folder is refused unless it holds a
        grainseg dataset and ``overwrite=True``.
    config : PatchConfig, optional
        Patch size, preprocessing, filtering and split; ``PatchConfig()`` by default.
    overwrite : bool
        Replace an existing grainseg dataset in ``out_dir``.
    progress : callable, optional
        ``progress(done, total)`` after each source image.

    Returns
    -------
    Manifest
        Also written to ``out_dir/manifest.json`` (atomically, last).

    Raises
    ------
    DatasetError
        No pairs, no patch left, too few images for the split, or an unusable ``out_dir``.

    Examples
    --------
    >>> import tempfile
    >>> rng = np.random.default_rng(0)
    >>> pairs = [ImagePair(f"im{i}", rng.integers(0, 255, (64, 64), dtype=np.uint8),
    ...                    rng.random((64, 64)) > 0.9) for i in range(3)]
    >>> m = export_dataset(pairs, tempfile.mkdtemp(), PatchConfig(size=32, val_fraction=0.3))
    >>> m.counts["folds"][0]
    {'train': 4, 'val': 4, 'test': 4}
    """
    items = _check_pairs(pairs)
    cfg = PatchConfig() if config is None else config
    if not isinstance(cfg, PatchConfig):
        raise InputError(f"config must be a PatchConfig; got {type(cfg).__name__}.")
    out = Path(out_dir)
    _prepare_out_dir(out, overwrite)
    try:
        manifest = _export(items, out, cfg, progress)
        write_manifest(manifest, out / MANIFEST_NAME)
    except BaseException:
        # Leave no half-written dataset behind: remove what this export wrote.
        for sub in ("images", "labels"):
            shutil.rmtree(out / sub, ignore_errors=True)
        (out / MANIFEST_NAME).unlink(missing_ok=True)
        (out / _MARKER_NAME).unlink(missing_ok=True)
        raise
    (out / _MARKER_NAME).unlink(missing_ok=True)
    return manifest


def _export(
    items: list[ImagePair], out: Path, cfg: PatchConfig, progress: ProgressCallback | None
) -> Manifest:
    from grainseg_core import __version__

    warnings: list[str] = []
    sources: list[SourceInfo] = []
    records: list[dict[str, Any]] = []
    groups: list[str] = []
    n_columns: dict[str, int] = {}
    total = len(items)
    for done, pair in enumerate(items, start=1):
        image = preprocess_image(pair.image, cfg)
        rows, cols = patch_grid(
            image.shape, size=cfg.size, stride=cfg.stride, remainder=cfg.remainder
        )
        if rows.size == 0 or cols.size == 0:
            warnings.append(
                f"image '{pair.name}' (shape {pair.shape}) is smaller than one "
                f"{cfg.size}x{cfg.size} patch and gave no patches."
            )
        coords, fractions = _grid_fractions(pair.label, rows, cols, cfg.size)
        keep = fractions >= cfg.min_label_fraction
        col_index = {int(c): j for j, c in enumerate(cols.tolist())}
        n_columns[pair.name] = int(cols.size)
        stem = _safe_name(pair.name)
        for i in np.flatnonzero(keep):
            row, col = int(coords[i, 0]), int(coords[i, 1])
            pid = f"{stem}_r{row:05d}_c{col:05d}"
            # Slices, not a stacked copy: overlapping grids would multiply the memory.
            patch = np.ascontiguousarray(image[row : row + cfg.size, col : col + cfg.size])
            label = pair.label[row : row + cfg.size, col : col + cfg.size]
            ext = ".tif" if patch.dtype == np.float32 else ".png"
            _encode(out / "images" / f"{pid}{ext}", patch)
            _encode(out / "labels" / f"{pid}.png", label.astype(np.uint8) * np.uint8(255))
            records.append(
                {
                    "id": pid,
                    "source": pair.name,
                    "row": row,
                    "col": col,
                    "column": col_index[col],
                    "size": cfg.size,
                    "image": f"images/{pid}{ext}",
                    "label": f"labels/{pid}.png",
                    "label_fraction": float(fractions[i]),
                    "sha1": hashlib.sha1(patch.tobytes()).hexdigest(),
                }
            )
            groups.append(pair.group)
        sources.append(
            SourceInfo(
                name=pair.name,
                group=pair.group,
                shape=pair.shape,
                dtype=str(image.dtype),
                pixel_size_um=pair.pixel_size_um,
                label_fraction=float(pair.label.mean()),
                n_patches=int(keep.sum()),
                n_filtered=int((~keep).sum()),
                provenance=dict(pair.source),
            )
        )
        if progress is not None:
            progress(done, total)

    if not records:
        raise DatasetError(
            f"no patch was kept from {total} image(s): "
            + (
                f"every patch has less than min_label_fraction={cfg.min_label_fraction} "
                "label pixels; lower it."
                if any(s.n_filtered for s in sources)
                else f"every image is smaller than the {cfg.size}x{cfg.size} patch size."
            )
        )
    split_arr, split_warnings = _assign_splits(
        groups,
        [r["source"] for r in records],
        [r["column"] for r in records],
        n_columns,
        [r["id"] for r in records],
        cfg,
    )
    warnings.extend(split_warnings)
    leaky = cfg.split == "random_patch" or _columns_overlap(cfg, records, split_arr)
    if leaky and cfg.split == "column_cv":
        warnings.append(
            "column_cv with overlapping patches (stride < size, or a shifted last column) is "
            "LEAKY: test columns share pixels with training columns. Use remainder='drop' "
            "and stride=None."
        )
    patch_records = tuple(
        PatchRecord(**r, splits=tuple(str(s) for s in split_arr[i]))
        for i, r in enumerate(records)
    )
    n_folds = split_arr.shape[1]
    folds = [
        {s: int((split_arr[:, f] == s).sum()) for s in ("train", "val", "test")}
        for f in range(n_folds)
    ]
    for f, fold_counts in enumerate(folds):
        if fold_counts["train"] == 0:
            raise DatasetError(
                f"fold {f} has no training patch (all patches filtered out or held out); lower "
                "min_label_fraction, val_fraction or test_fraction, or add images."
            )
        for s, frac in (("val", cfg.val_fraction), ("test", cfg.test_fraction)):
            if frac > 0 and fold_counts[s] == 0 and not (s == "test" and cfg.is_cv):
                warnings.append(f"fold {f}: the {s} set is empty (its images gave no patch).")
    return Manifest(
        format_version=FORMAT_VERSION,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        grainseg_version=str(__version__),
        config=cfg,
        target=items[0].target,
        n_folds=int(n_folds),
        leaky=bool(leaky),
        warnings=tuple(warnings),
        sources=tuple(sources),
        patches=patch_records,
        counts={"patches": len(patch_records), "sources": len(sources), "folds": folds},
    )


def _grid_fractions(
    label: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Patch corners (P, 2) in row-major order and the label fraction of each patch."""
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    coords = np.stack([rr.ravel(), cc.ravel()], axis=1).astype(np.int64)
    if coords.shape[0] == 0:
        return coords, np.zeros(0)
    # Summed-area table: every patch sum in O(1), whatever the overlap.
    sat = np.zeros((label.shape[0] + 1, label.shape[1] + 1), np.int64)
    sat[1:, 1:] = label.cumsum(axis=0, dtype=np.int64).cumsum(axis=1)
    r, c = coords[:, 0], coords[:, 1]
    sums = sat[r + size, c + size] - sat[r, c + size] - sat[r + size, c] + sat[r, c]
    return coords, sums / float(size * size)


def _columns_overlap(cfg: PatchConfig, records: list[dict[str, Any]], splits: np.ndarray) -> bool:
    """True when, in some fold, a test patch overlaps a training patch of the same source."""
    if cfg.split != "column_cv":
        return False
    by_source: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_source.setdefault(r["source"], []).append(i)
    for idx in by_source.values():
        cols = np.array([records[i]["col"] for i in idx])
        for f in range(splits.shape[1]):
            lab = splits[idx, f]
            test_cols = np.unique(cols[lab == "test"])
            other_cols = np.unique(cols[lab != "test"])
            if test_cols.size and other_cols.size:
                gap = np.abs(test_cols[:, None] - other_cols[None, :]).min()
                if gap < cfg.size:
                    return True
    return False
