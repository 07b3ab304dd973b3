"""Polygons to masks (vectorised scanline fill) and masks back to polygons.

Fill rule
---------
Vertices are (x, y) image coordinates with pixel (row r, col c) covering the unit square
x in [c, c + 1), y in [r, r + 1) (the COCO convention). A pixel is filled when its
centre (c + 0.5, r + 0.5) lies inside the polygon by the even-odd rule. A centre lying
exactly on an edge follows the top-left rule (left and top edges in, right and bottom
edges out), so polygons that tile the plane never share or miss a pixel, and a polygon
whose vertices sit on integer corners fills exactly its area (a 3 x 2 rectangle fills
6 pixels).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import ndimage
from skimage.measure import approximate_polygon, find_contours, label

from grainseg_core._validation import as_2d_array
from grainseg_core.errors import AnnotationError, GrainsegWarning, InputError, unknown_name_error
from grainseg_core.io._annotation_model import (
    AnnotationSet,
    ImageAnnotations,
    Polygon,
    image_base_name,
)

__all__ = ["polygons_to_mask", "annotation_masks", "mask_to_polygons", "MASK_MODES"]

#: Output kinds of :func:`polygons_to_mask`.
MASK_MODES: tuple[str, ...] = ("binary", "instance")


def _check_shape(shape: Any) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in shape[:2])
    except (TypeError, ValueError, IndexError) as exc:
        raise InputError(f"shape must be (rows, cols) of two integers; got {shape!r}.") from exc
    if rows < 1 or cols < 1:
        raise InputError(f"shape must be at least (1, 1); got {(rows, cols)}.")
    return rows, cols


def _vertex_arrays(polygons: Any) -> tuple[list[np.ndarray], list[int | None]]:
    """Vertex arrays (K, 2) as (x, y), and each polygon's instance id (or None)."""
    if isinstance(polygons, ImageAnnotations):
        polygons = polygons.polygons
    elif isinstance(polygons, Polygon) or (isinstance(polygons, np.ndarray) and polygons.ndim == 2):
        polygons = [polygons]
    arrays: list[np.ndarray] = []
    ids: list[int | None] = []
    for index, poly in enumerate(polygons):
        if isinstance(poly, Polygon):
            arrays.append(poly.xy)
            ids.append(poly.instance_id)
            continue
        xy = np.asarray(poly, dtype=np.float64)
        if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] < 3:
            raise InputError(
                f"polygons[{index}] must be a Polygon or an (K, 2) array of (x, y) vertices "
                f"with K >= 3; got shape {xy.shape}."
            )
        if not np.isfinite(xy).all():
            raise InputError(f"polygons[{index}] has NaN or infinite vertices.")
        arrays.append(xy)
        ids.append(None)
    return arrays, ids


