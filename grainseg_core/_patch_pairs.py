"""Image/label pairs: the common in-memory source of a dataset, and its adapters.

Private module of :mod:`grainseg_core.patching`; import from there.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from grainseg_core._patch_config import Target, as_json_data, check_target
from grainseg_core._validation import as_2d_array, check_pixel_size, check_same_shape
from grainseg_core.errors import DatasetError, InputError
from grainseg_core.io import (
    LUMA_BT709,
    polygons_to_mask,
    read_coco_polygons,
    read_image,
    read_polygon_csv,
)

__all__ = [
    "ImagePair",
    "pair_from_arrays",
    "pair_from_files",
    "pairs_from_folders",
    "pairs_from_annotations",
    "read_label_file",
    "IMAGE_DTYPES",
]

#: Image dtypes a source image may have (others are refused or converted by the readers).
IMAGE_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)
_IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")


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
        if image.dtype not in IMAGE_DTYPES:
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
        object.__setattr__(self, "target", check_target(self.target))
        object.__setattr__(self, "group", group)
        try:
            object.__setattr__(self, "source", as_json_data(dict(self.source or {})))
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
    """(M, N) stays; (M, N, 3|4) RGB(A) -> BT.709 luma in the same dtype, as io.read_image."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        rgb = image[:, :, :3]
        if np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 0], rgb[:, :, 2]):
            return np.ascontiguousarray(rgb[:, :, 0])  # gray stored as colour: exact
        luma = rgb.astype(np.float64) @ np.asarray(LUMA_BT709)
        if np.issubdtype(rgb.dtype, np.integer):
            info = np.iinfo(rgb.dtype)
            return np.clip(np.rint(luma), info.min, info.max).astype(rgb.dtype)
        return luma.astype(rgb.dtype)
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


def _read_image(path: Path) -> tuple[np.ndarray, float | None]:
    """Read a micrograph as gray native dtype, with its pixel size when the file has one."""
    image, meta = read_image(path)
    return image, meta.pixel_size_um


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
        PNG, TIFF, JPEG or BMP file read by :func:`grainseg_core.io.read_image` (colour ->
        luma), 8- or 16-bit, or float. 0/1 images (and floats in [0, 1]) are read as 0/255;
        16-bit images are brought to the 0-255 scale.
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

    Raises
    ------
    ImageReadError
        Missing, unreadable or too small file (from :func:`grainseg_core.io.read_image`).

    Examples
    --------
    >>> import tempfile, cv2, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "m.png"
    >>> _ = cv2.imwrite(str(path), np.kron([[0, 255], [200, 10]], np.ones((4, 4))).astype(np.uint8))
    >>> read_label_file(path)[::4, ::4].tolist()
    [[False, True], [True, False]]
    >>> read_label_file(path, foreground="black")[::4, ::4].tolist()
    [[True, False], [False, True]]
    """
    if foreground not in ("white", "black"):
        raise InputError(f"foreground must be 'white' or 'black'; got {foreground!r}.")
    thr = float(threshold)
    if not (math.isfinite(thr) and 0 < thr <= 255):
        raise InputError(f"threshold must lie in (0, 255] on the 8-bit scale; got {threshold!r}.")
    arr, _ = read_image(Path(source))
    values = arr.astype(np.float32)
    top = float(values.max()) if values.size else 0.0
    if top <= 1.0:
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
    check_target(target)
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
    path = Path(annotations)
    if path.suffix.lower() == ".json":
        return dict(read_coco_polygons(path)), str(path)
    return dict(read_polygon_csv(path).images), str(path)
