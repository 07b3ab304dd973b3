"""Training datasets on disk: image/label pairs -> patches, splits and a manifest.

The flow is ``pairs -> export_dataset -> folder``, and :class:`grainseg_core.datasets.GrainDataset`
reads the folder back. A dataset folder holds::

    out_dir/images/<source>_r<row>_c<col>.png   patch images, native dtype (8- or 16-bit PNG;
                                                float images as float32 TIFF)
    out_dir/labels/<source>_r<row>_c<col>.png   labels, 8-bit 0/255
    out_dir/manifest.json                       provenance, options, split of every patch

**Pairs.** Every source becomes an :class:`ImagePair` (image of native dtype, binary label,
pixel size, provenance): from arrays (:func:`pair_from_arrays`, e.g. EBSD-derived labels after
registration), from image + label files (:func:`pair_from_files`, :func:`pairs_from_folders`),
or from polygon annotations (:func:`pairs_from_annotations`). A label is a grain-*boundary* map
by default (``target="boundary"``); particle datasets use filled masks (``target="mask"``).

**Splits** (``PatchConfig.split``):

``"by_image"`` (default)
    whole images (or whole *groups*, e.g. all crops of one micrograph) go to train, val or
    test: no test pixel was ever seen in training. The validation set is also drawn by image
    when there are enough images, else at random from the training patches (the manifest
    says so in ``warnings``).
``"random_patch"``
    seed 000's protocol: each patch to train/val/test at random. **Leaky**: neighbouring
    patches of one image share grains and end up on both sides, so test scores overestimate
    performance on new images. The manifest has ``leaky=True`` and a warning.
``"column_cv"``
    seed 004's protocol: k-fold cross-validation by *chip columns*. The patch columns of
    every image are cut into ``n_folds`` contiguous bands; fold f tests on band f and
    trains on the others (validation: a random ``val_fraction`` of the training patches).
    (Seed 004 tested on single columns A, D and F of a 7-column grid; a partition of the
    columns uses every column for testing once.)
``"kfold_by_image"``
    k-fold cross-validation over whole images (groups).

**Remainders.** Patches start every ``stride`` pixels from the top-left corner. When the
image is not a whole number of strides, ``remainder="shift"`` (default) adds a last row /
column of patches aligned to the bottom / right edge (it overlaps its neighbour; every pixel
is covered), ``remainder="drop"`` leaves the remainder out. Images smaller than one patch
give no patches (listed in the manifest's warnings).

**Preprocessing** (on the whole image, before cutting, so that no patch edge shows):
median filter of size ``median`` (seed 000), then CLAHE (seed 003's local histogram
equalisation; OpenCV's ``createCLAHE`` on uint8/uint16 keeps the dtype; float images are
min-max scaled to [0, 1] and equalised with ``skimage.exposure.equalize_adapthist``).

**Normalisation** (identical at training and inference): patches are stored in the native
dtype; the manifest records, per source, the levels ``normalize_image`` uses on the *whole*
preprocessed source (``SourceInfo.normalization_bounds``). ``GrainDataset`` scales every
patch with its source's levels, so a patch's network input equals the same crop of the
whole-image input that :mod:`grainseg_core.inference` computes (:class:`InputNormalization`,
stored in the model card, replays the preprocessing and the scaling on a new micrograph).

Seed protocols as configurations::

    PatchConfig(size=128, median=3, split="random_patch", val_fraction=0, test_fraction=0.1)  # 000 *
    PatchConfig(size=256, split="column_cv", n_folds=3, val_fraction=0.1)                     # 004
    PatchConfig(size=256, clahe=True)                                                         # 003

(* seed 000 does not state its median filter size; 3 is the smallest.)
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from grainseg_core._patch_config import SPLIT_METHODS, PatchConfig, int_option
from grainseg_core._patch_manifest import (
    EXPORT_MARKER_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    Manifest,
    PatchRecord,
    SourceInfo,
    is_dataset_dir,
    read_manifest,
    write_manifest,
)
from grainseg_core._patch_norm import (
    InputNormalization,
    normalization_bounds,
    normalize_with_bounds,
)
from grainseg_core._patch_pairs import (
    IMAGE_DTYPES,
    ImagePair,
    pair_from_arrays,
    pair_from_files,
    pairs_from_annotations,
    pairs_from_folders,
    read_label_file,
)
from grainseg_core._patch_splits import assign_splits
from grainseg_core._validation import as_2d_array, check_same_shape
from grainseg_core.errors import DatasetError, InputError
from grainseg_core.types import ProgressCallback

__all__ = [
    "ImagePair",
    "PatchConfig",
    "SourceInfo",
    "PatchRecord",
    "Manifest",
    "pair_from_arrays",
    "pair_from_files",
    "pairs_from_folders",
    "pairs_from_annotations",
    "read_label_file",
    "preprocess_image",
    "patch_grid",
    "extract_patches",
    "export_dataset",
    "write_manifest",
    "read_manifest",
    "is_dataset_dir",
    "MANIFEST_NAME",
    "FORMAT_VERSION",
    "SPLIT_METHODS",
    "InputNormalization",
    "normalization_bounds",
    "normalize_with_bounds",
]


# Threads that encode and write patch files during an export.
_WRITE_THREADS = max(1, min(4, os.cpu_count() or 1))


# --------------------------------------------------------------------------------------
# Preprocessing and cutting
# --------------------------------------------------------------------------------------


def preprocess_image(image: np.ndarray, config: PatchConfig | None = None) -> np.ndarray:
    """Apply the configured median filter and CLAHE to a whole image.

    Parameters
    ----------
    image : np.ndarray, shape (M, N)
        uint8, uint16 or float image.
    config : PatchConfig, optional
        Uses ``median``, ``clahe``, ``clahe_clip_limit`` and ``clahe_tiles``.

    Returns
    -------
    np.ndarray, shape (M, N)
        uint8/uint16 images keep their dtype; float images come back float32 (in [0, 1]
        when CLAHE is on).

    Examples
    --------
    >>> img = np.zeros((9, 9), np.uint8); img[4, 4] = 255
    >>> int(preprocess_image(img, PatchConfig(median=3)).max())
    0
    """
    cfg = PatchConfig() if config is None else config
    img = as_2d_array(image, "image")
    if img.dtype not in IMAGE_DTYPES:
        raise InputError(f"image must be uint8, uint16 or float; got dtype {img.dtype}.")
    if img.dtype == np.float64:
        img = img.astype(np.float32)
    if cfg.median >= 3:
        # OpenCV's median is fast for uint8 at any size and for 16-bit/float up to 5.
        if img.dtype == np.uint8 or cfg.median <= 5:
            img = cv2.medianBlur(np.ascontiguousarray(img), cfg.median)
        else:
            from scipy.ndimage import median_filter

            img = median_filter(img, size=cfg.median, mode="reflect")
    if cfg.clahe:
        rows, cols = img.shape
        tiles = (max(1, min(cfg.clahe_tiles, cols)), max(1, min(cfg.clahe_tiles, rows)))
        if img.dtype in (np.uint8, np.uint16):
            clahe = cv2.createCLAHE(clipLimit=cfg.clahe_clip_limit, tileGridSize=tiles)
            img = clahe.apply(np.ascontiguousarray(img))
        else:
            from skimage.exposure import equalize_adapthist

            lo, hi = float(img.min()), float(img.max())
            unit = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
            # skimage's clip limit is normalised (0.01 ~ OpenCV's 2 at 8x8 tiles on 8-bit).
            kernel = (max(1, rows // tiles[1]), max(1, cols // tiles[0]))
            img = equalize_adapthist(
                unit, kernel_size=kernel, clip_limit=cfg.clahe_clip_limit / 200.0
            ).astype(np.float32)
    return img


def _starts(length: int, size: int, stride: int, remainder: str) -> np.ndarray:
    if length < size:
        return np.zeros(0, dtype=np.int64)
    starts = np.arange(0, length - size + 1, stride, dtype=np.int64)
    if remainder == "shift" and starts[-1] + size < length:
        starts = np.append(starts, length - size)
    return starts


def patch_grid(
    shape: tuple[int, int],
    *,
    size: int,
    stride: int | None = None,
    remainder: Literal["shift", "drop"] = "shift",
) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners of the patch grid over an image.

    Parameters
    ----------
    shape : tuple of int
        ``(M, N)`` of the image.
    size : int
        Patch side.
    stride : int, optional
        Step between origins (``size`` by default: non-overlapping).
    remainder : {"shift", "drop"}
        ``"shift"``: a last row/column of patches aligned to the bottom/right edge when the
        image is not a whole number of strides; ``"drop"``: the remainder is left out.

    Returns
    -------
    rows, cols : np.ndarray of int64
        Start rows and start columns; the patches are their Cartesian product. Empty when
        the image is smaller than one patch.

    Examples
    --------
    >>> rows, cols = patch_grid((300, 512), size=256)
    >>> rows.tolist(), cols.tolist()
    ([0, 44], [0, 256])
    >>> patch_grid((300, 512), size=256, remainder="drop")[0].tolist()
    [0]
    """
    if len(tuple(shape)) != 2:
        raise InputError(f"shape must be (M, N); got {shape!r}.")
    size_px = int_option(size, "size", 1)
    stride_px = size_px if stride is None else int_option(stride, "stride", 1)
    if remainder not in ("shift", "drop"):
        raise InputError(f"remainder must be 'shift' or 'drop'; got {remainder!r}.")
    rows, cols = (int(v) for v in shape)
    return (
        _starts(rows, size_px, stride_px, remainder),
        _starts(cols, size_px, stride_px, remainder),
    )