def _spans(
    arrays: Sequence[np.ndarray], shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal runs covered by each polygon: (polygon index, row, col start, col stop).

    The scanline fill, vectorised over all edges of all polygons at once: every
    non-horizontal edge crosses the pixel-centre rows ``ceil(y_min) <= r < ceil(y_max)``
    (centres shifted to integers); crossings of one polygon on one row are sorted and
    paired (even-odd), and a run holds the columns ``ceil(x_in) <= c < ceil(x_out)``.
    """
    rows, cols = shape
    counts = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
    xy = np.concatenate(arrays) - 0.5  # pixel centres at integer coordinates
    poly = np.repeat(np.arange(len(arrays)), counts)
    starts = np.cumsum(counts) - counts
    nxt = np.arange(len(xy)) + 1
    nxt[starts + counts - 1] = starts
    xa, ya, xb, yb = xy[:, 0], xy[:, 1], xy[nxt, 0], xy[nxt, 1]
    keep = ya != yb
    # Orient every edge downwards so a shared edge gives bit-identical crossings in both
    # polygons that use it (the top-left rule then holds in floating point too).
    down = ya < yb
    x0 = np.where(down, xa, xb)[keep]
    y0 = np.where(down, ya, yb)[keep]
    x1 = np.where(down, xb, xa)[keep]
    y1 = np.where(down, yb, ya)[keep]
    poly = poly[keep]
    lo = np.clip(np.ceil(y0), 0, rows).astype(np.int64)
    hi = np.clip(np.ceil(y1), 0, rows).astype(np.int64)
    n = np.maximum(hi - lo, 0)
    edge = np.repeat(np.arange(len(n)), n)
    row = np.arange(int(n.sum()), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n) + lo[edge]
    x = x0[edge] + (row - y0[edge]) * ((x1 - x0) / (y1 - y0))[edge]
    pid = poly[edge]
    x, row, pid = _sort_crossings(x, row, pid, rows, cols)
    # Each closed polygon crosses each row an even number of times (the half-open row
    # rule counts a vertex once), so consecutive crossings pair up globally.
    c_in = np.clip(np.ceil(x[0::2]), 0, cols).astype(np.int64)
    c_out = np.clip(np.ceil(x[1::2]), 0, cols).astype(np.int64)
    row, pid = row[0::2], pid[0::2]
    full = c_out > c_in
    return pid[full], row[full], c_in[full], c_out[full]


def _sort_crossings(
    x: np.ndarray, row: np.ndarray, pid: np.ndarray, rows: int, cols: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order crossings by (polygon, row, x).

    One argsort of a combined float key (twice as fast as a three-key lexsort); x is
    clipped to just outside the image first, which keeps the order of everything that
    can land in the image. Rounding in the key can only swap crossings closer than
    ~1e-5 px; the result is checked and the exact lexsort used if that happened.
    """
    group = pid * rows + row
    x_key = np.clip(x, -1.0, cols + 1.0) + 1.0
    order = np.argsort(group * float(cols + 4) + x_key)
    x, row, pid, group = x[order], row[order], pid[order], group[order]
    same = group[1:] == group[:-1]
    if (group[1:] < group[:-1]).any() or (same & (x[1:] < x[:-1])).any():
        order = np.lexsort((x, group))
        x, row, pid = x[order], row[order], pid[order]
    return x, row, pid


def _warn_outside(arrays: Sequence[np.ndarray], shape: tuple[int, int]) -> None:
    rows, cols = shape
    xy = np.concatenate(arrays)
    outside = (xy[:, 0] < 0) | (xy[:, 0] > cols) | (xy[:, 1] < 0) | (xy[:, 1] > rows)
    n_out = int(outside.sum())
    if n_out:
        n_polys = int(
            sum(
                bool(((a[:, 0] < 0) | (a[:, 0] > cols) | (a[:, 1] < 0) | (a[:, 1] > rows)).any())
                for a in arrays
            )
        )
        warnings.warn(
            f"{n_out} vertices of {n_polys} polygon(s) lie outside the {rows}x{cols} image "
            f"(x in [0, {cols}], y in [0, {rows}]); the parts outside were clipped at the "
            "border. Check that the annotations belong to this image and its size.",
            GrainsegWarning,
            stacklevel=3,
        )


def polygons_to_mask(
    polygons: Iterable[Polygon] | ImageAnnotations | Iterable[np.ndarray],
    shape: tuple[int, int],
    *,
    mode: str = "binary",
) -> np.ndarray:
    """Rasterise polygons into a mask.

    Parameters
    ----------
    polygons : iterable of Polygon or (K, 2) arrays of (x, y), or ImageAnnotations
        Vertices in pixel units, (x, y) = (col, row), pixel (r, c) covering
        x in [c, c + 1), y in [r, r + 1).
    shape : (M, N)
        Mask shape (rows, cols).
    mode : {"binary", "instance"}
        ``"binary"``: bool (M, N), the union of all polygons. ``"instance"``: int32
        (M, N), 0 = background; where polygons overlap the later one wins. Polygon i gets
        label ``polygon.instance_id`` when every polygon has one, else i + 1.

    Returns
    -------
    ndarray, shape (M, N)
        bool or int32 mask.

    Warns
    -----
    GrainsegWarning
        When vertices lie outside the image; the polygon is clipped at the border.

    Notes
    -----
    A pixel is filled when its centre lies inside the polygon (even-odd rule); centres on
    an edge follow the top-left rule, so axis-aligned polygons with integer vertices fill
    exactly their area. All edges of all polygons are filled in one vectorised pass.

    Examples
    --------
    >>> polygons_to_mask([[(1, 1), (4, 1), (4, 3), (1, 3)]], (4, 5)).astype(int)
    array([[0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 0, 0, 0]])
    """
    rows, cols = _check_shape(shape)
    if mode not in MASK_MODES:
        raise unknown_name_error("mask mode", mode, MASK_MODES, InputError)
    arrays, ids = _vertex_arrays(polygons)
    if not arrays:
        return np.zeros((rows, cols), dtype=bool if mode == "binary" else np.int32)
    _warn_outside(arrays, (rows, cols))
    pid, row, c_in, c_out = _spans(arrays, (rows, cols))
    length = c_out - c_in
    n_covered = int(length.sum())
    if mode == "binary":
        if n_covered > 2 * rows * cols:
            # Large overlapping polygons: a difference array (+1 where a run starts, -1
            # after it ends, cumulative sum > 0) costs O(M N) whatever the overlap.
            width = cols + 1
            diff = np.bincount(row * width + c_in, minlength=rows * width) - np.bincount(
                row * width + c_out, minlength=rows * width
            )
            return np.cumsum(diff.reshape(rows, width)[:, :cols], axis=1) > 0
        out = np.zeros(rows * cols, dtype=bool)
        out[_run_pixels(row, c_in, length, cols)] = True
        return out.reshape(rows, cols)
    if all(i is not None for i in ids):
        values = np.asarray(ids, dtype=np.int64)
        if values.min() < 1 or values.max() > np.iinfo(np.int32).max:
            raise InputError(
                "instance_id values must lie in [1, 2**31 - 1] to be used as labels; got "
                f"[{values.min()}, {values.max()}]. Clear them to number polygons 1..n."
            )
    else:
        values = np.arange(1, len(arrays) + 1, dtype=np.int64)
    # Later wins: each pixel takes the highest polygon index covering it.
    winner = np.full(rows * cols, -1, dtype=np.int64)
    np.maximum.at(winner, _run_pixels(row, c_in, length, cols), np.repeat(pid, length))
    out = np.zeros(rows * cols, dtype=np.int32)
    hit = winner >= 0
    out[hit] = values[winner[hit]]
    return out.reshape(rows, cols)


def _run_pixels(row: np.ndarray, c_in: np.ndarray, length: np.ndarray, cols: int) -> np.ndarray:
    """Flat indices of every pixel of every run (a ragged arange, no Python loop)."""
    starts = np.repeat(row * cols + c_in - (np.cumsum(length) - length), length)
    return starts + np.arange(int(length.sum()), dtype=np.int64)


def annotation_masks(
    annotations: AnnotationSet | Mapping[str, ImageAnnotations],
    image_shapes: Mapping[str, tuple[int, int]] | None = None,
    *,
    mode: str = "binary",
) -> dict[str, np.ndarray]:
    """Masks for a set of images; images with no polygons get empty masks.

    Parameters
    ----------
    annotations : AnnotationSet or mapping of name to ImageAnnotations
        Polygons per image (keys are base names).
    image_shapes : mapping of image name to (M, N), optional
        The images to build masks for, matched by base name. When omitted, every annotated
        image with a known size (COCO ``height``/``width``) is used.
    mode : {"binary", "instance"}
        As in :func:`polygons_to_mask`.

    Returns
    -------
    dict of str to ndarray
        One mask per image, keyed by base name, in the order of ``image_shapes``.

    Warns
    -----
    GrainsegWarning
        When annotated images are missing from ``image_shapes`` (they get no mask).

    Examples
    --------
    >>> ann = {"a.png": ImageAnnotations("a.png", (Polygon([(0, 0), (2, 0), (2, 2), (0, 2)]),))}
    >>> masks = annotation_masks(ann, {"a.png": (4, 4), "b.png": (4, 4)})
    >>> int(masks["a.png"].sum()), int(masks["b.png"].sum())
    (4, 0)
    """
    images = annotations.images if isinstance(annotations, AnnotationSet) else dict(annotations)
    if image_shapes is None:
        unknown = [name for name, ann in images.items() if ann.shape is None]
        if unknown:
            raise AnnotationError(
                f"the size of {len(unknown)} annotated image(s) is unknown (e.g. '{unknown[0]}'); "
                "pass image_shapes={name: (rows, cols)}, e.g. from read_image."
            )
        shapes = {name: ann.shape for name, ann in images.items()}
    else:
        shapes = {image_base_name(name): shape for name, shape in image_shapes.items()}
    missing = [name for name in images if name not in shapes and len(images[name])]
    if missing:
        warnings.warn(
            f"{len(missing)} annotated image(s) have no shape in image_shapes and get no mask "
            f"(e.g. '{missing[0]}'); check the image folder holds them.",
            GrainsegWarning,
            stacklevel=2,
        )
    out: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        ann = images.get(name)
        polys = ann.polygons if ann is not None else ()
        out[name] = polygons_to_mask(polys, shape, mode=mode)
    return out


def _outer_contour(region: np.ndarray) -> np.ndarray:
    """Outer boundary (row, col) of one 4-connected region in a zero-padded crop."""
    contours = find_contours(region.astype(np.float32), 0.5)
    # Holes give inner contours; the outer one encloses the largest area.
    areas = [abs(_signed_area(c)) for c in contours]
    return contours[int(np.argmax(areas))]


def _square_corners(rc: np.ndarray) -> np.ndarray:
    """Turn a marching-squares outline into the pixel-edge outline.

    The contour of a binary region at level 0.5 runs through midpoints of pixel edges
    and cuts every pixel corner diagonally; inserting the lattice corner shared by the two
    midpoints of each diagonal step gives the staircase along pixel edges, whose area is
    exactly the region's pixel count.
    """
    nxt = np.roll(rc, -1, axis=0)
    diagonal = (rc[:, 0] != nxt[:, 0]) & (rc[:, 1] != nxt[:, 1])
    on_row_line = np.abs(rc[:, 0] - np.round(rc[:, 0])) < 1e-6  # y integer: horizontal edge
    corner = np.where(
        on_row_line[:, None],
        np.column_stack([rc[:, 0], nxt[:, 1]]),
        np.column_stack([nxt[:, 0], rc[:, 1]]),
    )
    both = np.stack([rc, corner], axis=1)  # (K, 2, 2): point, then its corner if any
    keep = np.column_stack([np.ones(len(rc), bool), diagonal])
    outline = both[keep]
    # Start at a lattice corner: the simplification keeps the start point, and an edge
    # midpoint would survive as a needless vertex.
    is_corner = (np.abs(outline - np.round(outline)) < 1e-6).all(axis=1)
    return np.roll(outline, -int(np.argmax(is_corner)), axis=0)


def _signed_area(rc: np.ndarray) -> float:
    r, c = rc[:, 0], rc[:, 1]
    return 0.5 * float(np.dot(c, np.roll(r, -1)) - np.dot(np.roll(c, -1), r))


def mask_to_polygons(
    mask_or_labels: np.ndarray,
    *,
    tolerance: float = 0.25,
) -> list[Polygon]:
    """Outline each region of a mask or label image as a polygon along pixel edges (for export).

    Parameters
    ----------
    mask_or_labels : ndarray, shape (M, N)
        bool mask (each 4-connected True region becomes one polygon) or integer labels
        (each 4-connected part of each label > 0 becomes one polygon, with
        ``instance_id`` = the label).
    tolerance : float
        Douglas-Peucker tolerance in pixels (:func:`skimage.measure.approximate_polygon`).
        The outline follows pixel edges, 0.5 px from every pixel centre, so
        ``tolerance <= 0.25`` keeps the pixel set exactly (its area equals the pixel
        count); larger values give fewer vertices and a close, not exact, mask.

    Returns
    -------
    list of Polygon
        Ordered by decreasing area, so refilling with ``polygons_to_mask(...,
        mode="instance")`` (later wins) restores regions nested inside others.

    Notes
    -----
    Polygons carry no holes: a region with holes is exported with them filled.

    Examples
    --------
    >>> mask = np.zeros((5, 6), bool); mask[1:4, 2:5] = True
    >>> [p.vertices for p in mask_to_polygons(mask)]
    [((2.0, 4.0), (2.0, 1.0), (5.0, 1.0), (5.0, 4.0))]
    """
    arr = as_2d_array(mask_or_labels, "mask_or_labels")
    if tolerance < 0:
        raise InputError(f"tolerance must be >= 0 pixels; got {tolerance}.")
    if arr.dtype == bool:
        parts, n_parts = label(arr, connectivity=1, return_num=True)
        part_label = np.arange(n_parts + 1)
        is_labels = False
    elif np.issubdtype(arr.dtype, np.integer):
        if arr.min() < 0:
            raise InputError(
                f"mask_or_labels must hold labels >= 0 (0 = background); got minimum {arr.min()}."
            )
        # Split every label into its 4-connected parts: one polygon per part.
        parts, n_parts = label(arr, connectivity=1, background=0, return_num=True)
        part_label = np.zeros(n_parts + 1, dtype=np.int64)
        part_label[parts.ravel()] = arr.ravel()
        is_labels = True
    else:
        raise InputError(
            f"mask_or_labels must be a bool mask or integer labels; got dtype {arr.dtype}."
        )
    polygons: list[tuple[float, Polygon]] = []
    for index, box in enumerate(ndimage.find_objects(parts), start=1):
        if box is None:
            continue
        crop = np.pad(parts[box] == index, 1)
        rc = _outer_contour(crop)[:-1]  # closed contour repeats its first point
        rc = rc + np.array([box[0].start - 0.5, box[1].start - 0.5])  # to pixel-edge coords
        rc = _square_corners(rc)
        simplified = approximate_polygon(np.vstack([rc, rc[:1]]), tolerance)[:-1]
        if len(simplified) < 3:
            simplified = rc
        poly = Polygon(
            simplified[:, ::-1],
            instance_id=int(part_label[index]) if is_labels else None,
        )
        polygons.append((abs(_signed_area(rc)), poly))
    polygons.sort(key=lambda item: -item[0])
    return [poly for _, poly in polygons]
