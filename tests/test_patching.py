"""Tests of grainseg_core.patching: pairs, patch grids, preprocessing, splits, export, manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from skimage.segmentation import find_boundaries

from grainseg_core.errors import ConfigError, DatasetError, ImageReadError, InputError
from grainseg_core.patching import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    ImagePair,
    Manifest,
    PatchConfig,
    export_dataset,
    extract_patches,
    is_dataset_dir,
    pair_from_arrays,
    pair_from_files,
    pairs_from_annotations,
    pairs_from_folders,
    patch_grid,
    preprocess_image,
    read_label_file,
    read_manifest,
    write_manifest,
)

TBM = Path("tbm/AutoSAM/TBM_dataset")


def voronoi_pair(
    name: str, shape=(192, 256), *, seed: int = 0, dtype=np.uint8, group=None, n_grains=30
) -> ImagePair:
    """Random Voronoi grains: gray levels per grain plus noise; boundary = grain edges."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 1, (n_grains, 2)) * np.array(shape)
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    d2 = (rr[..., None] - pts[:, 0]) ** 2 + (cc[..., None] - pts[:, 1]) ** 2
    grains = d2.argmin(axis=-1)
    top = 255 if dtype == np.uint8 else 60000
    levels = rng.uniform(0.2, 0.8, n_grains) * top
    image = levels[grains] + rng.normal(0, 0.02 * top, shape)
    image = np.clip(image, 0, top).astype(dtype)
    return ImagePair(name, image, find_boundaries(grains, mode="inner"), group=group)


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", array)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def read_any(path: Path) -> np.ndarray:
    if path.suffix == ".tif":
        return tifffile.imread(path)
    return cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)


# --------------------------------------------------------------------------------------
# ImagePair and adapters
# --------------------------------------------------------------------------------------


def test_image_pair_normalises_label_and_defaults():
    label = np.zeros((40, 50), np.uint8)
    label[3, 4] = 255
    pair = ImagePair("a", np.zeros((40, 50), np.uint16), label, pixel_size_um=0.5)
    assert pair.label.dtype == bool and int(pair.label.sum()) == 1 and pair.label[3, 4]
    assert pair.group == "a" and pair.target == "boundary" and pair.shape == (40, 50)
    assert pair.pixel_size_um == 0.5


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"image": np.zeros((8, 8), np.int32)}, InputError, "dtype int32"),
        ({"image": np.zeros((8, 8), bool)}, InputError, "dtype bool"),
        ({"label": np.zeros((8, 9), bool)}, InputError, r"must match its image"),
        ({"image": np.full((8, 8), np.nan, np.float32)}, InputError, "NaN"),
        ({"name": " "}, InputError, "non-empty string"),
        ({"target": "grains"}, InputError, "'boundary'"),
        ({"pixel_size_um": -1.0}, InputError, "positive"),
        ({"source": {"x": object()}}, InputError, "JSON-ready"),
    ],
)
def test_image_pair_validation(kwargs, error, match):
    args = {"name": "a", "image": np.zeros((8, 8), np.uint8), "label": np.zeros((8, 8), bool)}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        ImagePair(**args)


def test_pair_from_arrays_turns_rgb_to_gray_and_records_provenance(tmp_path):
    rgb = np.zeros((16, 20, 3), np.uint8)
    rgb[..., 0] = 100  # pure red -> BT.709 luma 0.2126 * 100, as io.read_image
    pair = pair_from_arrays(rgb, np.ones((16, 20)), name="ebsd1", source={"path": tmp_path})
    assert pair.image.shape == (16, 20) and pair.image.dtype == np.uint8
    assert int(pair.image[0, 0]) == 21
    gray_rgb = np.repeat(np.arange(16 * 20, dtype=np.uint16).reshape(16, 20, 1), 3, axis=2)
    assert np.array_equal(pair_from_arrays(gray_rgb, np.ones((16, 20)), name="g").image, gray_rgb[..., 0])
    assert pair.source == {"kind": "arrays", "path": str(tmp_path)}


