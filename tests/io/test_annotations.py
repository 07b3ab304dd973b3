"""Polygon annotations: Aachen-Heerlen CSV, COCO JSON, polygon fill and mask export."""

from __future__ import annotations

import json
import math
import string
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grainseg_core.errors import AnnotationError, GrainsegWarning, InputError
from grainseg_core.io import (
    AnnotationSet,
    ImageAnnotations,
    Polygon,
    RowProblem,
    annotation_masks,
    image_base_name,
    mask_to_polygons,
    polygons_to_mask,
    read_coco_polygons,
    read_polygon_csv,
    write_polygon_csv,
)

COCO_JSON = Path("polygons_coco/examples/instance_segmentation/data/annotations/validation.json")

# Five rows, three images. Pixel (r, c) covers x in [c, c+1), y in [r, r+1); a pixel is
# filled when its centre (c + 0.5, r + 0.5) is inside (left/top edges in, right/bottom out).
AACHEN_CSV = """image_url;point;polygon
IMG_00001.png;(3, 2);[(1, 1), (5, 1), (5, 4), (1, 4)]
IMG_00001.png;(1, 1);[(0, 0), (4, 0), (0, 4)]
data/IMG_00002.png;(6.5, 5);[(4, 3), (9, 3), (9, 7), (4, 7)]
IMG_00001.png;;[(6, 6), (8, 6), (8, 9), (6, 9)]
http://host/a/IMG_00003.png;(2, 2);[(2, 0), (4, 2), (2, 4), (0, 2)]
"""


