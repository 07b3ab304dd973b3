"""Tests of grainseg_core.inference: tiling, TTA, ensembles, model loading, segment."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import uniform_filter

from grainseg_core.datasets import GrainDataset
from grainseg_core.errors import ImageTooLargeError, InputError, ModelError
from grainseg_core.grains import GRAIN_TABLE_COLUMNS
from grainseg_core.inference import (
    InputNormalization,
    LoadedModel,
    SegmentationResult,
    load_model,
    predict_ensemble,
    predict_probability,
    predict_tiled,
    segment,
    tta_predictor,
)
from grainseg_core.nets import build_model, save_model
from grainseg_core.patching import ImagePair, PatchConfig, export_dataset
from grainseg_core.postprocess import PostprocessConfig
from grainseg_core.samples import load_sample
from grainseg_core.synthetic import make_microstructure

RNG = np.random.default_rng(0)


def double(batch):
    return 2 * batch


def box3(batch):
    """A 3x3 mean per tile: commutes with flips and transposes (a D4-equivariant map)."""
    return uniform_filter(batch, size=(1, 1, 3, 3), mode="reflect")


# ----------------------------------------------------------------------------- tiling


@pytest.mark.parametrize("shape", [(37, 53), (1000, 777), (1, 1), (3, 200), (700, 20)])
@pytest.mark.parametrize(
    ("tile", "overlap", "divisor"), [(512, 64, 32), (64, 16, 8), (100, 0, 32), (48, 20, 1)]
)
def test_predict_tiled_reproduces_a_pointwise_predictor(shape, tile, overlap, divisor):
    image = RNG.random(shape).astype(np.float32)
    out = predict_tiled(image, double, tile=tile, overlap=overlap, divisor=divisor)
    assert out.shape == shape and out.dtype == np.float32
    np.testing.assert_allclose(out, 2 * image, rtol=1e-5, atol=1e-6)


def test_predict_tiled_accepts_torch_outputs_and_integer_images():
    image = RNG.integers(0, 255, (90, 70)).astype(np.uint8)
    out = predict_tiled(image, lambda b: torch.from_numpy(b) * 2, tile=32, overlap=8, divisor=16)
    np.testing.assert_allclose(out, 2 * image.astype(np.float32), rtol=1e-6)


def test_an_image_smaller_than_a_tile_is_one_padded_call():
    shapes = []

    def record(batch):
        shapes.append(batch.shape)
        return 2 * batch

    image = RNG.random((37, 53)).astype(np.float32)
    out = predict_tiled(image, record, tile=512, divisor=32)
    assert shapes == [(1, 1, 64, 64)]  # padded to the divisor, not to the full tile
    np.testing.assert_allclose(out, 2 * image, rtol=1e-6)


def test_tiles_have_the_divisor_shape_batches_and_progress():
    shapes, calls = [], []
    image = RNG.random((300, 250)).astype(np.float32)
    predict_tiled(
        image, lambda b: shapes.append(b.shape) or b, tile=100, overlap=20, batch=3,
        divisor=32, progress=lambda done, total: calls.append((done, total)),
    )
    # tile 100 -> 128; rows: ceil((300-20)/108) = 3 tiles, cols: ceil((250-20)/108) = 3.
    assert [s[0] for s in shapes] == [3, 3, 3]
    assert all(s[1:] == (1, 128, 128) for s in shapes)
    assert calls == [(3, 9), (6, 9), (9, 9)]


def test_a_frame_gets_the_fewest_tiles_no_larger_than_needed():
    shapes = []
    frame = np.zeros((1536, 2048), np.float32)
    predict_tiled(frame, lambda b: shapes.append(b.shape) or b, tile=512, overlap=64, batch=4)
    # 2048 px: ceil(1984 / 448) = 5 tiles, each 480 px (5 * 480 - 4 * 64 >= 2048);
    # 1536 px: ceil(1472 / 448) = 4 tiles of 448 px.
    assert sum(s[0] for s in shapes) == 20 and set(s[1:] for s in shapes) == {(1, 448, 480)}
    shapes.clear()
    predict_tiled(frame, lambda b: shapes.append(b.shape) or b, tile=2048, batch=4)
    assert shapes == [(1, 1, 1536, 2048)]


def test_blending_hides_the_seams_of_a_context_dependent_predictor():
    image = RNG.random((200, 260)).astype(np.float32)
    whole = box3(image[None, None])[0, 0]
    plain = predict_tiled(image, box3, tile=64, overlap=0, divisor=8)
    blended = predict_tiled(image, box3, tile=64, overlap=16, divisor=8)
    # Without overlap the tile edges are computed from reflected pixels: visible seams.
    assert np.abs(plain - whole).max() > 0.05
    # With ramps, edge pixels weigh ~1e-2 next to the neighbour's interior.
    assert np.abs(blended - whole).max() < 0.01


def test_predict_tiled_rejects_bad_input(monkeypatch):
    image = np.zeros((20, 20), np.float32)
    with pytest.raises(InputError, match="2-D array"):
        predict_tiled(np.zeros((2, 20, 20)), double)
    nan = image.copy()
    nan[3, 4] = np.nan
    with pytest.raises(InputError, match="1 NaN or infinite"):
        predict_tiled(nan, double)
    with pytest.raises(InputError, match="must hold real numbers"):
        predict_tiled(np.full((4, 4), "a"), double)
    with pytest.raises(InputError, match="overlap .* must be smaller than the tile"):
        predict_tiled(image, double, tile=32, overlap=32, divisor=32)
    with pytest.raises(InputError, match="tile must be an integer >= 1"):
        predict_tiled(image, double, tile=0)
    with pytest.raises(InputError, match="batch must be an integer >= 1"):
        predict_tiled(image, double, batch=0)
    with pytest.raises(InputError, match="overlap must be an integer >= 0"):
        predict_tiled(image, double, overlap=-1)
    with pytest.raises(InputError, match="predictor must be a callable"):
        predict_tiled(image, "model")
    with pytest.raises(InputError, match=r"returned shape \(1, 1, 16, 16\)"):
        predict_tiled(image, lambda b: np.zeros((1, 1, 16, 16)), divisor=32)
    monkeypatch.setenv("GRAINSEG_MAX_PIXELS", "100")
    with pytest.raises(ImageTooLargeError, match="more than the limit of 100"):
        predict_tiled(image, double)


# ----------------------------------------------------------------------------- TTA


@pytest.mark.parametrize("tta", ["flips", "d4"])
def test_tta_of_an_equivariant_predictor_equals_no_tta(tta):
    image = RNG.random((90, 130)).astype(np.float32)
    plain = predict_tiled(image, box3, tile=64, overlap=16, divisor=8)
    augmented = predict_tiled(image, tta_predictor(box3, tta), tile=64, overlap=16, divisor=8)
    np.testing.assert_allclose(augmented, plain, atol=1e-6)


def test_tta_averages_the_mapped_back_passes():
    def left_to_right(batch):  # not flip-equivariant: a running sum along columns
        return np.cumsum(batch, axis=-1)

    x = RNG.random((2, 1, 8, 12)).astype(np.float32)
    flips = tta_predictor(left_to_right, "flips")(x)
    rev = np.cumsum(x[..., ::-1], axis=-1)[..., ::-1]
    np.testing.assert_allclose(flips, (left_to_right(x) + rev) / 2, rtol=1e-5)
    seen = []
    tta_predictor(lambda b: seen.append(b.shape) or b, "d4")(x)
    assert seen.count((2, 1, 8, 12)) == 4 and seen.count((2, 1, 12, 8)) == 4
    assert tta_predictor(left_to_right, "none") is left_to_right
    with pytest.raises(InputError, match="unknown tta mode 'flip'; did you mean 'flips'"):
        tta_predictor(left_to_right, "flip")


# ----------------------------------------------------------------------------- ensembles


def test_ensemble_mean_and_std_of_constant_predictors():
    levels = (0.2, 0.4, 0.9)
    predictors = [lambda b, c=c: np.full_like(b, c) for c in levels]
    mean, std = predict_ensemble(np.zeros((45, 70), np.float32), predictors, tile=32,
                                 overlap=8, divisor=8)
    np.testing.assert_allclose(mean, np.mean(levels), atol=1e-6)  # seed 004: sum / 3
    np.testing.assert_allclose(std, np.std(levels), atol=1e-6)
    single, none = predict_ensemble(np.zeros((8, 8), np.float32), predictors[:1], divisor=8)
    assert none is None and np.allclose(single, 0.2)
    with pytest.raises(InputError, match="non-empty sequence"):
        predict_ensemble(np.zeros((8, 8), np.float32), [])
    with pytest.raises(InputError, match=r"predictors\[1\] must be a callable"):
        predict_ensemble(np.zeros((8, 8), np.float32), [double, 3])


# ----------------------------------------------------------------------------- models


def _save_tiny(folder: Path, name: str = "tiny", seed: int = 1, **card) -> Path:
    """A random slim U-Net whose output varies enough for an Otsu threshold to find grains."""
    torch.manual_seed(seed)
    net = build_model("slim_unet", base_width=4, depth=2)
    with torch.no_grad():
        net.head.weight *= 50  # random heads give nearly flat maps; stretch them
    weights, _ = save_model(net, folder / name, card=card)
    return weights


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("models")
    return _save_tiny(folder, "tiny_a", 1), _save_tiny(folder, "tiny_b", 4)


def test_load_model_predicts_like_the_network(tiny_models):
    model = load_model(tiny_models[0], device="cpu", precision="float32")
    assert isinstance(model, LoadedModel) and not model.module.training
    assert model.name == "tiny_a" and model.divisor == 4 and model.path == tiny_models[0]
    assert model.normalization == InputNormalization()  # card without one: percentile
    x = RNG.random((2, 1, 16, 24)).astype(np.float32)
    with torch.no_grad():
        expected = torch.sigmoid(model.module(torch.from_numpy(x))).numpy()
    np.testing.assert_allclose(model.predict(x), expected, atol=1e-5)
    np.testing.assert_allclose(model.predict(torch.from_numpy(x)), expected, atol=1e-5)
    same = load_model(str(tiny_models[0]).replace(".safetensors", ".json"), device="cpu")
    assert same.path == tiny_models[0]
    fast = load_model(tiny_models[0], device="cpu", precision="bfloat16")
    np.testing.assert_allclose(fast.predict(x), expected, atol=2e-2)
    assert model.describe()["architecture"] == "slim_unet"


def test_load_model_refuses_bad_files(tmp_path, tiny_models):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "missing.safetensors")
    pickled = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(2)}, pickled)
    with pytest.raises(ModelError, match="pickled PyTorch file"):
        load_model(pickled)
    raw = tmp_path / "raw.safetensors"
    raw.write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(ModelError, match="pickled PyTorch file"):
        load_model(raw)
    # Truncated weights (card without a hash, so the reader itself must notice).
    weights = _save_tiny(tmp_path, "cut")
    card_path = weights.with_suffix(".json")
    card = json.loads(card_path.read_text())
    del card["weights_sha256"]
    card_path.write_text(json.dumps(card))
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(ModelError, match="truncated or corrupt"):
        load_model(weights)
    # Weights of one architecture under a card that names another.
    other = _save_tiny(tmp_path, "other")
    card_path = other.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["architecture"], card["init_kwargs"] = "defectsegnet", {}
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="do not fit the network"):
        load_model(other)
    bad_norm = _save_tiny(tmp_path, "badnorm", input_normalization={"method": "zscore"})
    with pytest.raises(ModelError, match="unknown normalisation method 'zscore'"):
        load_model(bad_norm)
    with pytest.raises(InputError, match="unknown precision"):
        load_model(tiny_models[0], precision="half")
    with pytest.raises(InputError, match="unknown device"):
        load_model(tiny_models[0], device="tpu")
    with pytest.raises(InputError, match="path must be a file path"):
        load_model(3)


# ----------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("dtype", "median", "clahe", "method"),
    [(np.uint8, 3, False, "percentile"), (np.uint16, 0, True, "minmax"),
     (np.float32, 0, False, "percentile"), (np.uint8, 0, False, "dtype")],
)
def test_training_patches_equal_crops_of_the_inference_input(
    tmp_path, dtype, median, clahe, method
):
    micro = make_microstructure((160, 224), mean_grain_size_px=30, seed=3)
    scale = {np.uint8: 1, np.uint16: 200, np.float32: 1 / 255}[dtype]
    image = (micro.image.astype(np.float64) * scale).astype(dtype)
    pair = ImagePair("micro", image, micro.boundary)
    config = PatchConfig(size=64, median=median, clahe=clahe, normalize=method,
                         split="random_patch", val_fraction=0.0, test_fraction=0.0)
    export_dataset([pair], tmp_path / "ds", config)
    dataset = GrainDataset(tmp_path / "ds", split="train")
    weights = _save_tiny(tmp_path, "m", input_normalization=dataset.input_normalization)
    model = load_model(weights, device="cpu")
    whole = model.prepare(image)
    assert whole.dtype == np.float32 and whole.shape == image.shape
    for i, rec in enumerate(dataset.records):
        crop = whole[rec.row : rec.row + 64, rec.col : rec.col + 64]
        assert np.array_equal(dataset[i][0][0].numpy(), crop), rec.id


# ----------------------------------------------------------------------------- segment


@pytest.fixture(scope="module")
def nist():
    return load_sample("nist_steel")


OTSU = PostprocessConfig(threshold_method="otsu")


def test_segment_the_bundled_sample(nist, tiny_models):
    model = load_model(tiny_models[0], device="cpu")
    calls = []
    result = segment(nist.image, model, pixel_size_um=nist.pixel_size_um, post=OTSU,
                     tile=256, progress=lambda d, t: calls.append((d, t)))
    assert isinstance(result, SegmentationResult)
    shape = nist.image.shape
    assert result.probability.shape == shape and result.probability.dtype == np.float32
    assert 0.0 <= result.probability.min() and result.probability.max() <= 1.0
    assert result.boundary.dtype == bool and result.boundary.shape == shape
    assert result.labels.dtype == np.int32 and result.labels.shape == shape
    table = result.grain_table
    assert tuple(table.columns) == GRAIN_TABLE_COLUMNS
    assert result.n_grains > 1 and len(table) == result.labels.max()
    assert (table["area_px"] > 0).all() and table["area_px"].sum() == (result.labels > 0).sum()
    assert table["label"].tolist() == list(range(1, result.n_grains + 1))
    assert not result.boundary[result.labels > 0].any()
    assert result.uncertainty is None and result.model_names == ("tiny_a",)
    assert set(result.timings) == {"load_model", "prepare", "predict", "postprocess",
                                   "grain_table", "total"}
    assert calls[-1][0] == calls[-1][1] == 12  # 600x800 in 256-px tiles, 64 px overlap: 3 x 4
    summary = result.summary()
    assert summary["n_grains"] == result.n_grains
    assert summary["mean_ecd_um"] == pytest.approx(table["ecd_um"].mean())
    assert summary["median_ecd_px"] == pytest.approx(table["ecd_px"].median())
    assert summary["mean_aspect_ratio"] == pytest.approx(table["aspect_ratio"].mean())
    assert summary["astm_g"] is None or np.isfinite(summary["astm_g"])
    assert result.summary(astm=False)["astm_note"] == "not computed"


def test_segment_an_ensemble(nist, tiny_models):
    image = nist.image[:200, :300]
    a, b = (load_model(p, device="cpu", precision="float32") for p in tiny_models)
    result = segment(image, [a, str(tiny_models[1])], post=OTSU, tta="flips")
    assert result.model_names == ("tiny_a", "tiny_b")
    single = [predict_probability(image, m, tta="flips") for m in (a, b)]
    np.testing.assert_allclose(result.probability, (single[0] + single[1]) / 2, atol=2e-2)
    assert result.uncertainty is not None and result.uncertainty.max() > 0
    np.testing.assert_allclose(result.uncertainty, np.abs(single[0] - single[1]) / 2, atol=2e-2)
    twice = segment(image, [a, a], post=OTSU)
    assert np.array_equal(twice.uncertainty, np.zeros_like(twice.uncertainty))


def test_segment_defaults_to_the_post_processing_the_card_recommends(nist, tiny_models, tmp_path):
    image = nist.image[:128, :160]
    plain = load_model(tiny_models[0], device="cpu", precision="float32")
    assert segment(image, plain).settings["postprocess"] == segment(
        image, plain, post=PostprocessConfig()).settings["postprocess"]  # no recommendation
    card = {**plain.card, "postprocess": {"threshold": 0.3, "skeletonize": True}}
    weights = tmp_path / "carded.safetensors"
    weights.write_bytes(tiny_models[0].read_bytes())
    weights.with_suffix(".json").write_text(json.dumps(card))
    carded = load_model(weights, device="cpu", precision="float32")
    result = segment(image, carded)
    assert result.settings["postprocess"]["threshold"] == 0.3
    assert result.settings["postprocess"]["skeletonize"] is True
    expected = segment(image, carded, post=PostprocessConfig(threshold=0.3, skeletonize=True))
    assert np.array_equal(result.boundary, expected.boundary)
    assert segment(image, carded, post=OTSU).settings["postprocess"]["threshold_method"] == "otsu"


def test_segment_rejects_bad_input(nist, tiny_models, tmp_path, monkeypatch):
    model = load_model(tiny_models[0], device="cpu")
    with pytest.raises(InputError, match=r"at least 2x2 pixels; got shape \(1, 1\)"):
        segment(np.zeros((1, 1), np.uint8), model)
    with pytest.raises(InputError, match="2-D array"):
        segment(np.zeros((8, 8, 3), np.uint8), model)
    nan = np.ones((16, 16), np.float32)
    nan[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        segment(nan, model)
    with pytest.raises(InputError, match="unknown tta mode 'd8'; Valid names: d4, flips, none"):
        segment(nist.image, model, tta="d8")
    with pytest.raises(InputError, match="post must be a PostprocessConfig"):
        segment(nist.image, model, post={"threshold": 0.3})
    with pytest.raises(InputError, match="pixel_size_um must be a positive"):
        segment(nist.image, model, pixel_size_um=-1)
    with pytest.raises(InputError, match="empty list"):
        segment(nist.image, [])
    with pytest.raises(InputError, match=r"model\[1\] must be a LoadedModel or a path"):
        segment(nist.image, [model, 5])
    with pytest.raises(InputError, match="model must be a LoadedModel"):
        segment(nist.image, 5)
    pickled = tmp_path / "model.pth"
    torch.save(build_model("slim_unet", base_width=4, depth=2).state_dict(), pickled)
    with pytest.raises(ModelError, match="pickled"):
        segment(nist.image, pickled)
    monkeypatch.setenv("GRAINSEG_MAX_PIXELS", "1000")
    with pytest.raises(ImageTooLargeError, match="more than the limit of 1,000"):
        segment(nist.image, model)


# ----------------------------------------------------------------------------- saving


def test_save_segmentation_writes_files_and_keeps_more_than_65535_labels(tmp_path):
    from grainseg_core.grains import grain_table
    from grainseg_core.inference import save_segmentation
    from grainseg_core.io import read_image

    labels = np.arange(1, 300 * 300 + 1, dtype=np.int32).reshape(300, 300)  # 90,000 grains
    boundary = np.zeros(labels.shape, bool)
    result = SegmentationResult(
        probability=np.zeros(labels.shape, np.float32), boundary=boundary, labels=labels,
        grain_table=grain_table(labels), uncertainty=None, model_names=("m",),
        timings={"total": 0.5}, pixel_size_um=None,
    )
    files = save_segmentation(result, tmp_path / "out", stem="big", extra={"image": "x.png"})
    assert sorted(files) == ["boundary", "grains", "labels", "summary"]
    back, _ = read_image(files["labels"])
    assert back.dtype == np.uint32 and np.array_equal(back, labels)
    summary = json.loads(files["summary"].read_text())
    assert summary["n_grains"] == 90_000 and summary["image"] == "x.png"
    assert summary["files"]["labels"] == "big_labels.tif"
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="is a file; give a folder"):
        save_segmentation(result, tmp_path / "file", stem="big")
