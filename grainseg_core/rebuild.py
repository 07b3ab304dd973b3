"""Rebuild label masks from polygon annotations and uploaded images, with a problem report.

The dataset page takes an annotation file (Aachen-Heerlen polygon CSV or COCO JSON) and
images (as bytes, matched by **base name**), and needs three things: the masks, a
per-image summary, and a report of everything that did not make it (rejected rows,
annotations of images that were not given, images with no annotation, unreadable
images, polygons clipped at the frame). Reading is tolerant: one bad row or annotation is
reported and the rest is kept (``strict=False`` of :func:`grainseg_core.io.read_polygon_csv`;
COCO annotations are read one by one when the whole file does not pass).

Targets: ``"mask"`` (filled polygons: particles, seed 001's martensite-austenite islands)
or ``"boundary"`` (the inner outline of every polygon instance, so that touching
polygons stay apart).

Example
-------
>>> import io
>>> from PIL import Image
>>> buf = io.BytesIO(); Image.new("L", (16, 12)).save(buf, format="PNG")
>>> csv = (b"image_url;point;polygon\\nIMG_1.png;;[(1, 1), (5, 1), (5, 4), (1, 4)]\\n"
...        b"IMG_1.png;;[(1, 2)]")
>>> ann = read_annotation_file(csv, name="polygons.csv")
>>> out = rebuild_masks(ann, {"IMG_1.png": buf.getvalue()})
>>> int(out.masks["IMG_1.png"].sum()), out.report["where"].tolist()
(12, ['line 3'])
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from skimage.segmentation import find_boundaries

from grainseg_core.errors import AnnotationError, GrainsegError, InputError
from grainseg_core.io import (
    AnnotationSet,
    ImageAnnotations,
    image_base_name,
    polygons_to_mask,
    read_coco_polygons,
    read_image,
    read_polygon_csv,
)
from grainseg_core.patching import ImagePair

__all__ = [
    "REPORT_COLUMNS",
    "SUMMARY_COLUMNS",
    "AnnotationFile",
    "RebuiltMasks",
    "read_annotation_file",
    "rebuild_masks",
]

#: Columns of :attr:`RebuiltMasks.report` and :attr:`AnnotationFile.problems`.
REPORT_COLUMNS = ("source", "where", "field", "problem")
#: Columns of :attr:`RebuiltMasks.summary`.
SUMMARY_COLUMNS = ("image", "rows", "cols", "n_polygons", "label_fraction", "status")
_TARGETS = ("mask", "boundary")


def _report(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(REPORT_COLUMNS))


@dataclass(frozen=True)
class AnnotationFile:
    """An annotation file read tolerantly.

    Parameters
    ----------
    images : dict of str to ImageAnnotations
        Keyed by image base name.
    problems : pandas.DataFrame
        Rejected rows or annotations, columns :data:`REPORT_COLUMNS`.
    kind : {"csv", "coco"}
    name : str
        The file name.
    """

    images: dict[str, ImageAnnotations]
    problems: pd.DataFrame = field(default_factory=lambda: _report([]))
    kind: str = "csv"
    name: str = "<annotations>"

    @property
    def n_polygons(self) -> int:
        """Polygons over all images."""
        return sum(len(a) for a in self.images.values())


def _looks_like_json(data: bytes) -> bool:
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return head in (b"{", b"[")


def _read_coco_tolerant(data: bytes, name: str) -> AnnotationFile:
    try:
        return AnnotationFile(dict(read_coco_polygons(data, name=name)), kind="coco", name=name)
    except AnnotationError as whole_error:
        # Parse the JSON once; if the file or its image list is broken, nothing can be kept.
        try:
            doc = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise whole_error from None
        if not isinstance(doc, dict) or not isinstance(doc.get("annotations"), list):
            raise whole_error from None
        base = {k: v for k, v in doc.items() if k != "annotations"}
        images = dict(read_coco_polygons({**base, "annotations": []}, name=name))
        polys: dict[str, list[Any]] = {k: list(v.polygons) for k, v in images.items()}
        problems: list[dict[str, Any]] = []
        for k, ann in enumerate(doc["annotations"]):
            ident = ann.get("id", "?") if isinstance(ann, dict) else "?"
            try:
                one = read_coco_polygons({**base, "annotations": [ann]}, name=name)
            except AnnotationError as exc:
                reason = str(exc).split(f"annotations[0] (id {ident})", 1)[-1].lstrip(" :")
                problems.append(
                    {
                        "source": name,
                        "where": f"annotations[{k}] (id {ident})",
                        "field": "segmentation",
                        "problem": reason,
                    }
                )
                continue
            for img_name, item in one.items():
                polys[img_name].extend(item.polygons)
        kept = {
            k: ImageAnnotations(k, tuple(polys[k]), v.height, v.width) for k, v in images.items()
        }
        return AnnotationFile(kept, _report(problems), "coco", name)


def read_annotation_file(data: bytes, *, name: str) -> AnnotationFile:
    """Read a polygon CSV or a COCO JSON file (told by content), keeping the good rows.

    Parameters
    ----------
    data : bytes
        File content.
    name : str
        File name, for messages (never opened).

    Returns
    -------
    AnnotationFile
        Polygons per image and the rejected rows (CSV lines or COCO annotations).

    Raises
    ------
    AnnotationError
        A file that cannot be read at all: empty, not UTF-8, no recognisable header,
        invalid JSON, a COCO file without ``images``/``annotations``.

    Examples
    --------
    >>> text = b"image_url;point;polygon\\na.png;;[(0,0),(2,0),(0,2)]"
    >>> f = read_annotation_file(text, name="p.csv")
    >>> f.kind, f.n_polygons, len(f.problems)
    ('csv', 1, 0)
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError(f"data must be the file's bytes; got {type(data).__name__}.")
    data = bytes(data)
    if not data.strip():
        raise AnnotationError(f"annotation file '{name}' is empty; choose the file again.")
    if _looks_like_json(data):
        return _read_coco_tolerant(data, name)
    parsed: AnnotationSet = read_polygon_csv(data, strict=False, name=name)
    problems = [
        {"source": name, "where": f"line {p.row}", "field": p.column, "problem": p.reason}
        for p in parsed.report
    ]
    return AnnotationFile(dict(parsed.images), _report(problems), "csv", name)