# --------------------------------------------------------------------------- CSV reading
def test_hand_made_csv_gives_known_masks() -> None:
    ann = read_polygon_csv(AACHEN_CSV.encode(), name="five_rows.csv")
    assert list(ann.images) == ["IMG_00001.png", "IMG_00002.png", "IMG_00003.png"]
    assert [len(a) for a in ann.images.values()] == [3, 1, 1]
    assert ann.n_polygons == 5 and ann.ok and ann.report == ()
    rect, tri, rect2 = ann.images["IMG_00001.png"].polygons

    # 4 x 3 rectangle on integer corners: exactly its area, rows 1..3, cols 1..4.
    m = polygons_to_mask([rect], (6, 7))
    expected = np.zeros((6, 7), bool)
    expected[1:4, 1:5] = True
    np.testing.assert_array_equal(m, expected)
    # Right triangle legs 4: centres strictly below the hypotenuse x + y < 4 (3 + 2 + 1).
    tri_mask = polygons_to_mask([tri], (5, 5))
    np.testing.assert_array_equal(
        tri_mask.astype(int),
        [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
    )
    # Union of the three polygons of image 1 (rect and triangle share pixel (1, 1)).
    union = polygons_to_mask(ann.images["IMG_00001.png"], (10, 10))
    assert int(union.sum()) == 12 + 6 + 6 - 1
    # Image 2: 5 x 4 rectangle = 20 pixels; image 3: a diamond of diagonal 4 = 8 pixels.
    assert int(polygons_to_mask(ann.images["IMG_00002.png"], (10, 10)).sum()) == 20
    diamond = polygons_to_mask(ann.images["IMG_00003.png"], (5, 5))
    assert int(diamond.sum()) == 8
    np.testing.assert_array_equal(
        diamond[:4, :4].astype(int), [[0, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 0], [0, 1, 0, 0]]
    )

    # Centers: from the point column, or the area centroid when the cell is empty.
    assert rect.center == (3.0, 2.0) and tri.center == (1.0, 1.0)
    assert rect2.center == pytest.approx((7.0, 7.5))
    assert ann["http://elsewhere/IMG_00003.png"].polygons[0].center == (2.0, 2.0)


def test_instance_mode_later_polygon_wins() -> None:
    ann = read_polygon_csv(AACHEN_CSV.encode())
    inst = polygons_to_mask(ann.images["IMG_00001.png"], (10, 10), mode="instance")
    assert inst.dtype == np.int32
    # Labels follow row order: rect 1, triangle 2, second rect 3.
    assert inst[1, 1] == 2  # pixel of both rect and triangle: the later (triangle) wins
    assert inst[3, 4] == 1 and inst[7, 7] == 3 and inst[9, 9] == 0
    assert sorted(np.unique(inst).tolist()) == [0, 1, 2, 3]
    counts = np.bincount(inst.ravel())
    assert counts[1:].tolist() == [12 - 1, 6, 6]


def test_image_url_paths_reduce_to_base_names() -> None:
    rows = [
        "../x.png",
        "/etc/x",
        "http://host/a/IMG_1.png?token=1#frag",
        "C:\\x\\y.png",
        "  spaced name.png ",
    ]
    text = "image_url;point;polygon\n" + "".join(
        f"{r};(1, 1);[(0, 0), (2, 0), (2, 2)]\n" for r in rows
    )
    ann = read_polygon_csv(text.encode())
    assert list(ann.images) == ["x.png", "x", "IMG_1.png", "y.png", "spaced name.png"]
    assert image_base_name("a/b/") == ""


def test_header_case_comma_variant_and_headerless_files() -> None:
    upper = "IMAGE_URL ; Point ; POLYGON\nA.png;(1, 1);[(0, 0), (3, 0), (0, 3)]\n"
    comma = 'image_url,point,polygon\nA.png,"(1, 1)","[(0, 0), (3, 0), (0, 3)]"\n'
    headerless = "A.png;(1, 1);[(0, 0), (3, 0), (0, 3)]\nB.png;(1, 1);[(0, 0), (3, 0), (0, 3)]\n"
    no_point = "polygon;image_url\n[(0, 0), (3, 0), (0, 3)];A.png\n"
    for text in (upper, comma, no_point):
        ann = read_polygon_csv(text.encode())
        assert ann.images["A.png"].polygons[0].vertices == ((0, 0), (3, 0), (0, 3))
    ann = read_polygon_csv(headerless.encode())
    assert list(ann.images) == ["A.png", "B.png"]
    # JSON-style inner lists, a trailing comma, a BOM and CRLF line ends are tolerated.
    odd = "\ufeffimage_url;point;polygon\r\nA.png;[1, 1];[[0, 0], [3, 0], [0, 3],]\r\n"
    assert len(read_polygon_csv(odd.encode()).images["A.png"]) == 1


def test_file_path_source_and_file_object(tmp_path: Path) -> None:
    path = tmp_path / "ann.csv"
    path.write_text(AACHEN_CSV, encoding="utf-8")
    by_path = read_polygon_csv(path)
    with path.open("rb") as fh:
        by_file = read_polygon_csv(fh)
    assert by_path.images == by_file.images
    assert by_path.source_name == "ann.csv"


# --------------------------------------------------------------------------- CSV errors
_GOOD = "IMG_1.png;(1, 1);[(0, 0), (4, 0), (4, 4)]"


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        (
            "IMG_2.png;(1, 1);[(0, 0), (4, 0)]",
            "polygon",
            r"2 distinct vertices; a polygon needs at least 3",
        ),
        ("IMG_2.png;(1, 1);[(0, 0), (4, 0), (0, 0)]", "polygon", r"2 distinct vertices"),
        (
            "IMG_2.png;(1, 1);[(0, 0), (4, zero), (4, 4)]",
            "polygon",
            r"vertex 2 has a non-numeric coordinate 'zero'",
        ),
        (
            "IMG_2.png;(1, 1);[(0, 0), (nan, 1), (4, 4)]",
            "polygon",
            r"vertex 2 has a NaN coordinate",
        ),
        (
            "IMG_2.png;(1, 1);[(0, 0), (4, inf), (4, 4)]",
            "polygon",
            r"vertex 2 has a infinite coordinate",
        ),
        (
            "IMG_2.png;(1, 1);[(0, 0), (4, 1, 2), (4, 4)]",
            "polygon",
            r"vertex 2 '\(4, 1, 2\)' has 3 values",
        ),
        ("IMG_2.png;(1, 1);[(0, 0), (4, 1), (4, 4)", "polygon", r"not a list of tuples"),
        ("IMG_2.png;(1, 1);[(0, 0), (4, 1) (4, 4)] x", "polygon", r"not a list of tuples"),
        (
            "IMG_2.png;(1, 1);[(0, 0), (4, 1), 7, (4, 4)]",
            "polygon",
            r"unexpected text '7' before vertex 3",
        ),
        (
            "IMG_2.png;(1, 1);[(0, 0), (4, 1), (4, 4), (5]",
            "polygon",
            r"unexpected text '\(5' after vertex 3",
        ),
        ("IMG_2.png;(1, 1);[]", "polygon", r"holds no \(x, y\) vertices"),
        ("IMG_2.png;(1, 1);", "polygon", r"is empty"),
        (
            "IMG_2.png;(1, one);[(0, 0), (4, 0), (4, 4)]",
            "point",
            r"the point has a non-numeric coordinate 'one'",
        ),
        (
            "IMG_2.png;1, 1;[(0, 0), (4, 0), (4, 4)]",
            "point",
            r"is not a point; expected '\(x, y\)'",
        ),
        (";(1, 1);[(0, 0), (4, 0), (4, 4)]", "image_url", r"names no image file"),
        ("IMG_2.png;(1, 1)", "polygon", r"row has 2 field\(s\) separated by ';', the header has 3"),
    ],
)
def test_bad_row_strict_raises_with_line_and_column(row: str, column: str, reason: str) -> None:
    text = f"image_url;point;polygon\n{_GOOD}\n{row}\n{_GOOD}\n"
    with pytest.raises(
        AnnotationError, match=rf"'bad\.csv', line 3, column '{column}': .*{reason}"
    ):
        read_polygon_csv(text.encode(), name="bad.csv")
    # strict=False: the bad row is reported, the good rows are kept.
    ann = read_polygon_csv(text.encode(), strict=False, name="bad.csv")
    assert ann.n_polygons == 2 and not ann.ok
    assert len(ann.report) == 1
    problem = ann.report[0]
    assert isinstance(problem, RowProblem)
    assert (problem.row, problem.column) == (3, column)
    assert str(problem).startswith(f"line 3, column '{column}'")