def _big(values: np.ndarray) -> np.ndarray:
    """Each value as an 8 x 8 block (io.read_image refuses images under 8 x 8)."""
    return np.kron(values, np.ones((8, 8), values.dtype))


def _small(mask: np.ndarray) -> list:
    return mask[::8, ::8].tolist()


def test_read_label_file_polarity_threshold_and_scales(tmp_path):
    values = np.array([[0, 127, 128, 255]], np.uint8)
    path = write_png(tmp_path / "a.png", _big(values))
    assert _small(read_label_file(path)) == [[False, False, True, True]]
    assert _small(read_label_file(path, foreground="black")) == [[True, True, False, False]]
    assert _small(read_label_file(path, threshold=100)) == [[False, True, True, True]]
    # 0/1 masks are read as 0/255; 16-bit masks on the 8-bit scale; colour via luma.
    zero_one = write_png(tmp_path / "b.png", _big(np.array([[0, 1]], np.uint8)))
    assert _small(read_label_file(zero_one)) == [[False, True]]
    sixteen = np.array([[0, 30000, 40000, 65535]], np.uint16)
    assert _small(read_label_file(write_png(tmp_path / "c.png", _big(sixteen)))) == [
        [False, False, True, True]
    ]
    tifffile.imwrite(tmp_path / "d.tif", _big(np.array([[0.0, 0.9]], np.float32)))
    assert _small(read_label_file(tmp_path / "d.tif")) == [[False, True]]
    colour = np.zeros((8, 16, 3), np.uint8)
    colour[:, 8:] = 255
    assert _small(read_label_file(write_png(tmp_path / "e.png", colour))) == [[False, True]]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"foreground": "red"}, "'white' or 'black'"), ({"threshold": 0}, r"\(0, 255\]")],
)
def test_read_label_file_validation(tmp_path, kwargs, match):
    path = write_png(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match=match):
        read_label_file(path, **kwargs)


