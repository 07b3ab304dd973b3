"""Polygon annotations: read/write Aachen-Heerlen CSV, read COCO JSON, polygons <-> masks.

Conventions
-----------
* Vertices are (x, y) = (col, row) in pixel units with the origin at the top-left corner
  of the top-left pixel: pixel (r, c) covers x in [c, c + 1), y in [r, r + 1) (COCO's
  convention). Use ``Polygon.rc`` for (row, col) arrays.
* Fill rule (:func:`polygons_to_mask`): a pixel is inside when its centre is inside the
  polygon (even-odd); centres exactly on an edge follow the top-left rule. Binary masks
  are the union of polygons; instance masks let the later polygon win.
* Image names are **base names**: ``image_url``/``file_name`` values such as
  ``../x.png``, ``/etc/x``, ``http://host/a/IMG_1.png`` or ``C:\\x\\y.png`` are reduced to
  ``x.png``, ``x``, ``IMG_1.png``, ``y.png`` and matched against the images the user gave;
  a path or URL from an annotation file is never opened.

Example
-------
>>> from grainseg_core.io import read_polygon_csv, polygons_to_mask
>>> text = b"image_url;point;polygon\\nIMG_1.png;(2, 1);[(0, 0), (4, 0), (4, 2), (0, 2)]"
>>> ann = read_polygon_csv(text)
>>> int(polygons_to_mask(ann["IMG_1.png"], (4, 6)).sum())
8
"""

from __future__ import annotations

from grainseg_core.io._annotation_model import (
    AnnotationSet,
    ImageAnnotations,
    Polygon,
    RowProblem,
    image_base_name,
    polygon_centroid,
)
from grainseg_core.io._coco import read_coco_polygons
from grainseg_core.io._polygon_csv import CSV_COLUMNS, read_polygon_csv, write_polygon_csv
from grainseg_core.io._raster import (
    MASK_MODES,
    annotation_masks,
    mask_to_polygons,
    polygons_to_mask,
)

__all__ = [
    "Polygon",
    "ImageAnnotations",
    "AnnotationSet",
    "RowProblem",
    "CSV_COLUMNS",
    "MASK_MODES",
    "image_base_name",
    "polygon_centroid",
    "read_polygon_csv",
    "write_polygon_csv",
    "read_coco_polygons",
    "polygons_to_mask",
    "annotation_masks",
    "mask_to_polygons",
]