def test_non_strict_reports_every_bad_row_with_file_lines() -> None:
    text = (
        "image_url;point;polygon\n"
        f"{_GOOD}\n"
        "\n"  # blank lines are skipped but still counted
        "A.png;(1, 1);[(0, 0)]\n"
        f"{_GOOD}\n"
        "B.png;(x, 1);[(0, 0), (1, 0), (1, 1)]\n"
    )
    ann = read_polygon_csv(text.encode(), strict=False)
    assert [(p.row, p.column) for p in ann.report] == [(4, "polygon"), (6, "point")]
    assert list(ann.images) == ["IMG_1.png"] and ann.n_polygons == 2


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", r"'f\.csv' is empty"),
        (b"  \n\n", r"'f\.csv' is empty"),
        (b"\xef\xbb\xbf", r"'f\.csv' is empty"),
        (
            b"image_url\tpoint\tpolygon\nA.png\t(1, 1)\t[(0, 0), (1, 0), (1, 1)]\n",
            r"tab-separated .*expected ';'",
        ),
        (b"image_url|point|polygon\n", r"found '\|' in the first line .*expected ';'"),
        (b"just some words\n", r"found no separator in the first line"),
        (
            b"image_url;point\nA.png;(1, 1)\n",
            r"column 'polygon' missing from the header; found \['image_url', 'point'\]",
        ),
        (
            b"name;where;shape\nA.png;(1, 1);[(0, 0), (1, 0), (1, 1)]\n",
            r"columns 'image_url', 'polygon' missing",
        ),
        (
            "image_url;point;polygon\nÄ.png;(1, 1);[(0, 0), (1, 0), (1, 1)]\n".encode("latin-1"),
            r"not UTF-8 text \(byte 0xc4 at offset 24\); save it as UTF-8",
        ),
        ("image_url;point;polygon\n".encode("utf-16"), r"UTF-16 text; save it as UTF-8"),
        (
            b"image_url,point,polygon\nA.png,(1, 1),[(0, 0), (1, 0), (1, 1)]\n",
            r"tuple strings must be quoted",
        ),
    ],
)
def test_bad_files_raise_clear_errors(content: bytes, match: str) -> None:
    with pytest.raises(AnnotationError, match=match):
        read_polygon_csv(content, name="f.csv", strict=True)