def test_read_label_file_missing_and_corrupt(tmp_path):
    with pytest.raises(ImageReadError, match="does not exist"):
        read_label_file(tmp_path / "none.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ImageReadError, match="bad.png"):
        read_label_file(tmp_path / "bad.png")


def test_pair_from_files_checks_shapes(tmp_path):
    img = write_png(tmp_path / "i.png", np.zeros((10, 12), np.uint8))
    lab = write_png(tmp_path / "l.png", np.zeros((10, 11), np.uint8))
    with pytest.raises(DatasetError, match=r"does not match image file"):
        pair_from_files(img, lab)


def test_pairs_from_folders_matches_stems_and_groups(tmp_path):
    for stem in ("10-0-0", "10-0-256", "11-0-0"):
        write_png(tmp_path / "img" / f"{stem}.png", np.full((8, 8), 7, np.uint8))
        write_png(tmp_path / "lab" / f"{stem}.png", np.eye(8, dtype=np.uint8) * 255)
    pairs = pairs_from_folders(tmp_path / "img", tmp_path / "lab", group_pattern=r"^(\d+)-")
    assert [p.name for p in pairs] == ["10-0-0", "10-0-256", "11-0-0"]
    assert [p.group for p in pairs] == ["10", "10", "11"]
    assert all(int(p.label.sum()) == 8 for p in pairs)
    assert pairs[0].source["kind"] == "files" and pairs[0].source["foreground"] == "white"
    some = pairs_from_folders(tmp_path / "img", tmp_path / "lab", names=["11-0-0"])
    assert [p.name for p in some] == ["11-0-0"]
    write_png(tmp_path / "img" / "12-0-0.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(DatasetError, match="without a label"):
        pairs_from_folders(tmp_path / "img", tmp_path / "lab")
    assert len(pairs_from_folders(tmp_path / "img", tmp_path / "lab", strict=False)) == 3
    with pytest.raises(DatasetError, match="not a folder"):
        pairs_from_folders(tmp_path / "nope", tmp_path / "lab")
    with pytest.raises(DatasetError, match="no image named"):
        pairs_from_folders(tmp_path / "img", tmp_path / "lab", names=["99"])


def test_pairs_from_annotations_csv_fills_polygons(tmp_path):
    write_png(tmp_path / "img" / "IMG_1.png", np.full((10, 12), 50, np.uint8))
    write_png(tmp_path / "img" / "IMG_2.png", np.full((10, 12), 60, np.uint8))
    csv = tmp_path / "polys.csv"
    csv.write_text(
        "image_url;point;polygon\n"
        "IMG_1.png;(4, 4);[(2, 2), (6, 2), (6, 6), (2, 6)]\n"
        "IMG_2.png;(1, 1);[(0, 0), (2, 0), (2, 2), (0, 2)]\n",
        encoding="utf-8",
    )
    pairs = pairs_from_annotations(csv, tmp_path / "img")
    assert [p.name for p in pairs] == ["IMG_1", "IMG_2"]
    expected = np.zeros((10, 12), bool)
    expected[2:6, 2:6] = True  # pixel centres inside the square: rows and cols 2..5
    assert (pairs[0].label == expected).all()
    assert pairs[0].target == "mask" and pairs[0].source["n_polygons"] == 1
    outline = pairs_from_annotations(csv, tmp_path / "img", target="boundary")[0].label
    assert int(outline.sum()) == 12 and not outline[3:5, 3:5].any()
    (tmp_path / "img" / "IMG_2.png").unlink()
    with pytest.raises(DatasetError, match="not in"):
        pairs_from_annotations(csv, tmp_path / "img")
    assert len(pairs_from_annotations(csv, tmp_path / "img", strict=False)) == 1


def test_pairs_from_annotations_real_coco(shared_data, tmp_path):
    root = shared_data / "polygons_coco/examples/instance_segmentation/data"
    from grainseg_core.io import read_coco_polygons

    ann = read_coco_polygons(root / "annotations/validation.json")
    few = dict(list(ann.items())[:3])
    pairs = pairs_from_annotations(few, root / "validation")
    assert len(pairs) == 3
    for pair in pairs:
        assert pair.shape == (512, 512) and pair.target == "mask"
    n_polys = [p.source["n_polygons"] for p in pairs]
    fractions = [float(p.label.mean()) for p in pairs]
    # An image with polygons has a non-empty mask, one without has an empty one.
    assert all((f > 0) == (n > 0) for f, n in zip(fractions, n_polys))


# --------------------------------------------------------------------------------------
# Grid, patches and preprocessing
# --------------------------------------------------------------------------------------


def test_patch_grid_known_answers():
    rows, cols = patch_grid((300, 512), size=128)
    assert rows.tolist() == [0, 128, 172] and cols.tolist() == [0, 128, 256, 384]
    rows, cols = patch_grid((300, 512), size=128, remainder="drop")
    assert rows.tolist() == [0, 128] and cols.tolist() == [0, 128, 256, 384]
    rows, _ = patch_grid((300, 512), size=128, stride=100)
    assert rows.tolist() == [0, 100, 172]
    rows, cols = patch_grid((100, 512), size=128)
    assert rows.size == 0 and cols.size == 4
    with pytest.raises(InputError, match="remainder"):
        patch_grid((10, 10), size=4, remainder="pad")


def test_extract_patches_content_and_coords():
    img = np.arange(100 * 140, dtype=np.uint16).reshape(100, 140)
    lab = (img % 7) == 0
    patches, labels, coords = extract_patches(img, lab, size=64)
    assert patches.shape == (6, 64, 64) and patches.dtype == np.uint16
    assert coords.tolist() == [[0, 0], [0, 64], [0, 76], [36, 0], [36, 64], [36, 76]]
    for p, l, (r, c) in zip(patches, labels, coords):
        assert (p == img[r : r + 64, c : c + 64]).all() and (l == lab[r : r + 64, c : c + 64]).all()
    patches, _, coords = extract_patches(img, lab, size=64, remainder="drop")
    assert coords.tolist() == [[0, 0], [0, 64]]
    patches, _, coords = extract_patches(img[:50], lab[:50], size=64)
    assert patches.shape == (0, 64, 64)
    with pytest.raises(InputError, match="must match"):
        extract_patches(img, lab[:10], size=64)


def test_preprocess_median_and_clahe():
    img = np.full((64, 64), 100, np.uint8)
    img[10, 10] = 255  # salt
    out = preprocess_image(img, PatchConfig(median=3))
    assert out.dtype == np.uint8 and int(out[10, 10]) == 100
    assert (preprocess_image(img) == img).all()  # default: no preprocessing
    # Two flat halves with faint texture: CLAHE stretches the local contrast of each.
    rng = np.random.default_rng(0)
    halves = np.where(np.arange(128)[None, :] < 64, 60, 190) + rng.integers(0, 8, (128, 128))
    for dtype, scale in ((np.uint8, 1), (np.uint16, 256)):
        low_contrast = (halves * scale).astype(dtype)
        eq = preprocess_image(low_contrast, PatchConfig(clahe=True))
        assert eq.dtype == dtype
        for cols in (slice(0, 56), slice(72, 128)):
            assert eq[:, cols].astype(float).std() > 1.5 * low_contrast[:, cols].std()
    unit = (halves - halves.min()) / np.ptp(halves)
    fl = preprocess_image(halves.astype(np.float64) / 1000, PatchConfig(clahe=True, median=5))
    assert fl.dtype == np.float32 and fl.min() >= 0 and fl.max() <= 1
    assert fl[:, 8:56].std() > 0  # median 5 then CLAHE: texture survives
    fl = preprocess_image(halves.astype(np.float32) / 1000, PatchConfig(clahe=True))
    assert fl[:, :56].std() > 1.3 * unit[:, :56].std()
    u16 = np.full((32, 32), 1000, np.uint16)
    u16[5, 5] = 60000
    assert int(preprocess_image(u16, PatchConfig(median=7))[5, 5]) == 1000  # scipy path


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 16}, r"size must be >= 32"),
        ({"size": 64, "stride": 65}, r"stride must be in \[1, 64\]"),
        ({"median": 4}, "odd"),
        ({"split": "by_imag"}, "did you mean 'by_image'"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "< 1"),
        ({"test_fraction": 1.0}, r"\[0, 1\)"),
        ({"n_folds": 1}, r"n_folds must be in \[2, 20\]"),
        ({"remainder": "pad"}, "'shift' or 'drop'"),
        ({"min_label_fraction": 2}, "min_label_fraction"),
        ({"size": 64.0}, "integer"),
    ],
)
def test_patch_config_validation(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        PatchConfig(**kwargs)


# --------------------------------------------------------------------------------------
# Export and splits
# --------------------------------------------------------------------------------------


def _hashes(root: Path, records) -> set[str]:
    return {hashlib.sha1(read_any(root / r.image).tobytes()).hexdigest() for r in records}


def test_export_by_image_never_leaks_test_images(tmp_path):
    pairs = [voronoi_pair(f"img{i}", seed=i) for i in range(10)]
    m = export_dataset(pairs, tmp_path / "ds", PatchConfig(size=64))
    assert not m.leaky and m.warnings == () and m.n_folds == 1
    train, val, test = (m.select(s) for s in ("train", "val", "test"))
    assert len(train) + len(val) + len(test) == len(m.patches) == 10 * 12
    sources = {s: {r.source for r in recs} for s, recs in (("train", train), ("val", val), ("test", test))}
    assert len(sources["test"]) == 1 and len(sources["val"]) == 1  # 10 % of 10 images each
    assert not sources["train"] & sources["test"] and not sources["train"] & sources["val"]
    assert not sources["val"] & sources["test"]
    # Content check: hashes of the stored test patches never appear among the training ones.
    root = tmp_path / "ds"
    assert not _hashes(root, train) & _hashes(root, test)
    assert {r.sha1 for r in test} == _hashes(root, test)
    assert m.counts == {"patches": 120, "sources": 10, "folds": [{"train": 96, "val": 12, "test": 12}]}


def test_export_files_are_exact_crops_of_the_sources(tmp_path):
    pairs = [voronoi_pair(f"s{i}", shape=(150, 200), seed=i, dtype=np.uint16) for i in range(3)]
    m = export_dataset(pairs, tmp_path, PatchConfig(size=64, val_fraction=0))
    by_name = {p.name: p for p in pairs}
    for rec in m.patches:
        pair = by_name[rec.source]
        img = read_any(tmp_path / rec.image)
        lab = read_any(tmp_path / rec.label)
        window = (slice(rec.row, rec.row + 64), slice(rec.col, rec.col + 64))
        assert img.dtype == np.uint16 and (img == pair.image[window]).all()
        assert lab.dtype == np.uint8 and set(np.unique(lab)) <= {0, 255}
        assert ((lab == 255) == pair.label[window]).all()
        assert rec.label_fraction == pytest.approx(pair.label[window].mean())
    # 150 x 200 with 64 and the last row/column shifted to the edge: 3 x 4 patches.
    assert {(r.row, r.col) for r in m.patches if r.source == "s0"} == {
        (r, c) for r in (0, 64, 86) for c in (0, 64, 128, 136)
    }
    assert [s.shape for s in m.sources] == [(150, 200)] * 3 and m.sources[0].dtype == "uint16"


def test_export_float_images_as_tiff(tmp_path):
    pair = voronoi_pair("f", shape=(64, 128), seed=1)
    pair = ImagePair("f", pair.image.astype(np.float64) / 255.0, pair.label)
    pairs = [pair, ImagePair("g", pair.image, pair.label)]
    m = export_dataset(pairs, tmp_path, PatchConfig(size=64, val_fraction=0, test_fraction=0.5))
    rec = m.patches[0]
    assert rec.image.endswith(".tif")
    stored = tifffile.imread(tmp_path / rec.image)
    assert stored.dtype == np.float32
    assert np.array_equal(stored, pair.image[:, :64].astype(np.float32))


def test_groups_never_straddle_splits(tmp_path):
    pairs = [voronoi_pair(f"g{g}_c{c}", seed=10 * g + c, group=f"g{g}") for g in range(5) for c in range(3)]
    m = export_dataset(pairs, tmp_path, PatchConfig(size=64, val_fraction=0.2, test_fraction=0.2))
    group_of = {s.name: s.group for s in m.sources}
    seen: dict[str, set[str]] = {}
    for rec in m.patches:
        seen.setdefault(group_of[rec.source], set()).add(rec.splits[0])
    assert all(len(splits) == 1 for splits in seen.values())
    assert sorted(next(iter(s)) for s in seen.values()) == ["test", "train", "train", "train", "val"]


def test_by_image_too_few_images_and_val_fallback(tmp_path):
    with pytest.raises(DatasetError, match=r"at least 2 images"):
        export_dataset([voronoi_pair("only")], tmp_path / "a", PatchConfig(size=64))
    assert not (tmp_path / "a" / "images").exists()  # nothing half-written is left behind
    m = export_dataset(
        [voronoi_pair("a"), voronoi_pair("b", seed=1)], tmp_path / "b", PatchConfig(size=64)
    )
    counts = m.counts["folds"][0]
    assert counts == {"train": 11, "val": 1, "test": 12}
    assert any("drawn at random from the training images" in w for w in m.warnings)
    test_src = {r.source for r in m.select("test")}
    assert len(test_src) == 1 and not test_src & {r.source for r in m.select("val")}
    # No test split requested: a single image is enough.
    m = export_dataset(
        [voronoi_pair("solo")], tmp_path / "c", PatchConfig(size=64, val_fraction=0, test_fraction=0)
    )
    assert m.counts["folds"][0] == {"train": 12, "val": 0, "test": 0}


def test_random_patch_is_marked_leaky_and_reproducible(tmp_path):
    pairs = [voronoi_pair(f"r{i}", seed=i) for i in range(2)]
    cfg = PatchConfig(size=64, split="random_patch", val_fraction=0, test_fraction=0.1, seed=3)
    m1 = export_dataset(pairs, tmp_path / "a", cfg)
    assert m1.leaky and any("LEAKY" in w for w in m1.warnings)
    assert m1.counts["folds"][0] == {"train": 22, "val": 0, "test": 2}
    m2 = export_dataset(pairs, tmp_path / "b", cfg)
    assert [r.splits for r in m2.patches] == [r.splits for r in m1.patches]
    cfgs = [PatchConfig(size=64, split="random_patch", test_fraction=0.25, seed=s) for s in range(4)]
    splits = {tuple(r.splits for r in export_dataset(pairs, tmp_path / f"s{i}", c).patches)
              for i, c in enumerate(cfgs)}
    assert len(splits) > 1  # the seed matters


def test_column_cv_folds_partition_the_columns(tmp_path):
    pairs = [voronoi_pair(f"c{i}", shape=(128, 448), seed=i) for i in range(2)]  # 7 columns
    cfg = PatchConfig(size=64, split="column_cv", n_folds=3, val_fraction=0.1, remainder="drop")
    m = export_dataset(pairs, tmp_path, cfg)
    assert m.n_folds == 3 and not m.leaky
    assert all(len(r.splits) == 3 for r in m.patches)
    for src in ("c0", "c1"):
        recs = [r for r in m.patches if r.source == src]
        test_cols = [sorted({r.column for r in recs if r.splits[f] == "test"}) for f in range(3)]
        assert test_cols == [[0, 1, 2], [3, 4], [5, 6]]  # contiguous bands, a partition
        for r in recs:  # a column is tested in exactly one fold and trained/validated in the others
            assert r.splits.count("test") == 1
            assert set(r.splits) - {"test"} <= {"train", "val"}
        # the band a patch is tested in matches its column, also for the patch coordinates
        assert all(r.col == 64 * r.column for r in recs)
    for f in range(3):
        counts = m.counts["folds"][f]
        assert counts["val"] >= 1 and sum(counts.values()) == len(m.patches)


def test_column_cv_overlap_is_leaky_and_too_few_columns_fail(tmp_path):
    pairs = [voronoi_pair("c", shape=(128, 300), seed=0)]  # columns at 0, 64, 128, 192, 236
    # Two folds: bands {0, 64, 128} and {192, 236}; the overlapping pair stays in one band.
    m = export_dataset(pairs, tmp_path / "a", PatchConfig(size=64, split="column_cv", n_folds=2))
    assert not m.leaky
    # Five folds: 192 and 236 are tested in different folds and share pixels.
    m = export_dataset(pairs, tmp_path / "b", PatchConfig(size=64, split="column_cv", n_folds=5))
    assert m.leaky and any("column_cv with overlapping patches" in w for w in m.warnings)
    with pytest.raises(DatasetError, match=r"needs at least 5 patch columns per image; image 'c' has 4"):
        export_dataset(
            pairs, tmp_path / "c", PatchConfig(size=64, split="column_cv", n_folds=5, remainder="drop")
        )


def test_kfold_by_image(tmp_path):
    pairs = [voronoi_pair(f"k{i}", shape=(64, 128), seed=i) for i in range(4)]
    m = export_dataset(pairs, tmp_path / "a", PatchConfig(size=64, split="kfold_by_image", n_folds=2))
    for pair in pairs:
        recs = [r for r in m.patches if r.source == pair.name]
        folds_tested = {f for r in recs for f in range(2) if r.splits[f] == "test"}
        assert len(folds_tested) == 1  # each image is the test data of exactly one fold
        assert len({r.splits for r in recs}) == 1  # its patches move together
    for f in range(2):
        tested = {r.source for r in m.select("test", fold=f)}
        assert len(tested) == 2 and not tested & {r.source for r in m.select("train", fold=f)}
    with pytest.raises(DatasetError, match=r"n_folds=5 needs at least 5 images"):
        export_dataset(pairs, tmp_path / "b", PatchConfig(size=64, split="kfold_by_image", n_folds=5))
    with pytest.raises(InputError, match=r"pass fold=0..1"):
        m.select("train")
    with pytest.raises(InputError, match=r"fold must be an integer in \[0, 1\]"):
        m.select("train", fold=2)


def test_min_label_fraction_filters_and_empty_selection(tmp_path):
    pair = voronoi_pair("a", shape=(128, 128))
    label = np.zeros((128, 128), bool)
    label[:64, :64] = pair.label[:64, :64]
    label[70, 70:] = True  # 58 px in the bottom-right patch
    sparse = ImagePair("a", pair.image, label)
    cfg = PatchConfig(size=64, min_label_fraction=0.01, val_fraction=0, test_fraction=0)
    m = export_dataset([sparse], tmp_path / "a", cfg)
    assert {(r.row, r.col) for r in m.patches} == {(0, 0), (64, 64)}
    assert m.sources[0].n_patches == 2 and m.sources[0].n_filtered == 2
    assert all(r.label_fraction >= 0.01 for r in m.patches)
    empty = ImagePair("e", pair.image, np.zeros((128, 128), bool))
    with pytest.raises(DatasetError, match="min_label_fraction=0.01"):
        export_dataset([empty], tmp_path / "b", cfg)
    with pytest.raises(DatasetError, match="no image pairs"):
        export_dataset([], tmp_path / "c", cfg)
    small = ImagePair("tiny", np.zeros((20, 20), np.uint8), np.zeros((20, 20), bool))
    with pytest.raises(DatasetError, match="smaller than the 64x64"):
        export_dataset([small], tmp_path / "d", cfg)
    assert not any((tmp_path / "d").iterdir())  # the failed export left nothing behind
    with pytest.raises(InputError, match=r"pairs\[0\] must be an ImagePair"):
        export_dataset([np.zeros((8, 8))], tmp_path / "e", cfg)


def test_export_rejects_duplicate_names_and_mixed_targets(tmp_path):
    a = voronoi_pair("x y")
    with pytest.raises(DatasetError, match="share the name"):
        export_dataset([a, voronoi_pair("x_y")], tmp_path / "a", PatchConfig(size=64))
    mask = ImagePair("m", a.image, a.label, target="mask")
    with pytest.raises(DatasetError, match="mix label targets"):
        export_dataset([a, mask], tmp_path / "b", PatchConfig(size=64))


def test_overwrite_protection(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("precious", encoding="utf-8")
    pairs = [voronoi_pair(f"o{i}", seed=i) for i in range(3)]
    cfg = PatchConfig(size=64)
    with pytest.raises(DatasetError, match="not a grainseg dataset; refusing"):
        export_dataset(pairs, foreign, cfg)
    assert [p.name for p in foreign.iterdir()] == ["thesis.docx"]
    file_out = tmp_path / "file"
    file_out.write_text("x", encoding="utf-8")
    with pytest.raises(DatasetError, match="is a file"):
        export_dataset(pairs, file_out, cfg)

    ds = tmp_path / "ds"
    export_dataset(pairs, ds, cfg)
    with pytest.raises(DatasetError, match="overwrite=True"):
        export_dataset(pairs, ds, cfg)
    m = export_dataset(pairs[:2], ds, PatchConfig(size=128, test_fraction=0.5, val_fraction=0), overwrite=True)
    stored = sorted(p.name for p in (ds / "images").iterdir())
    assert stored == sorted(Path(r.image).name for r in m.patches) and len(stored) == 8
    assert read_manifest(ds) == m
    # An interrupted export (marker, no manifest) is still recognised as ours.
    (ds / MANIFEST_NAME).unlink()
    (ds / ".grainseg-export-in-progress").write_text("x", encoding="utf-8")
    assert is_dataset_dir(ds)
    with pytest.raises(DatasetError, match="unfinished export"):
        read_manifest(ds)
    export_dataset(pairs, ds, cfg, overwrite=True)
    assert not (ds / ".grainseg-export-in-progress").exists()


def test_manifest_round_trips_and_records_provenance(tmp_path):
    pairs = [
        pair_from_arrays(
            voronoi_pair(f"p{i}", seed=i).image, voronoi_pair(f"p{i}", seed=i).label,
            name=f"p{i}", pixel_size_um=0.25, source={"ebsd": f"scan{i}.ang"},
        )
        for i in range(4)
    ]
    calls = []
    cfg = PatchConfig(size=64, median=3, clahe=True, split="kfold_by_image", n_folds=2, seed=7)
    m = export_dataset(pairs, tmp_path, cfg, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert read_manifest(tmp_path) == m
    assert read_manifest(tmp_path / MANIFEST_NAME) == m
    data = json.loads((tmp_path / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert data["format"] == "grainseg-dataset" and data["format_version"] == FORMAT_VERSION
    assert data["config"]["median"] == 3 and data["config"]["clahe"] is True
    assert data["sources"][0]["provenance"] == {"kind": "arrays", "ebsd": "scan0.ang"}
    assert data["sources"][0]["pixel_size_um"] == 0.25 and data["sources"][0]["shape"] == [192, 256]
    from grainseg_core import __version__

    assert m.grainseg_version == __version__ and m.created.endswith("+00:00")
    # write_manifest(read_manifest(...)) is a fixed point; no temporary file is left over.
    again = tmp_path / "copy"
    again.mkdir()
    write_manifest(m, again)
    assert read_manifest(again) == m and [p.name for p in again.iterdir()] == [MANIFEST_NAME]
    assert Manifest.from_dict(m.to_dict()) == m


def test_read_manifest_errors(tmp_path):
    with pytest.raises(DatasetError, match="no dataset manifest"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{broken", encoding="utf-8")
    with pytest.raises(DatasetError, match="could not be read"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(DatasetError, match="not a grainseg dataset manifest"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text(
        '{"format": "grainseg-dataset", "format_version": 99}', encoding="utf-8"
    )
    with pytest.raises(DatasetError, match="format version 99 is not supported"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text(
        '{"format": "grainseg-dataset", "format_version": 1}', encoding="utf-8"
    )
    with pytest.raises(DatasetError, match="malformed"):
        read_manifest(tmp_path)


# --------------------------------------------------------------------------------------
# Real data: the TBM dataset
# --------------------------------------------------------------------------------------


def test_tbm_label_polarities_agree(shared_data):
    """TBM's black-on-white 128 crops equal its white-on-black 256 masks once read right."""
    dark = read_label_file(
        shared_data / "tbm/Datasets/GT/labels_128/10-0-768-0-128.png", foreground="black"
    )
    bright = read_label_file(shared_data / TBM / "TestDataset/masks/10-0-768.png")
    assert dark.shape == (128, 128) and 0.05 < dark.mean() < 0.5
    assert np.array_equal(dark, bright[0:128, 128:256])
    wrong = read_label_file(shared_data / "tbm/Datasets/GT/labels_128/10-0-768-0-128.png")
    assert wrong.mean() > 0.5  # the wrong polarity makes most pixels "boundary"


def test_tbm_export_by_image_with_256_patches(shared_data, tmp_path):
    names = ["10-256-1024", "10-256-512", "10-512-512", "12-256-512", "12-512-512",
             "13-0-768", "13-256-768"]
    pairs = pairs_from_folders(
        shared_data / TBM / "TrainDataset/images",
        shared_data / TBM / "TrainDataset/masks",
        names=names,
        group_pattern=r"^(\d+)-",
    )
    assert all(p.image.shape == (256, 256) and p.image.dtype == np.uint8 for p in pairs)
    cfg = PatchConfig(size=256, val_fraction=0.34, test_fraction=0.34)
    m = export_dataset(pairs, tmp_path / "tbm256", cfg)
    assert len(m.patches) == 7 and not m.leaky
    frame_splits: dict[str, set[str]] = {}
    for rec in m.patches:
        frame_splits.setdefault(rec.source.split("-")[0], set()).add(rec.splits[0])
    assert all(len(s) == 1 for s in frame_splits.values())  # no micrograph straddles splits
    assert sorted(next(iter(s)) for s in frame_splits.values()) == ["test", "train", "val"]
    root = tmp_path / "tbm256"
    for rec in m.patches:
        src = next(p for p in pairs if p.name == rec.source)
        assert np.array_equal(read_any(root / rec.label) == 255, src.label)
        assert 0.02 < rec.label_fraction < 0.4  # thin boundaries, as drawn
    assert not _hashes(root, m.select("train")) & _hashes(root, m.select("test"))