@dataclass(frozen=True)
class RebuiltMasks:
    """Masks rebuilt from annotations, with their images, summary and report.

    Attributes
    ----------
    masks : dict of str to ndarray bool (M, N)
        Per image base name: the filled polygons (``target="mask"``) or their outlines.
    images : dict of str to ndarray (M, N)
        The images, native dtype.
    pixel_sizes : dict of str to float or None
        From the image metadata.
    summary : pandas.DataFrame
        One row per image: :data:`SUMMARY_COLUMNS` (status ``"ok"``, ``"no polygons"``).
    report : pandas.DataFrame
        Everything left out or changed, :data:`REPORT_COLUMNS`; the first ``n_rejected``
        rows are the annotation file's rejected rows (CSV lines or COCO annotations).
    target : str
    n_rejected : int
        Rows or annotations of the file that were rejected.
    """

    masks: dict[str, np.ndarray]
    images: dict[str, np.ndarray]
    pixel_sizes: dict[str, float | None]
    summary: pd.DataFrame
    report: pd.DataFrame
    target: str
    n_rejected: int = 0

    def pairs(self, *, pixel_size_um: float | None = None) -> list[ImagePair]:
        """The image/mask pairs for :func:`grainseg_core.patching.export_dataset`.

        Parameters
        ----------
        pixel_size_um : float, optional
            Overrides the pixel size read from the images.

        Returns
        -------
        list of ImagePair
            Named by image stem, in the order of :attr:`masks`.
        """
        out = []
        for name, mask in self.masks.items():
            stem = name.rsplit(".", 1)[0] if "." in name.strip(".") else name
            out.append(
                ImagePair(
                    name=stem,
                    image=self.images[name],
                    label=mask,
                    pixel_size_um=pixel_size_um
                    if pixel_size_um is not None
                    else self.pixel_sizes[name],
                    target=self.target,
                    source={"kind": "annotations", "image": name},
                )
            )
        return out


def _rasterize(
    item: ImageAnnotations | None, shape: tuple[int, int], target: str
) -> tuple[np.ndarray, list[str]]:
    polys = item.polygons if item is not None else ()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if target == "mask":
            mask = polygons_to_mask(polys, shape, mode="binary")
        else:
            # Instance labels so that touching polygons keep a line between them.
            inst = polygons_to_mask(polys, shape, mode="instance")
            mask = find_boundaries(inst, connectivity=1, mode="inner") & (inst > 0)
    return mask, [str(w.message) for w in caught]