def test_file_level_errors_raise_even_when_not_strict(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match=r"tab-separated"):
        read_polygon_csv(b"image_url\tpoint\tpolygon\n", strict=False)
    with pytest.raises(AnnotationError, match=r"'.*nope\.csv' does not exist; check the path"):
        read_polygon_csv(tmp_path / "nope.csv")
    with pytest.raises(AnnotationError, match=r"is a folder, not a file"):
        read_polygon_csv(tmp_path)
    with pytest.raises(
        AnnotationError, match=r"expected a file path, bytes or a binary file object"
    ):
        read_polygon_csv(12345)


def test_header_only_file_is_an_empty_set() -> None:
    ann = read_polygon_csv(b"image_url;point;polygon\n")
    assert isinstance(ann, AnnotationSet) and len(ann) == 0 and ann.n_polygons == 0


# --------------------------------------------------------------------------- CSV writing
def test_write_polygon_csv_text_and_file(tmp_path: Path) -> None:
    ann = read_polygon_csv(AACHEN_CSV.encode())
    text = write_polygon_csv(ann, tmp_path / "out.csv")
    assert text.splitlines()[0] == "image_url;point;polygon"
    assert text.splitlines()[1] == "IMG_00001.png;(3, 2);[(1, 1), (5, 1), (5, 4), (1, 4)]"
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == text
    assert read_polygon_csv(tmp_path / "out.csv").images == ann.images
    with pytest.raises(AnnotationError, match=r"folder '.*missing' does not exist"):
        write_polygon_csv(ann, tmp_path / "missing" / "out.csv")
    with pytest.raises(AnnotationError, match=r"expects ImageAnnotations; got str"):
        write_polygon_csv(["IMG_1.png"])


_coord = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
_name_chars = string.ascii_letters + string.digits + "_-. ;,()[]'\"äé"


@st.composite
def _polygons(draw: st.DrawFn) -> Polygon:
    n = draw(st.integers(3, 12))
    # Distinct vertices (the reader rejects polygons with fewer than 3 distinct ones).
    xs = draw(st.lists(_coord, min_size=n, max_size=n))
    ys = draw(st.lists(_coord, min_size=n, max_size=n, unique=True))
    center = draw(st.one_of(st.none(), st.tuples(_coord, _coord)))
    return Polygon(tuple(zip(xs, ys, strict=True)), center)


