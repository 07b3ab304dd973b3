"""Frozen data model of polygon annotations (one job: hold and validate them).

Coordinates are continuous image coordinates (x, y) = (col, row) with the origin at the
top-left *corner* of the top-left pixel (the COCO convention): pixel (row r, col c) is the
unit square x in [c, c + 1), y in [r, r + 1), its centre at (c + 0.5, r + 0.5).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from grainseg_core.errors import AnnotationError

__all__ = [
    "Polygon",
    "ImageAnnotations",
    "AnnotationSet",
    "RowProblem",
    "image_base_name",
    "polygon_centroid",
]

_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def image_base_name(reference: str) -> str:
    """Return the base name of an image reference (path, URL or Windows path).

    Annotation files name their images by ``image_url``; grainseg matches images by
    **base name only** and never opens the path or URL written in a file, so a row
    that says ``../../etc/x.png`` or ``http://host/a/IMG_1.png`` refers to ``x.png``
    or ``IMG_1.png`` in the folder the user chose.

    Parameters
    ----------
    reference : str
        The image reference as written in the file.

    Returns
    -------
    str
        The last component, stripped of surrounding spaces, a URL query or fragment.
        Empty when the reference names a folder (ends with a separator).

    Examples
    --------
    >>> image_base_name("http://host/a/IMG_1.png?x=1")
    'IMG_1.png'
    >>> image_base_name(r"C:\\data\\y.png")
    'y.png'
    """
    ref = str(reference).strip()
    if _URL_SCHEME.match(ref):
        ref = ref.split("#", 1)[0].split("?", 1)[0]
    # Split on both separators: POSIX paths, URLs and Windows paths alike.
    return re.split(r"[/\\]", ref)[-1].strip()


def _shoelace(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def polygon_centroid(xy: np.ndarray) -> tuple[float, float]:
    """Area centroid (x, y) of a simple polygon; the vertex mean if its area is ~0.

    Parameters
    ----------
    xy : ndarray, shape (K, 2)
        Vertices (x, y).

    Returns
    -------
    tuple of float
        The centroid (x, y).

    Examples
    --------
    >>> polygon_centroid(np.array([[0, 0], [4, 0], [4, 2], [0, 2]], float))
    (2.0, 1.0)
    """
    xy = np.asarray(xy, dtype=np.float64)
    # Shift to the first vertex so large coordinates do not cancel catastrophically.
    origin = xy[0]
    rel = xy - origin
    area = _shoelace(rel)
    if abs(area) < 1e-12:
        mean = xy.mean(axis=0)
        return float(mean[0]), float(mean[1])
    x, y = rel[:, 0], rel[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    cx = float(np.dot(x + xn, cross)) / (6.0 * area)
    cy = float(np.dot(y + yn, cross)) / (6.0 * area)
    return cx + float(origin[0]), cy + float(origin[1])


@dataclass(frozen=True)
class Polygon:
    """One annotated polygon.

    Parameters
    ----------
    vertices : sequence of (x, y)
        At least 3 finite vertices, (x, y) = (col, row) in pixel units, the polygon
        implicitly closed (the last vertex joins the first).
    center : (x, y), optional
        The point of interest from the file (the Aachen ``point`` column); the area
        centroid of the polygon when not given.
    label : str, optional
        Category name (COCO ``categories[].name``).
    category_id : int, optional
        COCO ``category_id``.
    area : float, optional
        Area stated by the file (COCO ``area``, of the whole annotation the polygon
        belongs to), kept as given; see :meth:`geometric_area` for the computed one.
    instance_id : int, optional
        Instance identity (COCO annotation ``id``, or the label value when the polygon
        came from a label image); several parts of one object share it.

    Examples
    --------
    >>> p = Polygon([(0, 0), (4, 0), (4, 2), (0, 2)])
    >>> p.center, p.geometric_area()
    ((2.0, 1.0), 8.0)
    """

    vertices: tuple[tuple[float, float], ...]
    center: tuple[float, float] | None = None
    label: str | None = None
    category_id: int | None = None
    area: float | None = None
    instance_id: int | None = None

    def __post_init__(self) -> None:
        try:
            xy = np.asarray(self.vertices, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise AnnotationError(
                f"polygon vertices must be a sequence of (x, y) numbers; got {self.vertices!r:.80}."
            ) from exc
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise AnnotationError(
                f"polygon vertices must have shape (K, 2) as (x, y) pairs; got shape {xy.shape}."
            )
        if xy.shape[0] < 3:
            raise AnnotationError(f"a polygon needs at least 3 vertices; got {xy.shape[0]}.")
        if not np.isfinite(xy).all():
            raise AnnotationError("polygon vertices must be finite numbers; got NaN or infinity.")
        object.__setattr__(self, "vertices", tuple(map(tuple, xy.tolist())))
        if self.center is None:
            center = polygon_centroid(xy)
        else:
            cx, cy = (float(v) for v in self.center)
            if not (math.isfinite(cx) and math.isfinite(cy)):
                raise AnnotationError(f"polygon center must be finite; got {self.center!r}.")
            center = (cx, cy)
        object.__setattr__(self, "center", center)

    @property
    def xy(self) -> np.ndarray:
        """Vertices as a float64 array of shape (K, 2), columns (x, y)."""
        return np.asarray(self.vertices, dtype=np.float64)

    @property
    def rc(self) -> np.ndarray:
        """Vertices as a float64 array of shape (K, 2), columns (row, col) = (y, x)."""
        return self.xy[:, ::-1].copy()

    def geometric_area(self) -> float:
        """Area enclosed by the vertices (shoelace formula), in square pixels."""
        return abs(_shoelace(self.xy - self.xy[0]))


@dataclass(frozen=True)
class ImageAnnotations:
    """The polygons of one image.

    Parameters
    ----------
    image_name : str
        Base name of the image (never a path; see :func:`image_base_name`).
    polygons : tuple of Polygon
        In file order; may be empty (an image listed without polygons).
    height, width : int, optional
        Image size when the file states it (COCO ``images[].height/width``).

    Examples
    --------
    >>> ann = ImageAnnotations("IMG_1.png", (Polygon([(0, 0), (2, 0), (0, 2)]),))
    >>> len(ann)
    1
    """

    image_name: str
    polygons: tuple[Polygon, ...] = ()
    height: int | None = None
    width: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "polygons", tuple(self.polygons))

    def __len__(self) -> int:
        return len(self.polygons)

    @property
    def shape(self) -> tuple[int, int] | None:
        """``(height, width)`` when both are known, else None."""
        if self.height is None or self.width is None:
            return None
        return (int(self.height), int(self.width))


@dataclass(frozen=True)
class RowProblem:
    """One rejected row of an annotation file.

    Parameters
    ----------
    row : int
        1-based line number in the file.
    column : str
        The column at fault (``image_url``, ``point``, ``polygon``, or ``row``).
    reason : str
        What was wrong, in plain words.
    """

    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.row}, column '{self.column}': {self.reason}"


@dataclass(frozen=True)
class AnnotationSet:
    """Result of reading a polygon file: the images and the rows that were rejected.

    Parameters
    ----------
    images : dict of str to ImageAnnotations
        Keyed by image base name, in order of first appearance.
    report : tuple of RowProblem
        Rejected rows (only with ``strict=False``; empty otherwise).
    source_name : str
        The file name, for messages.
    """

    images: dict[str, ImageAnnotations] = field(default_factory=dict)
    report: tuple[RowProblem, ...] = ()
    source_name: str = "<annotations>"

    @property
    def n_polygons(self) -> int:
        """Total number of polygons over all images."""
        return sum(len(a) for a in self.images.values())

    @property
    def ok(self) -> bool:
        """True when no row was rejected."""
        return not self.report

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, name: str) -> ImageAnnotations:
        return self.images[image_base_name(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and image_base_name(name) in self.images
