"""Tests of the bundled samples (grainseg_core.samples and samples/)."""

from __future__ import annotations

import importlib.util
import json
import shutil

import numpy as np
import pytest
import tifffile

from grainseg_core.errors import DatasetError, InputError
from grainseg_core.grains import label_grains
from grainseg_core.samples import list_samples, load_sample, samples_dir
from grainseg_core.synthetic import SyntheticConfig, make_microstructure


def test_list_samples_default_first_and_fields():
    infos = list_samples()
    assert [i.name for i in infos][0] == "nist_steel"
    assert len(infos) >= 3
    assert {i.kind for i in infos} == {"real", "synthetic"}
    for info in infos:
        assert info.title and info.description and info.source and info.licence
        assert info.has_label
        # A sample may come without a scale (TBM gives none): then None, never 0 or negative.
        assert info.pixel_size_um is None or info.pixel_size_um > 0
    assert any(i.pixel_size_um is None for i in infos)


@pytest.mark.parametrize("name", [i.name for i in list_samples()])
def test_every_sample_loads_with_matching_shapes(name):
    s = load_sample(name)
    assert s.name == name and s.info.name == name
    assert s.image.ndim == 2 and s.image.dtype == np.uint8
    assert s.boundary.dtype == bool and s.boundary.shape == s.image.shape
    assert list(s.image.shape) == s.meta["shape"]
    # A real boundary map: some boundary, mostly grains, many grains.
    assert 0.01 < s.boundary.mean() < 0.5
    assert label_grains(s.boundary).max() > 20


def test_nist_scale_is_50_over_222():
    s = load_sample("nist_steel")
    assert s.pixel_size_um == pytest.approx(50 / 222, rel=1e-15)
    assert s.image.shape == (600, 800)


def test_nist_png_equals_the_original_tiffs(shared_data):
    s = load_sample("nist_steel")
    folder = shared_data / "nist_steel"
    np.testing.assert_array_equal(s.image, tifffile.imread(folder / "grain_structures_steel.tif"))
    seg = tifffile.imread(folder / "grains_steel_highlighted_segmented.tif")
    np.testing.assert_array_equal(s.boundary, seg == 255)


def test_synthetic_sample_regenerates_from_its_meta():
    s = load_sample("synthetic_equiaxed")
    meta = s.meta
    config = SyntheticConfig.from_dict(meta["config"])
    ms = make_microstructure(tuple(meta["shape"]), seed=meta["seed"], config=config)
    np.testing.assert_array_equal(s.image, ms.image)
    np.testing.assert_array_equal(s.boundary, ms.boundary)
    assert s.pixel_size_um == ms.pixel_size_um
    assert meta["n_grains"] == ms.n_grains


def test_regeneration_script_check_mode(repo_root):
    spec = importlib.util.spec_from_file_location(
        "make_synthetic_samples", repo_root / "samples" / "make_synthetic_samples.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0


def test_samples_folder_is_small():
    total = sum(p.stat().st_size for p in samples_dir().rglob("*") if p.is_file())
    assert total < 3_000_000


def test_unknown_name_lists_valid_names():
    with pytest.raises(
        InputError,
        match=r"unknown sample 'nist_stel'; did you mean 'nist_steel'\? "
        r"Valid names: .*synthetic_equiaxed",
    ):
        load_sample("nist_stel")
    with pytest.raises(InputError, match="unknown sample '3'"):
        load_sample(3)


def test_broken_samples_folder_raises_clear_errors(tmp_path, monkeypatch, repo_root):
    monkeypatch.setenv("GRAINSEG_SAMPLES_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="index.json' is missing"):
        list_samples()
    copy = tmp_path / "copy"
    shutil.copytree(repo_root / "samples", copy)
    monkeypatch.setenv("GRAINSEG_SAMPLES_DIR", str(copy))
    # A boundary mask of the wrong size.
    shutil.copy(copy / "synthetic_equiaxed" / "boundary.png", copy / "nist_steel" / "boundary.png")
    with pytest.raises(
        DatasetError, match=r"boundary mask \(shape \(512, 640\)\) must match its image"
    ):
        load_sample("nist_steel")
    meta_path = copy / "nist_steel" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["pixel_size_um"] = -1
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="nist_steel.*pixel_size_um must be a positive"):
        list_samples()
    (copy / "index.json").write_text('{"samples": "nist_steel"}')
    with pytest.raises(DatasetError, match=r"must hold \{\"samples\": \[names...\]\}"):
        list_samples()
    (copy / "index.json").write_text("not json")
    with pytest.raises(DatasetError, match="could not be read as JSON"):
        list_samples()
