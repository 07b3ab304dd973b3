"""Read polygon annotations from COCO JSON (``images``, ``annotations``, ``categories``)."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from grainseg_core.errors import AnnotationError, GrainsegWarning
from grainseg_core.io._annotation_model import ImageAnnotations, Polygon, image_base_name
from grainseg_core.io._raster import mask_to_polygons
from grainseg_core.io._source import read_source_bytes

__all__ = ["read_coco_polygons"]


def _load(source: Any, name: str | None) -> tuple[dict[str, Any], str]:
    if isinstance(source, Mapping):
        return dict(source), name or "<COCO dict>"
    content, label = read_source_bytes(source, name=name, what="COCO file", error=AnnotationError)
    if not content.strip():
        raise AnnotationError(f"COCO file '{label}' is empty; expected a JSON object.")
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"COCO file '{label}' is not UTF-8 text; save it as UTF-8.") from exc
    except json.JSONDecodeError as exc:
        raise AnnotationError(
            f"COCO file '{label}' is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); check it is a COCO annotation file."
        ) from exc
    if not isinstance(data, dict):
        raise AnnotationError(
            f"COCO file '{label}' holds a JSON {type(data).__name__}; expected an object with "
            "'images' and 'annotations'."
        )
    return data, label


def _decode_uncompressed_rle(rle: Mapping[str, Any], where: str) -> np.ndarray:
    """Decode COCO uncompressed RLE: alternating 0/1 run lengths, column-major, 0s first."""
    try:
        height, width = (int(v) for v in rle["size"])
        counts = np.asarray(rle["counts"], dtype=np.int64)
    except (KeyError, TypeError, ValueError) as exc:
        raise AnnotationError(f"{where}: RLE needs 'size' [h, w] and integer 'counts'.") from exc
    if counts.sum() != height * width or (counts < 0).any():
        raise AnnotationError(
            f"{where}: RLE counts sum to {int(counts.sum())}, expected {height}*{width} = "
            f"{height * width}."
        )
    values = np.arange(len(counts)) % 2 == 1
    flat = np.repeat(values, counts)
    return flat.reshape(width, height).T  # COCO RLE runs down columns


def _flat_polygon(seq: Any, where: str) -> np.ndarray:
    try:
        flat = np.asarray(seq, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AnnotationError(
            f"{where}: polygon must be a flat list of numbers x1, y1, ..."
        ) from exc
    if flat.ndim != 1 or flat.size % 2 or flat.size < 6:
        raise AnnotationError(
            f"{where}: polygon must be a flat list [x1, y1, x2, y2, ...] of at least 3 "
            f"vertices; got {flat.size} numbers."
        )
    if not np.isfinite(flat).all():
        raise AnnotationError(f"{where}: polygon has NaN or infinite coordinates.")
    return flat.reshape(-1, 2)


def read_coco_polygons(
    source: str | os.PathLike | bytes | Mapping[str, Any] | Any,
    *,
    name: str | None = None,
) -> dict[str, ImageAnnotations]:
    """Read polygon annotations from a COCO JSON file.

    Parameters
    ----------
    source : path, bytes, binary file object or already-parsed dict
        COCO JSON with ``images`` (``id``, ``file_name``, optional ``height``/``width``)
        and ``annotations`` (``image_id``, ``segmentation``, optional ``area``,
        ``category_id``, ``id``); ``categories`` give the labels.
    name : str, optional
        File name for messages.

    Returns
    -------
    dict of str to ImageAnnotations
        Keyed by the base name of ``file_name`` (paths are never opened), every listed
        image present (with no polygons when it has no annotations), height and width
        kept. Each polygon keeps the annotation's ``area`` (of the whole annotation),
        ``category_id``, category name as ``label`` and ``id`` as ``instance_id``; an
        annotation with several polygon parts gives several Polygons sharing these.

    Raises
    ------
    AnnotationError
        Not JSON, missing keys, an annotation of an unknown image, a malformed polygon,
        two images with the same base name.

    Warns
    -----
    GrainsegWarning
        Compressed RLE segmentations (``counts`` a string) are skipped; uncompressed RLE
        (``counts`` a list) is decoded and outlined with :func:`mask_to_polygons`.

    Examples
    --------
    >>> coco = {"images": [{"id": 1, "file_name": "a/b.png", "height": 8, "width": 8}],
    ...         "annotations": [{"id": 5, "image_id": 1, "category_id": 0, "area": 4,
    ...                          "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]}]}
    >>> ann = read_coco_polygons(coco)
    >>> ann["b.png"].shape, ann["b.png"].polygons[0].area
    ((8, 8), 4.0)
    """
    data, label = _load(source, name)
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise AnnotationError(
                f"COCO file '{label}' has no '{key}' list; found keys {sorted(data)}."
            )
    categories = {
        c.get("id"): str(c.get("name"))
        for c in data.get("categories", []) or []
        if isinstance(c, Mapping)
    }
    names: dict[Any, str] = {}
    sizes: dict[str, tuple[int | None, int | None]] = {}
    for k, image in enumerate(data["images"]):
        if not isinstance(image, Mapping) or "id" not in image or "file_name" not in image:
            raise AnnotationError(f"COCO file '{label}', images[{k}] needs 'id' and 'file_name'.")
        base = image_base_name(str(image["file_name"]))
        if base in sizes:
            raise AnnotationError(
                f"COCO file '{label}': two images share the base name '{base}' (images[{k}], "
                f"file_name '{image['file_name']}'); images are matched by base name, rename one."
            )
        names[image["id"]] = base
        height, width = image.get("height"), image.get("width")
        sizes[base] = (
            int(height) if height is not None else None,
            int(width) if width is not None else None,
        )
    polygons: dict[str, list[Polygon]] = {base: [] for base in sizes}
    skipped: list[Any] = []
    for k, ann in enumerate(data["annotations"]):
        where = (
            f"COCO file '{label}', annotations[{k}] (id {ann.get('id', '?')})"
            if isinstance(ann, Mapping)
            else f"COCO file '{label}', annotations[{k}]"
        )
        if not isinstance(ann, Mapping) or "image_id" not in ann or "segmentation" not in ann:
            raise AnnotationError(f"{where} needs 'image_id' and 'segmentation'.")
        if ann["image_id"] not in names:
            raise AnnotationError(
                f"{where} refers to image_id {ann['image_id']!r}, not in 'images'."
            )
        base = names[ann["image_id"]]
        category = ann.get("category_id")
        common = {
            "label": categories.get(category),
            "category_id": int(category) if category is not None else None,
            "area": float(ann["area"]) if ann.get("area") is not None else None,
            "instance_id": int(ann["id"]) if ann.get("id") is not None else None,
        }
        seg = ann["segmentation"]
        if isinstance(seg, Mapping):
            if isinstance(seg.get("counts"), str):
                skipped.append(ann.get("id", k))
                continue
            mask = _decode_uncompressed_rle(seg, where)
            for part in mask_to_polygons(mask, tolerance=0.0):
                polygons[base].append(Polygon(part.vertices, **common))
            continue
        if not isinstance(seg, list):
            raise AnnotationError(
                f"{where}: 'segmentation' must be a list of polygons or an RLE object; got "
                f"{type(seg).__name__}."
            )
        for part in seg:
            polygons[base].append(Polygon(_flat_polygon(part, where), **common))
    if skipped:
        warnings.warn(
            f"COCO file '{label}': {len(skipped)} annotation(s) use compressed RLE "
            f"('counts' a string; ids {skipped[:5]}), which grainseg does not decode; they "
            "were skipped. Export polygons (or uncompressed RLE) instead.",
            GrainsegWarning,
            stacklevel=2,
        )
    return {base: ImageAnnotations(base, tuple(polygons[base]), *sizes[base]) for base in sizes}