def extract_patches(
    image: np.ndarray,
    label: np.ndarray,
    *,
    size: int,
    stride: int | None = None,
    remainder: Literal["shift", "drop"] = "shift",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut an image and its label into square patches.

    Parameters
    ----------
    image : np.ndarray, shape (M, N)
    label : np.ndarray, shape (M, N)
    size, stride, remainder
        See :func:`patch_grid`.

    Returns
    -------
    images : np.ndarray, shape (P, size, size)
        Same dtype as ``image``.
    labels : np.ndarray, shape (P, size, size)
        Same dtype as ``label``.
    coords : np.ndarray of int64, shape (P, 2)
        ``(row, col)`` of each patch's top-left pixel in the source, row-major order.

    Examples
    --------
    >>> img = np.arange(64 * 96).reshape(64, 96)
    >>> patches, _, coords = extract_patches(img, img > 0, size=32)
    >>> patches.shape, coords[:2].tolist()
    ((6, 32, 32), [[0, 0], [0, 32]])
    >>> bool((patches[1] == img[0:32, 32:64]).all())
    True
    """
    img = as_2d_array(image, "image")
    lab = as_2d_array(label, "label")
    check_same_shape(lab, img, "label", "image")
    rows, cols = patch_grid(img.shape, size=size, stride=stride, remainder=remainder)
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    coords = np.stack([rr.ravel(), cc.ravel()], axis=1).astype(np.int64)
    if coords.shape[0] == 0:
        empty = (0, int(size), int(size))
        return np.zeros(empty, img.dtype), np.zeros(empty, lab.dtype), coords
    offsets = np.arange(int(size))
    # Fancy indexing gathers every patch in one vectorised copy.
    r_idx = (coords[:, 0, None] + offsets)[:, :, None]
    c_idx = (coords[:, 1, None] + offsets)[:, None, :]
    return img[r_idx, c_idx], lab[r_idx, c_idx], coords


# --------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------


def _safe_name(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return safe or "image"


def _prepare_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DatasetError(f"output '{out}' exists and is a file; give a folder path.")
    if out.is_dir() and any(out.iterdir()):
        if not is_dataset_dir(out):
            raise DatasetError(
                f"output folder '{out}' is not empty and is not a grainseg dataset; refusing to "
                "write into it. Choose a new or empty folder."
            )
        if not overwrite:
            raise DatasetError(
                f"output folder '{out}' already holds a grainseg dataset; pass overwrite=True "
                "to replace it, or choose another folder."
            )
        # Only what an export writes is removed; anything else the user put there stays.
        for sub in ("images", "labels"):
            if (out / sub).is_dir():
                shutil.rmtree(out / sub)
        (out / MANIFEST_NAME).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / EXPORT_MARKER_NAME).write_text("export in progress\n", encoding="utf-8")
    (out / "images").mkdir()
    (out / "labels").mkdir()


def _encode(path: Path, array: np.ndarray) -> None:
    if array.dtype == np.float32:
        import tifffile

        tifffile.imwrite(path, array)
        return
    ok, buf = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise DatasetError(f"could not encode patch '{path.name}' as PNG.")
    path.write_bytes(buf.tobytes())


def _check_pairs(pairs: Any) -> list[ImagePair]:
    if isinstance(pairs, ImagePair):
        pairs = [pairs]
    items = list(pairs) if pairs is not None else []
    if not items:
        raise DatasetError("no image pairs were given: an empty dataset cannot be exported.")
    for i, item in enumerate(items):
        if not isinstance(item, ImagePair):
            raise InputError(
                f"pairs[{i}] must be an ImagePair (see pair_from_arrays / pairs_from_folders); "
                f"got {type(item).__name__}."
            )
    seen: dict[str, str] = {}
    for item in items:
        safe = _safe_name(item.name)
        if safe in seen:
            raise DatasetError(
                f"two pairs share the name '{item.name}' (as a file name '{safe}', also "
                f"'{seen[safe]}'); give every source a unique name."
            )
        seen[safe] = item.name
    targets = sorted({p.target for p in items})
    if len(targets) > 1:
        raise DatasetError(
            f"pairs mix label targets {targets}; a dataset holds boundary maps or masks, not both."
        )
    return items


def export_dataset(
    pairs: Iterable[ImagePair],
    out_dir: str | os.PathLike,
    config: PatchConfig | None = None,
    *,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> Manifest:
    """Cut image pairs into patches, split them, and write a dataset folder.

    Parameters
    ----------
    pairs : iterable of ImagePair
        The sources (unique names; one target kind).
    out_dir : str or path
        Folder to write (created if needed). A non-empty folder is refused unless it holds a
        grainseg dataset and ``overwrite=True``.
    config : PatchConfig, optional
        Patch size, preprocessing, filtering and split; ``PatchConfig()`` by default.
    overwrite : bool
        Replace an existing grainseg dataset in ``out_dir`` (its patches and manifest are
        removed before the new ones are written; other files in the folder stay).
    progress : callable, optional
        ``progress(done, total)`` after each source image.

    Returns
    -------
    Manifest
        Also written to ``out_dir/manifest.json`` (atomically, last).

    Raises
    ------
    DatasetError
        No pairs, no patch left, too few images for the split, or an unusable ``out_dir``.

    Examples
    --------
    >>> import tempfile
    >>> rng = np.random.default_rng(0)
    >>> pairs = [ImagePair(f"im{i}", rng.integers(0, 255, (64, 64), dtype=np.uint8),
    ...                    rng.random((64, 64)) > 0.9) for i in range(3)]
    >>> m = export_dataset(pairs, tempfile.mkdtemp(), PatchConfig(size=32, val_fraction=0.3))
    >>> m.counts["folds"][0]
    {'train': 4, 'val': 4, 'test': 4}
    """
    items = _check_pairs(pairs)
    cfg = PatchConfig() if config is None else config
    if not isinstance(cfg, PatchConfig):
        raise InputError(f"config must be a PatchConfig; got {type(cfg).__name__}.")
    out = Path(out_dir)
    _prepare_out_dir(out, overwrite)
    try:
        manifest = _export(items, out, cfg, progress)
        write_manifest(manifest, out / MANIFEST_NAME)
    except BaseException:
        # Leave no half-written dataset behind: remove what this export wrote.
        for sub in ("images", "labels"):
            shutil.rmtree(out / sub, ignore_errors=True)
        (out / MANIFEST_NAME).unlink(missing_ok=True)
        (out / EXPORT_MARKER_NAME).unlink(missing_ok=True)
        raise
    (out / EXPORT_MARKER_NAME).unlink(missing_ok=True)
    return manifest


def _cut_source(
    pair: ImagePair, cfg: PatchConfig, out: Path, pool: ThreadPoolExecutor
) -> tuple[SourceInfo, list[dict[str, Any]], int]:
    """Preprocess, cut and write one source; return its info, patch records, grid columns."""
    image = preprocess_image(pair.image, cfg)
    rows, cols = patch_grid(image.shape, size=cfg.size, stride=cfg.stride, remainder=cfg.remainder)
    coords, fractions = _grid_fractions(pair.label, rows, cols, cfg.size)
    keep = fractions >= cfg.min_label_fraction
    col_index = {int(c): j for j, c in enumerate(cols.tolist())}
    stem = _safe_name(pair.name)
    records: list[dict[str, Any]] = []
    jobs: list[tuple[Path, np.ndarray]] = []
    for i in np.flatnonzero(keep):
        row, col = int(coords[i, 0]), int(coords[i, 1])
        pid = f"{stem}_r{row:05d}_c{col:05d}"
        # Slices, not a stacked copy: overlapping grids would multiply the memory.
        patch = np.ascontiguousarray(image[row : row + cfg.size, col : col + cfg.size])
        label = pair.label[row : row + cfg.size, col : col + cfg.size]
        ext = ".tif" if patch.dtype == np.float32 else ".png"
        jobs.append((out / "images" / f"{pid}{ext}", patch))
        jobs.append((out / "labels" / f"{pid}.png", label.astype(np.uint8) * np.uint8(255)))
        records.append(
            {
                "id": pid,
                "source": pair.name,
                "row": row,
                "col": col,
                "column": col_index[col],
                "size": cfg.size,
                "image": f"images/{pid}{ext}",
                "label": f"labels/{pid}.png",
                "label_fraction": float(fractions[i]),
                "sha1": hashlib.sha1(patch.tobytes()).hexdigest(),
            }
        )
    # PNG encoding and file writes release the GIL: a few threads overlap them.
    for _ in pool.map(_encode_job, jobs):
        pass
    info = SourceInfo(
        name=pair.name,
        group=pair.group,
        shape=pair.shape,
        dtype=str(image.dtype),
        pixel_size_um=pair.pixel_size_um,
        label_fraction=float(pair.label.mean()),
        n_patches=int(keep.sum()),
        n_filtered=int((~keep).sum()),
        provenance=dict(pair.source),
        # Levels of the whole preprocessed image: training patches are scaled with them
        # (see _patch_norm), as inference scales the whole micrograph.
        normalization_bounds=normalization_bounds(image),
    )
    return info, records, int(cols.size)


def _export(
    items: list[ImagePair], out: Path, cfg: PatchConfig, progress: ProgressCallback | None
) -> Manifest:
    from grainseg_core import __version__

    warnings: list[str] = []
    sources: list[SourceInfo] = []
    records: list[dict[str, Any]] = []
    groups: list[str] = []
    n_columns: dict[str, int] = {}
    total = len(items)
    with ThreadPoolExecutor(max_workers=_WRITE_THREADS) as pool:
        for done, pair in enumerate(items, start=1):
            info, recs, n_columns[pair.name] = _cut_source(pair, cfg, out, pool)
            if info.n_patches + info.n_filtered == 0:
                warnings.append(
                    f"image '{pair.name}' (shape {pair.shape}) is smaller than one "
                    f"{cfg.size}x{cfg.size} patch and gave no patches."
                )
            sources.append(info)
            records.extend(recs)
            groups.extend([pair.group] * len(recs))
            if progress is not None:
                progress(done, total)

    if not records:
        raise DatasetError(
            f"no patch was kept from {total} image(s): "
            + (
                f"every patch has less than min_label_fraction={cfg.min_label_fraction} "
                "label pixels; lower it."
                if any(s.n_filtered for s in sources)
                else f"every image is smaller than the {cfg.size}x{cfg.size} patch size."
            )
        )
    split_arr, split_warnings = assign_splits(
        groups,
        [r["source"] for r in records],
        [r["column"] for r in records],
        n_columns,
        [r["id"] for r in records],
        cfg,
    )
    warnings.extend(split_warnings)
    leaky = cfg.split == "random_patch" or _columns_overlap(cfg, records, split_arr)
    if leaky and cfg.split == "column_cv":
        warnings.append(
            "column_cv with overlapping patches (stride < size, or a shifted last column) is "
            "LEAKY: test columns share pixels with training columns. Use remainder='drop' "
            "and stride=None."
        )
    patch_records = tuple(
        PatchRecord(**r, splits=tuple(str(s) for s in split_arr[i]))
        for i, r in enumerate(records)
    )
    n_folds = split_arr.shape[1]
    folds = [
        {s: int((split_arr[:, f] == s).sum()) for s in ("train", "val", "test")}
        for f in range(n_folds)
    ]
    for f, fold_counts in enumerate(folds):
        if fold_counts["train"] == 0:
            raise DatasetError(
                f"fold {f} has no training patch (all patches filtered out or held out); lower "
                "min_label_fraction, val_fraction or test_fraction, or add images."
            )
        for s, frac in (("val", cfg.val_fraction), ("test", cfg.test_fraction)):
            if frac > 0 and fold_counts[s] == 0 and not (s == "test" and cfg.is_cv):
                warnings.append(f"fold {f}: the {s} set is empty (its images gave no patch).")
    return Manifest(
        format_version=FORMAT_VERSION,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        grainseg_version=str(__version__),
        config=cfg,
        target=items[0].target,
        n_folds=int(n_folds),
        leaky=bool(leaky),
        warnings=tuple(warnings),
        sources=tuple(sources),
        patches=patch_records,
        counts={"patches": len(patch_records), "sources": len(sources), "folds": folds},
    )


def _encode_job(job: tuple[Path, np.ndarray]) -> None:
    _encode(*job)


def _grid_fractions(
    label: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Patch corners (P, 2) in row-major order and the label fraction of each patch."""
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    coords = np.stack([rr.ravel(), cc.ravel()], axis=1).astype(np.int64)
    if coords.shape[0] == 0:
        return coords, np.zeros(0)
    # Summed-area table: every patch sum in O(1), whatever the overlap. int32 holds the
    # count of any image under the 150-megapixel limit; float64 beyond it.
    depth = cv2.CV_32S if label.size < 2**31 else cv2.CV_64F
    sat = cv2.integral(label.view(np.uint8), sdepth=depth).astype(np.int64)
    r, c = coords[:, 0], coords[:, 1]
    sums = sat[r + size, c + size] - sat[r, c + size] - sat[r + size, c] + sat[r, c]
    return coords, sums / float(size * size)


def _columns_overlap(cfg: PatchConfig, records: list[dict[str, Any]], splits: np.ndarray) -> bool:
    """True when, in some fold, a test patch overlaps a training patch of the same source."""
    if cfg.split != "column_cv":
        return False
    by_source: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_source.setdefault(r["source"], []).append(i)
    for idx in by_source.values():
        cols = np.array([records[i]["col"] for i in idx])
        for f in range(splits.shape[1]):
            lab = splits[idx, f]
            test_cols = np.unique(cols[lab == "test"])
            other_cols = np.unique(cols[lab != "test"])
            if test_cols.size and other_cols.size:
                gap = np.abs(test_cols[:, None] - other_cols[None, :]).min()
                if gap < cfg.size:
                    return True
    return False