def rebuild_masks(
    annotations: AnnotationFile | AnnotationSet | Mapping[str, ImageAnnotations],
    images: Mapping[str, bytes | np.ndarray],
    *,
    target: str = "mask",
) -> RebuiltMasks:
    """Fill the polygons of every given image; report what could not be used.

    Parameters
    ----------
    annotations : AnnotationFile, AnnotationSet or mapping of name to ImageAnnotations
        The polygons; an ``AnnotationFile``'s problems are carried into the report.
    images : mapping of str to bytes or ndarray (M, N)
        The images the user gave, by name (reduced to base names; matched to the
        annotations by base name). Bytes are decoded with :func:`grainseg_core.io.read_image`.
    target : {"mask", "boundary"}
        Filled polygons, or the inner outline of each polygon.

    Returns
    -------
    RebuiltMasks
        Masks for every readable image that the annotations name (images listed with
        no polygon get an empty mask); the report lists rejected rows, annotated images
        that were not given, given images that no annotation names, unreadable images
        and polygons clipped at the image frame.

    Raises
    ------
    InputError
        Unknown ``target``, or images that are not bytes or 2-D arrays.
    AnnotationError
        When no annotated image was given (nothing to rebuild).

    Examples
    --------
    >>> from grainseg_core.io import Polygon
    >>> ann = {"a.png": ImageAnnotations("a.png", (Polygon([(0, 0), (4, 0), (4, 4), (0, 4)]),))}
    >>> blank = np.zeros((8, 8), np.uint8)
    >>> out = rebuild_masks(ann, {"a.png": blank, "b.png": blank})
    >>> int(out.masks["a.png"].sum()), out.report["problem"].str.contains("no annotation").tolist()
    (16, [True])
    """
    if target not in _TARGETS:
        raise InputError(f"target must be 'mask' or 'boundary'; got {target!r}.")
    if isinstance(annotations, AnnotationFile):
        polys, source, problems = annotations.images, annotations.name, annotations.problems
    elif isinstance(annotations, AnnotationSet):
        polys, source = dict(annotations.images), annotations.source_name
        problems = _report(
            [
                {"source": source, "where": f"line {p.row}", "field": p.column, "problem": p.reason}
                for p in annotations.report
            ]
        )
    elif isinstance(annotations, Mapping):
        polys, source, problems = dict(annotations), "annotations", _report([])
    else:
        raise InputError(
            "annotations must be an AnnotationFile, AnnotationSet or dict; got "
            f"{type(annotations).__name__}."
        )
    given = {image_base_name(str(k)): v for k, v in images.items()}
    rows: list[dict[str, Any]] = problems.to_dict("records")
    masks: dict[str, np.ndarray] = {}
    arrays: dict[str, np.ndarray] = {}
    sizes: dict[str, float | None] = {}
    summary: list[dict[str, Any]] = []
    for name, item in polys.items():
        if name not in given:
            if len(item):
                rows.append(
                    {
                        "source": source,
                        "where": name,
                        "field": "image",
                        "problem": f"image not given ({len(item)} polygon(s) unused); add "
                        "it to the upload (matched by base name).",
                    }
                )
            continue
        value = given[name]
        try:
            if isinstance(value, (bytes, bytearray, memoryview)):
                image, meta = read_image(bytes(value), name=name)
                size = meta.pixel_size_um
            elif isinstance(value, np.ndarray) and value.ndim == 2:
                image, size = value, None
            else:
                raise InputError(
                    f"image '{name}' must be bytes or a 2-D array; got {type(value).__name__}."
                )
        except InputError:
            raise
        except GrainsegError as exc:
            rows.append({"source": name, "where": name, "field": "image", "problem": str(exc)})
            continue
        mask, notes = _rasterize(item, image.shape, target)
        for note in notes:
            rows.append({"source": source, "where": name, "field": "polygon", "problem": note})
        masks[name], arrays[name], sizes[name] = mask, image, size
        summary.append(
            {
                "image": name,
                "rows": int(image.shape[0]),
                "cols": int(image.shape[1]),
                "n_polygons": len(item),
                "label_fraction": float(mask.mean()),
                "status": "ok" if len(item) else "no polygons",
            }
        )
    for name in given:
        if name not in polys:
            rows.append(
                {
                    "source": name,
                    "where": name,
                    "field": "image",
                    "problem": "no annotation names this image; it was left out.",
                }
            )
    if not masks:
        unreadable = [n for n in polys if n in given]
        if unreadable:
            reasons = [r["problem"] for r in rows if r["where"] == unreadable[0]]
            raise AnnotationError(
                f"no annotated image could be read (e.g. '{unreadable[0]}': "
                f"{reasons[0] if reasons else 'unreadable'})."
            )
        raise AnnotationError(
            f"none of the {len(polys)} annotated image(s) of '{source}' was among the "
            f"{len(given)} given image(s) (e.g. expected '{next(iter(polys), '?')}'); images "
            "are matched by base name."
        )
    return RebuiltMasks(
        masks,
        arrays,
        sizes,
        pd.DataFrame(summary, columns=list(SUMMARY_COLUMNS)),
        _report(rows),
        target,
        n_rejected=len(problems),
    )