@st.composite
def _annotation_sets(draw: st.DrawFn) -> dict[str, ImageAnnotations]:
    names = draw(
        st.lists(
            st.text(_name_chars, min_size=1, max_size=20).map(str.strip).filter(bool),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    return {
        name: ImageAnnotations(name, tuple(draw(st.lists(_polygons(), min_size=1, max_size=4))))
        for name in names
    }


@settings(max_examples=60, deadline=None)
@given(_annotation_sets())
def test_csv_round_trip_is_identity(images: dict[str, ImageAnnotations]) -> None:
    text = write_polygon_csv(images)
    back = read_polygon_csv(text.encode("utf-8"))
    assert back.images == images
    assert back.ok


# --------------------------------------------------------------------------- COCO
def test_real_coco_polygon_areas_match_within_2_percent(shared_data: Path) -> None:
    path = shared_data / COCO_JSON
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    images = read_coco_polygons(path)
    polygons = [p for ann in images.values() for p in ann.polygons]
    assert len(images) == 32 and len(polygons) == 187
    assert {ann.shape for ann in images.values()} == {(512, 512)}
    # COCO's `area` of these files is the polygon's exact (shoelace) area, floored; we
    # compare the pixel count of each rasterised polygon (pixel-centre, top-left rule).
    rel_errors = []
    for ann in images.values():
        for poly in ann.polygons:
            assert poly.area is not None and poly.category_id == 0 and poly.label == "melt pool"
            assert math.floor(poly.geometric_area()) == poly.area
            with warnings.catch_warnings():
                warnings.simplefilter("error", GrainsegWarning)  # all vertices in [0, 512]
                n_pixels = int(polygons_to_mask([poly], ann.shape).sum())
            rel_errors.append(abs(n_pixels - poly.area) / poly.area)
    assert max(rel_errors) < 0.02
    assert float(np.median(rel_errors)) < 0.002
    # Instance masks carry the COCO annotation ids.
    first = next(iter(images.values()))
    inst = annotation_masks({first.image_name: first}, mode="instance")[first.image_name]
    assert set(np.unique(inst)) - {0} <= {p.instance_id for p in first.polygons}


def _coco(**extra: object) -> dict:
    data = {
        "images": [
            {"id": 1, "file_name": "./data/a.png", "height": 10, "width": 12},
            {"id": 2, "file_name": "b.png", "height": 10, "width": 12},
        ],
        "annotations": [
            {
                "id": 7,
                "image_id": 1,
                "category_id": 3,
                "area": 12.0,
                "segmentation": [[1, 1, 5, 1, 5, 4, 1, 4]],
            },
        ],
        "categories": [{"id": 3, "name": "grain"}],
    }
    data.update(extra)
    return data


def test_coco_reader_keeps_fields_and_lists_empty_images(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(_coco()), encoding="utf-8")
    images = read_coco_polygons(path)
    assert list(images) == ["a.png", "b.png"]
    poly = images["a.png"].polygons[0]
    assert (poly.area, poly.category_id, poly.label, poly.instance_id) == (12.0, 3, "grain", 7)
    assert images["b.png"].polygons == () and images["b.png"].shape == (10, 12)
    masks = annotation_masks(images)
    assert int(masks["a.png"].sum()) == 12 and int(masks["b.png"].sum()) == 0
    inst = annotation_masks(images, mode="instance")["a.png"]
    assert set(np.unique(inst).tolist()) == {0, 7}


def test_coco_rle_uncompressed_is_decoded_compressed_is_skipped() -> None:
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:7] = True
    flat = mask.T.ravel()  # COCO RLE runs down columns, zeros first
    change = np.flatnonzero(np.diff(flat.astype(int))) + 1
    counts = np.diff(np.concatenate([[0], change, [flat.size]])).tolist()
    anns = [
        {
            "id": 1,
            "image_id": 2,
            "segmentation": {"size": [10, 12], "counts": counts},
            "iscrowd": 1,
        },
        {"id": 2, "image_id": 2, "segmentation": {"size": [10, 12], "counts": "a3b2"}},
    ]
    with pytest.warns(GrainsegWarning, match=r"1 annotation\(s\) use compressed RLE .*ids \[2\]"):
        images = read_coco_polygons(_coco(annotations=anns))
    (poly,) = images["b.png"].polygons
    np.testing.assert_array_equal(polygons_to_mask([poly], (10, 12)), mask)
    assert poly.geometric_area() == 12.0


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"annotations": []}, r"has no 'images' list; found keys \['annotations'\]"),
        (
            _coco(annotations=[{"id": 1, "image_id": 9, "segmentation": [[0, 0, 1, 0, 1, 1]]}]),
            r"refers to image_id 9, not in 'images'",
        ),
        (
            _coco(annotations=[{"id": 1, "image_id": 1, "segmentation": [[0, 0, 1, 0, 1]]}]),
            r"annotations\[0\] \(id 1\): polygon must be a flat list .* got 5 numbers",
        ),
        (_coco(annotations=[{"id": 1, "image_id": 1}]), r"needs 'image_id' and 'segmentation'"),
        (
            _coco(images=[{"id": 1, "file_name": "x/a.png"}, {"id": 2, "file_name": "y/a.png"}]),
            r"two images share the base name 'a\.png'",
        ),
        (
            _coco(annotations=[{"id": 1, "image_id": 1, "segmentation": "RLE?"}]),
            r"'segmentation' must be a list of polygons or an RLE object; got str",
        ),
    ],
)
def test_coco_errors(data: dict, match: str) -> None:
    with pytest.raises(AnnotationError, match=match):
        read_coco_polygons(data)


def test_coco_file_errors(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match=r"'c\.json' is not valid JSON \(line 1"):
        read_coco_polygons(b"{not json", name="c.json")
    with pytest.raises(AnnotationError, match=r"is empty"):
        read_coco_polygons(b"")
    with pytest.raises(AnnotationError, match=r"holds a JSON list; expected an object"):
        read_coco_polygons(b"[]")


