"""Tests of grainseg_core.datasets: GrainDataset items, augmentation, crops, seeds, listing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from grainseg_core.augment import AugmentConfig
from grainseg_core.datasets import GrainDataset, list_datasets, load_patch, seed_worker
from grainseg_core.datasets import _normalize
from grainseg_core.errors import DatasetError, GrainsegWarning, InputError
from grainseg_core.patching import MANIFEST_NAME, ImagePair, PatchConfig, export_dataset, pairs_from_folders


def pattern_pair(name: str, seed: int, size=(128, 192)) -> ImagePair:
    """Image = label drawn bright on dark: alignment is checkable after any augmentation."""
    rng = np.random.default_rng(seed)
    label = np.zeros(size, bool)
    for _ in range(40):  # random asymmetric bars
        r, c = rng.integers(0, size[0] - 20), rng.integers(0, size[1] - 30)
        if rng.random() < 0.5:
            label[r : r + 3, c : c + 30] = True
        else:
            label[r : r + 20, c : c + 2] = True
    image = np.where(label, 200, 30).astype(np.uint8)
    return ImagePair(name, image, label)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ds") / "bars"
    pairs = [pattern_pair(f"p{i}", i) for i in range(6)]
    # Every kept patch has >= 3 % bright label pixels, so that percentile normalisation
    # maps the label to ~1 and the background to ~0 in every patch.
    cfg = PatchConfig(size=64, val_fraction=0.2, test_fraction=0.2, min_label_fraction=0.03)
    export_dataset(pairs, root, cfg)
    return root


def test_items_have_shapes_dtypes_and_values(dataset_dir):
    ds = GrainDataset(dataset_dir, split="train")
    assert len(ds) == len(ds.manifest.select("train")) == 24
    image, label = ds[0]
    assert image.shape == (1, 64, 64) and label.shape == (1, 64, 64)
    assert image.dtype == torch.float32 and label.dtype == torch.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert set(torch.unique(label).tolist()) <= {0.0, 1.0}
    rec = ds.records[0]
    stored = load_patch(dataset_dir / rec.image)
    bounds = {s.name: s.normalization_bounds for s in ds.manifest.sources}[rec.source]
    expected = _normalize(stored, ds.manifest.config.normalize, bounds)
    assert np.array_equal(image[0].numpy(), expected)  # no augmentation by default
    assert np.array_equal(label[0].numpy() == 1, load_patch(dataset_dir / rec.label, kind="label"))
    assert ds.label_fraction == pytest.approx(np.mean([r.label_fraction for r in ds.records]))
    assert ds[-1][0].shape == (1, 64, 64)
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_augmentation_keeps_image_and_label_aligned(dataset_dir):
    ds = GrainDataset(dataset_dir, split="train", augment=AugmentConfig(intensity=0.05))
    changed = 0
    for i in range(len(ds)):
        image, label = ds[i]
        assert torch.equal(image[0] > 0.5, label[0] > 0.5)
        plain = _normalize(load_patch(dataset_dir / ds.records[i].image), "percentile")
        changed += not np.allclose(image[0].numpy(), plain)
    assert changed > len(ds) // 2


def test_augmentation_only_for_training(dataset_dir):
    aug = AugmentConfig(rotate_deg=90, affine_p=1.0)
    val = GrainDataset(dataset_dir, split="val", augment=aug)
    assert val.augment is None
    plain = GrainDataset(dataset_dir, split="val")
    for i in range(len(val)):
        assert torch.equal(val[i][0], plain[i][0]) and torch.equal(val[i][1], plain[i][1])
    test = GrainDataset(dataset_dir, split="test", augment=aug)
    assert test.augment is None and len(test) == len(test.manifest.select("test"))


def test_seeds_epochs_and_reproducibility(dataset_dir):
    aug = AugmentConfig(rotate_deg=30, scale_range=(0.9, 1.1), intensity=0.05)
    a = GrainDataset(dataset_dir, split="train", augment=aug, seed=1)
    b = GrainDataset(dataset_dir, split="train", augment=aug, seed=1)
    c = GrainDataset(dataset_dir, split="train", augment=aug, seed=2)
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(6))
    assert any(not torch.equal(a[i][0], c[i][0]) for i in range(6))
    first = [a[i][0] for i in range(6)]
    a.set_epoch(1)
    assert any(not torch.equal(a[i][0], first[i]) for i in range(6))
    a.set_epoch(0)
    assert all(torch.equal(a[i][0], first[i]) for i in range(6))  # an epoch's draws are fixed


def test_dataloader_results_do_not_depend_on_workers(dataset_dir):
    ds = GrainDataset(dataset_dir, split="train", augment=AugmentConfig(), patch_size=48, seed=3)

    def batches(workers: int) -> list[torch.Tensor]:
        loader = DataLoader(
            ds, batch_size=8, shuffle=True, num_workers=workers, worker_init_fn=seed_worker,
            generator=torch.Generator().manual_seed(0),
        )
        return [torch.cat([x, y], dim=1) for x, y in loader]

    serial = batches(0)
    assert [t.shape for t in serial] == [(8, 2, 48, 48)] * 3
    again = batches(0)
    parallel = batches(2)
    assert all(torch.equal(s, a) for s, a in zip(serial, again))
    assert all(torch.equal(s, p) for s, p in zip(serial, parallel))


def _find_window(big: np.ndarray, small: np.ndarray) -> list[tuple[int, int]]:
    s = small.shape[0]
    return [
        (r, c)
        for r in range(big.shape[0] - s + 1)
        for c in range(big.shape[1] - s + 1)
        if np.array_equal(big[r : r + s, c : c + s], small)
    ]


def test_random_crops_of_a_smaller_patch_size(dataset_dir):
    train = GrainDataset(dataset_dir, split="train", patch_size=40, seed=0)
    full = GrainDataset(dataset_dir, split="train")
    positions = set()
    for i in range(4):
        image, label = train[i]
        assert image.shape == (1, 40, 40) and label.shape == (1, 40, 40)
        stored, stored_label = full.load(i)
        where = _find_window(stored, image[0].numpy())
        assert where and any(
            np.array_equal(stored_label[r : r + 40, c : c + 40], label[0].numpy() > 0.5) for r, c in where
        )
        positions.update(where)
    assert len(positions) > 1  # crops move
    val = GrainDataset(dataset_dir, split="val", patch_size=40)
    first = [val[i][0] for i in range(len(val))]
    val.set_epoch(5)
    assert all(torch.equal(val[i][0], first[i]) for i in range(len(val)))  # fixed eval crops


def test_cross_validation_folds(tmp_path):
    pairs = [pattern_pair(f"k{i}", i, size=(64, 128)) for i in range(4)]
    root = tmp_path / "cv"
    m = export_dataset(pairs, root, PatchConfig(size=64, split="kfold_by_image", n_folds=2, val_fraction=0))
    with pytest.raises(InputError, match="pass fold=0..1"):
        GrainDataset(root, split="train")
    for fold in range(2):
        test = GrainDataset(root, split="test", fold=fold)
        assert [r.id for r in test.records] == [r.id for r in m.select("test", fold)]
        train = GrainDataset(root, split="train", fold=fold)
        assert not {r.source for r in train.records} & {r.source for r in test.records}
    with pytest.raises(DatasetError, match="'val' split of fold 0 .* is empty"):
        GrainDataset(root, split="val", fold=0)


def test_dataset_validation(dataset_dir, tmp_path):
    with pytest.raises(InputError, match=r"patch_size must be an integer in \[1, 64\]"):
        GrainDataset(dataset_dir, patch_size=65)
    with pytest.raises(InputError, match="augment must be an AugmentConfig"):
        GrainDataset(dataset_dir, augment={"flips": True})
    with pytest.raises(InputError, match="split must be"):
        GrainDataset(dataset_dir, split="training")
    with pytest.raises(InputError, match="seed must be"):
        GrainDataset(dataset_dir, seed=-1)
    with pytest.raises(DatasetError, match="no dataset manifest"):
        GrainDataset(tmp_path)


def test_missing_or_wrong_patch_files_are_reported(tmp_path):
    root = tmp_path / "ds"
    export_dataset([pattern_pair("a", 0), pattern_pair("b", 1)], root,
                   PatchConfig(size=64, val_fraction=0, test_fraction=0.5))
    ds = GrainDataset(root, split="train")
    (root / ds.records[0].image).unlink()
    with pytest.raises(DatasetError, match="is missing"):
        ds[0]
    import cv2

    ok, buf = cv2.imencode(".png", np.zeros((32, 32), np.uint8))
    (root / ds.records[1].image).write_bytes(buf.tobytes())
    with pytest.raises(DatasetError, match=r"has shape \(32, 32\)"):
        ds[1]


def test_list_datasets(tmp_path, dataset_dir):
    root = tmp_path / "datasets"
    export_dataset([pattern_pair("a", 0), pattern_pair("b", 1)], root / "two",
                   PatchConfig(size=64, val_fraction=0, test_fraction=0.5))
    export_dataset([pattern_pair("c", 2)], root / "one",
                   PatchConfig(size=128, split="random_patch", val_fraction=0, test_fraction=0.5))
    (root / "notes").mkdir()
    (root / "broken").mkdir()
    (root / "broken" / MANIFEST_NAME).write_text("{", encoding="utf-8")
    with pytest.warns(GrainsegWarning, match="skipping dataset folder"):
        found = list_datasets(root)
    assert [s.name for s in found] == ["one", "two"]
    one, two = found
    assert one.leaky and one.split == "random_patch" and one.patch_size == 128 and one.n_patches == 2
    assert two.n_sources == 2 and two.counts == ({"train": 6, "val": 0, "test": 6},)
    assert not two.leaky and two.target == "boundary" and two.n_folds == 1
    assert list_datasets(tmp_path / "absent") == []
    assert [s.name for s in list_datasets(dataset_dir)] == ["bars"]  # the root itself counts


def test_tbm_dataset_items(shared_data, tmp_path):
    tbm = shared_data / "tbm/AutoSAM/TBM_dataset/TrainDataset"
    pairs = pairs_from_folders(
        tbm / "images", tbm / "masks", names=["14-0-512", "15-0-1024", "16-256-256", "17-512-0"],
        group_pattern=r"^(\d+)-",
    )
    export_dataset(pairs, tmp_path / "tbm", PatchConfig(size=256, val_fraction=0, test_fraction=0.25))
    ds = GrainDataset(tmp_path / "tbm", split="train", augment=AugmentConfig(), patch_size=128)
    assert len(ds) == 3
    image, label = ds[0]
    assert image.shape == label.shape == (1, 128, 128)
    assert 0.02 < float(label.mean()) < 0.5 and float(image.std()) > 0.05


def _gradient_pair(name: str) -> ImagePair:
    """A ramp image: every patch holds another range of values than its source."""
    rows, cols = np.mgrid[0:96, 0:160]
    image = (rows + cols).astype(np.uint16) * np.uint16(200)
    return ImagePair(name, image, (rows % 16 == 0) | (cols % 16 == 0))


@pytest.mark.parametrize("method", ["percentile", "minmax", "dtype"])
def test_patches_are_scaled_with_their_source_levels(tmp_path, method):
    from grainseg_core.io import normalize_image

    pair = _gradient_pair("ramp")
    export_dataset([pair], tmp_path / "ds", PatchConfig(size=32, split="random_patch",
                                                        val_fraction=0.0, test_fraction=0.0,
                                                        normalize=method))
    ds = GrainDataset(tmp_path / "ds", split="train")
    whole = normalize_image(pair.image, method=method)
    bounds = ds.manifest.sources[0].normalization_bounds
    assert bounds["minmax"] == [0.0, float(pair.image.max())]
    for i, rec in enumerate(ds.records):
        crop = whole[rec.row : rec.row + 32, rec.col : rec.col + 32]
        assert np.array_equal(ds[i][0][0].numpy(), crop), rec.id
    # Scaled on its own, the top-left patch would span [0, 1]; scaled as a crop it does not.
    first = ds[0][0][0].numpy()
    assert method == "dtype" or float(first.max()) < 0.5
    assert ds.input_normalization == {
        "method": method, "percentiles": [0.5, 99.5], "median": 0, "clahe": False,
        "clahe_clip_limit": 2.0, "clahe_tiles": 8, "scope": "image",
    }


def test_old_manifest_without_levels_warns_and_scales_per_patch(tmp_path):
    import json

    export_dataset([_gradient_pair("ramp")], tmp_path / "ds",
                   PatchConfig(size=32, split="random_patch", val_fraction=0.0, test_fraction=0.0))
    file = tmp_path / "ds" / MANIFEST_NAME
    data = json.loads(file.read_text())
    for source in data["sources"]:
        del source["normalization_bounds"]
    file.write_text(json.dumps(data))
    with pytest.warns(GrainsegWarning, match="without per-source normalisation levels"):
        ds = GrainDataset(tmp_path / "ds", split="train")
    assert float(ds[0][0].max()) == 1.0  # the patch's own levels
