"""Image and annotation input/output.

Images: :func:`read_image` (PNG, JPEG, BMP, TIFF as gray, native bit depth, pixel size
from SEM metadata), :func:`normalize_image` (the one normalisation step) with
:func:`normalization_levels` / :func:`normalize_to_levels` (its levels; scaling with given
levels), writers for masks, labels and images. Annotations: Aachen-Heerlen polygon CSV,
COCO JSON, polygons to masks and back. EBSD maps live in :mod:`grainseg_core.io.ebsd` (imported on its own).
"""

from __future__ import annotations

from grainseg_core.io.annotations import (
    CSV_COLUMNS,
    MASK_MODES,
    AnnotationSet,
    ImageAnnotations,
    Polygon,
    RowProblem,
    annotation_masks,
    image_base_name,
    mask_to_polygons,
    polygon_centroid,
    polygons_to_mask,
    read_coco_polygons,
    read_polygon_csv,
    write_polygon_csv,
)
from grainseg_core.io.images import (
    LUMA_BT709,
    MIN_IMAGE_SIDE,
    NORMALIZE_METHODS,
    SUPPORTED_FORMATS,
    ImageMeta,
    normalization_levels,
    normalize_image,
    normalize_to_levels,
    read_image,
    write_image,
    write_labels,
    write_mask,
)

# Exactly what images and annotations export, in their order (tests/io/test_images.py
# checks it); spelled out so that linters and IDEs see the re-exports.
__all__ = [
    # images
    "ImageMeta",
    "read_image",
    "normalize_image",
    "normalization_levels",
    "normalize_to_levels",
    "write_mask",
    "write_labels",
    "write_image",
    "NORMALIZE_METHODS",
    "SUPPORTED_FORMATS",
    "MIN_IMAGE_SIDE",
    "LUMA_BT709",
    # annotations
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