# --------------------------------------------------------------------------- fill rule
def test_polygons_sharing_an_edge_tile_without_overlap_or_gap() -> None:
    # A 7 x 7 square cut along its diagonal: every pixel in exactly one triangle.
    lower = [(0, 0), (7, 7), (0, 7)]
    upper = [(0, 0), (7, 0), (7, 7)]
    a = polygons_to_mask([lower], (7, 7))
    b = polygons_to_mask([upper], (7, 7))
    assert not (a & b).any() and (a | b).all()
    # Sub-pixel vertices and a concave (L-shaped) polygon.
    l_shape = [(0.5, 0.5), (6, 0.5), (6, 2.2), (2.2, 2.2), (2.2, 6), (0.5, 6)]
    m = polygons_to_mask([l_shape], (7, 7))
    assert int(m.sum()) == 2 * 6 + 4 * 2  # rows 0-1: x in [0.5, 6); rows 2-5: x in [0.5, 2.2)
    np.testing.assert_array_equal(m[:, 0], [1, 1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(m[0], [1, 1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(m[3], [1, 1, 0, 0, 0, 0, 0])


def test_fill_is_exact_for_near_coincident_edges_and_heavy_overlap() -> None:
    # A 5x5 square with a 1e-12 px wide slit from the top down to y = 4. Pixel centres of
    # column 2 (x = 2.5) lie on the slit's left edge, a right edge of the polygon: out.
    # 3000 empty slivers come first so the fast sort key cannot tell the slit's edges
    # apart; the exact fallback must keep them in order.
    sliver = [(0, 0), (0.1, 0), (0, 0.1)]
    slit = [(0, 0), (2.5, 0), (2.5, 4), (2.5 + 1e-12, 4), (2.5 + 1e-12, 0), (5, 0), (5, 5), (0, 5)]
    m = polygons_to_mask([sliver] * 3000 + [slit], (5, 5))
    expected = np.ones((5, 5), bool)
    expected[:4, 2] = False
    np.testing.assert_array_equal(m, expected)
    # Heavy overlap (covered pixels > 2 M N) takes the difference-array path: same union.
    squares = [[(k, k), (k + 6, k), (k + 6, k + 6), (k, k + 6)] for k in (0, 1, 2, 3, 0, 1, 2, 3)]
    expected = np.zeros((10, 10), bool)
    for sq in squares:
        expected |= polygons_to_mask([sq], (10, 10))
    np.testing.assert_array_equal(polygons_to_mask(squares, (10, 10)), expected)
    assert int(expected.sum()) == 81 - 2 * (3 + 2 + 1)  # 9x9 minus two staircase corners


def test_vertices_outside_are_clipped_with_a_warning() -> None:
    poly = [(-2, -2), (4, -2), (4, 3), (-2, 3)]  # (4, 3) is inside, 3 vertices are not
    with pytest.warns(
        GrainsegWarning, match=r"3 vertices of 1 polygon\(s\) lie outside the 5x5 image"
    ):
        m = polygons_to_mask([poly], (5, 5))
    expected = np.zeros((5, 5), bool)
    expected[0:3, 0:4] = True
    np.testing.assert_array_equal(m, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        polygons_to_mask([[(0, 0), (5, 0), (5, 5)]], (5, 5))  # on the frame: no warning


def test_polygons_to_mask_validation() -> None:
    with pytest.raises(InputError, match=r"unknown mask mode 'instances'; did you mean 'instance'"):
        polygons_to_mask([], (4, 4), mode="instances")
    with pytest.raises(InputError, match=r"shape must be \(rows, cols\) of two integers"):
        polygons_to_mask([], 4)
    with pytest.raises(InputError, match=r"shape must be at least \(1, 1\); got \(0, 4\)"):
        polygons_to_mask([], (0, 4))
    with pytest.raises(InputError, match=r"polygons\[1\] must be a Polygon or an \(K, 2\) array"):
        polygons_to_mask([[(0, 0), (1, 0), (1, 1)], [(0, 0), (1, 1)]], (4, 4))
    with pytest.raises(InputError, match=r"polygons\[0\] has NaN"):
        polygons_to_mask([[(0, 0), (np.nan, 0), (1, 1)]], (4, 4))
    with pytest.raises(AnnotationError, match=r"at least 3 vertices; got 2"):
        Polygon([(0, 0), (1, 1)])
    with pytest.raises(AnnotationError, match=r"finite numbers"):
        Polygon([(0, 0), (1, np.inf), (1, 1)])
    assert polygons_to_mask([], (3, 4)).shape == (3, 4)
    assert polygons_to_mask([], (3, 4), mode="instance").dtype == np.int32


def test_annotation_masks_empty_images_and_warnings() -> None:
    ann = read_polygon_csv(AACHEN_CSV.encode())
    shapes = {"IMG_00001.png": (10, 10), "folder/IMG_00002.png": (8, 10), "IMG_09999.png": (6, 6)}
    with pytest.warns(
        GrainsegWarning, match=r"1 annotated image\(s\) have no shape .*'IMG_00003\.png'"
    ):
        masks = annotation_masks(ann, shapes)
    assert list(masks) == ["IMG_00001.png", "IMG_00002.png", "IMG_09999.png"]
    assert masks["IMG_09999.png"].shape == (6, 6) and not masks["IMG_09999.png"].any()
    assert int(masks["IMG_00002.png"].sum()) == 20
    with pytest.raises(AnnotationError, match=r"size of 3 annotated image\(s\) is unknown"):
        annotation_masks(ann)


# --------------------------------------------------------------------------- export
def test_mask_to_polygons_rectangle_and_labels() -> None:
    mask = np.zeros((6, 8), bool)
    mask[1:4, 2:7] = True
    (poly,) = mask_to_polygons(mask)
    assert sorted(poly.vertices) == [(2.0, 1.0), (2.0, 4.0), (7.0, 1.0), (7.0, 4.0)]
    assert poly.geometric_area() == 15.0 and poly.instance_id is None

    labels = np.zeros((8, 8), np.int32)
    labels[0:8, 0:8] = 5
    labels[2:5, 2:5] = 9  # nested inside 5
    labels[6:8, 6:8] = 0
    polys = mask_to_polygons(labels, tolerance=0.0)
    assert [p.instance_id for p in polys] == [5, 9]  # larger first: later (nested) wins
    np.testing.assert_array_equal(polygons_to_mask(polys, labels.shape, mode="instance"), labels)


def test_mask_to_polygons_round_trip_random_masks() -> None:
    rng = np.random.default_rng(3)
    from scipy import ndimage
    from skimage.measure import label

    for _ in range(40):
        shape = tuple(rng.integers(1, 25, size=2))
        mask = rng.random(shape) < rng.uniform(0.2, 0.8)
        parts = label(mask, connectivity=1)
        # Polygons carry no holes: the expected refill is each region with holes filled.
        expected = np.zeros(shape, bool)
        for i in range(1, parts.max() + 1):
            expected |= ndimage.binary_fill_holes(parts == i, structure=np.ones((3, 3)))
        for tolerance in (0.0, 0.25):
            back = polygons_to_mask(mask_to_polygons(mask, tolerance=tolerance), shape)
            np.testing.assert_array_equal(back, expected)
    # A coarse tolerance gives fewer vertices and a close mask.
    disk = np.hypot(*np.mgrid[-20:21, -20:21]) < 15
    fine = mask_to_polygons(disk, tolerance=0.25)[0]
    coarse = mask_to_polygons(disk, tolerance=1.5)[0]
    assert len(coarse.vertices) < len(fine.vertices) / 2
    refill = polygons_to_mask([coarse], disk.shape)
    assert (refill ^ disk).sum() / disk.sum() < 0.05


def test_mask_to_polygons_validation() -> None:
    with pytest.raises(InputError, match=r"tolerance must be >= 0"):
        mask_to_polygons(np.ones((4, 4), bool), tolerance=-1)
    with pytest.raises(InputError, match=r"bool mask or integer labels; got dtype float64"):
        mask_to_polygons(np.ones((4, 4)))
    with pytest.raises(InputError, match=r"labels >= 0 .*got minimum -1"):
        mask_to_polygons(-np.ones((4, 4), int))
    with pytest.raises(InputError, match=r"2-D array"):
        mask_to_polygons(np.ones(4, bool))
    assert mask_to_polygons(np.zeros((4, 4), bool)) == []
