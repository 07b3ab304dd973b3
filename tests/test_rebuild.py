"""Masks rebuilt from polygon CSV / COCO uploads, with the per-row report."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from grainseg_core.errors import AnnotationError, InputError
from grainseg_core.io import ImageAnnotations, Polygon, read_polygon_csv
from grainseg_core.patching import PatchConfig, export_dataset
from grainseg_core.rebuild import REPORT_COLUMNS, read_annotation_file, rebuild_masks


def _png(rows: int, cols: int, value: int = 100) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((rows, cols), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


CSV = (
    b"image_url;point;polygon\n"
    b"IMG_1.png;(3, 2);[(1, 1), (5, 1), (5, 4), (1, 4)]\n"  # 4 x 3 = 12 px
    b"IMG_1.png;(1, 1);[(1, 1), (2, 2)]\n"  # too few vertices
    b"http://host/x/IMG_2.png;;[(0, 0), (2, 0), (2, 2), (0, 2)]\n"  # 4 px, URL -> base name
    b"IMG_2.png;(a, b);[(0, 0), (1, 0), (1, 1)]\n"  # bad point
    b"IMG_3.png;;[(0, 0), (4, 0), (4, 4)]\n"  # image not uploaded
)


def test_csv_with_broken_rows_keeps_good_rows_and_reports_bad_ones():
    ann = read_annotation_file(CSV, name="polys.csv")
    assert ann.kind == "csv" and ann.n_polygons == 3
    assert ann.problems["where"].tolist() == ["line 3", "line 5"]
    assert ann.problems["field"].tolist() == ["polygon", "point"]
    out = rebuild_masks(
        ann, {"IMG_1.png": _png(12, 16), "IMG_2.png": _png(12, 16), "IMG_9.png": _png(12, 16)}
    )
    assert list(out.masks) == ["IMG_1.png", "IMG_2.png"]
    assert int(out.masks["IMG_1.png"].sum()) == 12
    assert out.masks["IMG_1.png"][1:4, 1:5].all()
    assert int(out.masks["IMG_2.png"].sum()) == 4
    assert list(out.report.columns) == list(REPORT_COLUMNS)
    where = out.report["where"].tolist()
    assert where[:2] == ["line 3", "line 5"]
    assert out.n_rejected == 2  # the two bad lines; the image problems are not rows
    assert "IMG_3.png" in where and "IMG_9.png" in where
    problems = dict(zip(out.report["where"], out.report["problem"], strict=False))
    assert "image not given" in problems["IMG_3.png"]
    assert "no annotation names this image" in problems["IMG_9.png"]
    assert out.summary["n_polygons"].tolist() == [1, 1]
    assert out.summary["label_fraction"].tolist() == pytest.approx([12 / 192, 4 / 192])


def test_strict_reader_would_have_failed_on_the_same_file():
    with pytest.raises(AnnotationError, match="line 3"):
        read_polygon_csv(CSV, name="polys.csv")


def test_corrupt_image_is_reported_and_clipped_polygons_noted():
    csv = (
        b"image_url;point;polygon\na.png;;[(0, 0), (40, 0), (40, 4), (0, 4)]\n"
        b"b.png;;[(0, 0), (3, 0), (3, 3)]\n"
    )
    out = rebuild_masks(
        read_annotation_file(csv, name="p.csv"), {"a.png": _png(10, 10), "b.png": b"\x89PNG broken"}
    )
    assert list(out.masks) == ["a.png"]
    rows = out.report.set_index("where")
    assert rows.loc["b.png", "field"] == "image"
    assert rows.loc["a.png", "field"] == "polygon" and "outside" in rows.loc["a.png", "problem"]
    assert out.masks["a.png"][:4].all() and not out.masks["a.png"][4:].any()


def test_boundary_target_keeps_touching_polygons_apart():
    ann = {
        "t.png": ImageAnnotations(
            "t.png",
            (Polygon([(1, 1), (5, 1), (5, 5), (1, 5)]), Polygon([(5, 1), (9, 1), (9, 5), (5, 5)])),
        )
    }
    out = rebuild_masks(ann, {"t.png": np.zeros((6, 10), np.uint8)}, target="boundary")
    mask = out.masks["t.png"]
    # Two 4x4 squares side by side: each outlined on its own (inner outline), 12 px each.
    assert int(mask.sum()) == 24
    assert mask[1:5, 4].all() and mask[1:5, 5].all()
    assert not mask[2:4, 2:4].any() and not mask[2:4, 6:8].any() and not mask[0].any()


def test_images_listed_without_polygons_get_empty_masks_and_pairs_export(tmp_path):
    coco = {
        "images": [
            {"id": 1, "file_name": "x/a.png", "height": 64, "width": 64},
            {"id": 2, "file_name": "b.png", "height": 64, "width": 64},
        ],
        "annotations": [
            {
                "id": 7,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [[8, 8, 40, 8, 40, 40, 8, 40]],
            }
        ],
        "categories": [{"id": 1, "name": "melt pool"}],
    }
    ann = read_annotation_file(json.dumps(coco).encode(), name="coco.json")
    assert ann.kind == "coco" and ann.problems.empty
    out = rebuild_masks(ann, {"a.png": _png(64, 64), "b.png": _png(64, 64)})
    assert int(out.masks["a.png"].sum()) == 32 * 32 and not out.masks["b.png"].any()
    assert out.summary["status"].tolist() == ["ok", "no polygons"]
    pairs = out.pairs(pixel_size_um=0.5)
    assert [p.name for p in pairs] == ["a", "b"] and pairs[0].pixel_size_um == 0.5
    assert pairs[0].target == "mask"
    manifest = export_dataset(
        pairs, tmp_path / "ds", PatchConfig(size=32, val_fraction=0.0, test_fraction=0.5)
    )
    assert len(manifest.patches) == 8


def test_coco_with_one_broken_annotation_keeps_the_others():
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "height": 16, "width": 16}],
        "annotations": [
            {"id": 1, "image_id": 1, "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]]},
            {"id": 2, "image_id": 1, "segmentation": [[0, 0, 1]]},
            {"id": 3, "image_id": 99, "segmentation": [[0, 0, 4, 0, 4, 4]]},
            {"id": 4, "image_id": 1, "segmentation": [[8, 8, 12, 8, 12, 12, 8, 12]]},
        ],
    }
    ann = read_annotation_file(json.dumps(coco).encode(), name="c.json")
    assert ann.n_polygons == 2
    assert ann.problems["where"].tolist() == ["annotations[1] (id 2)", "annotations[2] (id 3)"]
    assert "image_id 99" in ann.problems["problem"].iloc[1]
    out = rebuild_masks(ann, {"a.png": _png(16, 16)})
    assert int(out.masks["a.png"].sum()) == 32
    assert out.n_rejected == 2


def test_whole_file_errors_raise():
    with pytest.raises(AnnotationError, match="is empty"):
        read_annotation_file(b"  \n", name="e.csv")
    with pytest.raises(AnnotationError, match="not valid JSON"):
        read_annotation_file(b"{broken", name="c.json")
    with pytest.raises(AnnotationError, match="has no 'images' list"):
        read_annotation_file(b'{"annotations": []}', name="c.json")
    with pytest.raises(InputError, match="must be the file's bytes"):
        read_annotation_file("image_url;point;polygon", name="p.csv")
    ann = read_annotation_file(CSV, name="polys.csv")
    with pytest.raises(AnnotationError, match="none of the 3 annotated image"):
        rebuild_masks(ann, {"other.png": _png(12, 12)})
    with pytest.raises(AnnotationError, match="no annotated image could be read"):
        rebuild_masks(ann, {"IMG_1.png": b"junk"})
    with pytest.raises(InputError, match="target must be 'mask' or 'boundary'"):
        rebuild_masks(ann, {"IMG_1.png": _png(12, 12)}, target="edges")
    with pytest.raises(InputError, match="must be bytes or a 2-D array"):
        rebuild_masks(ann, {"IMG_1.png": np.zeros((4, 4, 3))})
    with pytest.raises(InputError, match="annotations must be"):
        rebuild_masks([1, 2], {})


def test_real_coco_melt_pools(shared_data):
    folder = shared_data / "polygons_coco" / "examples" / "instance_segmentation" / "data"
    ann = read_annotation_file(
        (folder / "annotations" / "validation.json").read_bytes(), name="validation.json"
    )
    names = sorted(ann.images)[:3]
    images = {n: (folder / "validation" / n).read_bytes() for n in names}
    out = rebuild_masks(ann, images)
    assert list(out.masks) == [n for n in ann.images if n in names]
    assert all(m.shape == (512, 512) for m in out.masks.values())
    # 29 images were not uploaded; each with polygons is reported, none is silently lost.
    unused = out.report[out.report["problem"].str.contains("image not given")]
    assert len(unused) == sum(1 for n, a in ann.images.items() if n not in names and len(a))
    assert all(
        0 < f < 1
        for f, k in zip(out.summary["label_fraction"], out.summary["n_polygons"], strict=False)
        if k
    )
