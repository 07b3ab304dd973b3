"""Model files: safetensors + JSON card round trips, and every way a file can be wrong."""

from __future__ import annotations

import json

import pytest
import torch

import grainseg_core
from grainseg_core.errors import InputError, ModelError
from grainseg_core.nets import (
    build_model,
    convert_checkpoint,
    count_parameters,
    load_model_file,
    read_model_card,
    save_model,
)
from grainseg_core.nets.serialization import _sha256


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    model = build_model("slim_unet", base_width=4, depth=2)
    model(torch.rand(2, 1, 16, 16))  # move the BatchNorm running statistics off their init
    return model.eval()


def _edit_card(card_path, **changes):
    card = json.loads(card_path.read_text())
    for key, value in changes.items():
        if value is None:
            card.pop(key, None)
        else:
            card[key] = value
    card_path.write_text(json.dumps(card))


def test_card_contents(tiny, tmp_path):
    card_in = {
        "input_normalization": {"method": "minmax", "clip_percentiles": [0.5, 99.5]},
        "training": {"loss": "bce", "epochs": 3},
    }
    weights, card_path = save_model(tiny, tmp_path / "m.safetensors", card=card_in)
    assert weights == tmp_path / "m.safetensors" and card_path == tmp_path / "m.json"
    card = read_model_card(card_path)
    assert card["architecture"] == "slim_unet"
    assert card["init_kwargs"] == tiny.init_kwargs
    assert card["n_parameters"] == count_parameters(tiny)
    assert card["grainseg_version"] == grainseg_core.__version__
    assert card["weights_file"] == "m.safetensors"
    assert card["weights_sha256"] == _sha256(weights)
    assert card["input_normalization"] == card_in["input_normalization"]
    assert card["training"] == card_in["training"]
    assert card["dtype"] == "float32"


@pytest.mark.parametrize("given", ["m", "m.safetensors", "m.json"])
def test_load_accepts_stem_weights_or_card(tiny, tmp_path, given):
    save_model(tiny, tmp_path / "m", card={})
    model, card = load_model_file(tmp_path / given)
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), tiny(x))


def test_float16_round_trip(tiny, tmp_path):
    w32, _ = save_model(tiny, tmp_path / "a", card={})
    w16, _ = save_model(tiny, tmp_path / "b", card={}, dtype="float16")
    assert w16.stat().st_size < 0.6 * w32.stat().st_size
    model, card = load_model_file(w16)
    assert card["dtype"] == "float16"
    assert next(model.parameters()).dtype == torch.float32
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(model(x), tiny(x), atol=1e-2)


def test_save_validation(tiny, tmp_path):
    with pytest.raises(InputError, match="build it with grainseg_core.nets.build_model"):
        save_model(torch.nn.Conv2d(1, 1, 3), tmp_path / "x", card={})
    with pytest.raises(InputError, match="dtype must be one of float32, float16"):
        save_model(tiny, tmp_path / "x", card={}, dtype="bfloat16")
    with pytest.raises(InputError, match="JSON-serialisable"):
        save_model(tiny, tmp_path / "x", card={"when": object()})
    with pytest.raises(InputError, match=r"card\['architecture'\] = 'hed' contradicts the model"):
        save_model(tiny, tmp_path / "x", card={"architecture": "hed"})
    assert not list(tmp_path.iterdir())


def test_pickled_file_is_refused(tiny, tmp_path):
    pt = tmp_path / "model.pt"
    torch.save(tiny.state_dict(), pt)
    with pytest.raises(ModelError, match="pickled PyTorch file; grainseg only loads safetensors"):
        load_model_file(pt)
    # Also when a pickle hides under the .safetensors name.
    disguised = tmp_path / "d.safetensors"
    disguised.write_bytes(pt.read_bytes())
    with pytest.raises(ModelError, match="unpickling runs code: convert it"):
        load_model_file(disguised)


def test_missing_weights_file(tmp_path):
    with pytest.raises(ModelError, match=r"model weights .*nothing\.safetensors not found"):
        load_model_file(tmp_path / "nothing")


def test_truncated_weights(tiny, tmp_path):
    weights, card_path = save_model(tiny, tmp_path / "m", card={})
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="does not match the sha256"):
        load_model_file(weights)
    _edit_card(card_path, weights_sha256=None)  # without the hash, the reader itself notices
    with pytest.raises(ModelError, match=r"not a readable safetensors file \(truncated or corrupt\?\)"):
        load_model_file(weights)


def test_missing_card(tiny, tmp_path):
    weights, card_path = save_model(tiny, tmp_path / "m", card={})
    card_path.unlink()
    with pytest.raises(ModelError, match=r"model card .*m\.json is missing"):
        load_model_file(weights)


def test_invalid_card(tiny, tmp_path):
    weights, card_path = save_model(tiny, tmp_path / "m", card={})
    card_path.write_text('{"architecture": "slim_unet",, }')
    with pytest.raises(ModelError, match=r"not valid JSON \(line 1, column 30"):
        load_model_file(weights)
    card_path.write_text("[1, 2]")
    with pytest.raises(ModelError, match="must hold a JSON object"):
        load_model_file(weights)
    card_path.write_text("{}")
    with pytest.raises(ModelError, match="has no 'architecture' name"):
        load_model_file(weights)


def test_unknown_architecture_in_card(tiny, tmp_path):
    weights, card_path = save_model(tiny, tmp_path / "m", card={})
    _edit_card(card_path, architecture="slim_unte")
    with pytest.raises(ModelError, match=r"unknown architecture in model card m\.json: 'slim_unte'; did you mean 'slim_unet'"):
        load_model_file(weights)


def test_card_with_other_kwargs_names_mismatched_keys(tiny, tmp_path):
    weights, card_path = save_model(tiny, tmp_path / "m", card={})
    _edit_card(card_path, init_kwargs={**tiny.init_kwargs, "base_width": 8})
    with pytest.raises(ModelError, match=r"shape mismatches \(e\.g\. downs\.0\.0\.0\.weight \(file \(4, 1, 3, 3\), card's network \(8, 1, 3, 3\)\)"):
        load_model_file(weights)


def test_card_of_another_architecture_names_keys(tiny, tmp_path):
    weights, card_path = save_model(tiny, tmp_path / "m", card={})
    _edit_card(card_path, architecture="defectsegnet", init_kwargs={})
    with pytest.raises(ModelError, match=r"missing keys \(e\.g\. down_blocks\..*unexpected keys.*saved from 'slim_unet', the card says 'defectsegnet'"):
        load_model_file(weights)


def test_card_with_invalid_kwargs(tiny, tmp_path):
    weights, card_path = save_model(tiny, tmp_path / "m", card={})
    _edit_card(card_path, init_kwargs={"base_width": 8, "colour": "red"})
    with pytest.raises(ModelError, match="invalid init_kwargs: architecture 'slim_unet' has no option 'colour'"):
        load_model_file(weights)


def test_convert_checkpoint(tiny, tmp_path):
    pt = tmp_path / "old.pth"
    torch.save({"state_dict": tiny.state_dict(), "epoch": 3}, pt)
    weights, _ = convert_checkpoint(
        pt, tmp_path / "new", architecture="slim_unet", init_kwargs=tiny.init_kwargs,
        card={"training": {"note": "converted"}},
    )
    model, card = load_model_file(weights)
    assert card["training"] == {"note": "converted"}
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), tiny(x))
    with pytest.raises(ModelError, match="does not fit slim_unet"):
        convert_checkpoint(pt, tmp_path / "bad", architecture="slim_unet", init_kwargs={"base_width": 8})
    with pytest.raises(ModelError, match="not found"):
        convert_checkpoint(tmp_path / "none.pth", tmp_path / "bad", architecture="slim_unet")


def test_convert_bare_smp_checkpoint(tmp_path):
    kwargs = {"encoder_name": "tu-resnet10t", "encoder_depth": 3, "decoder_channels": [8, 8, 8]}
    model = build_model("unet", **kwargs).eval()
    pt = tmp_path / "smp.pth"
    torch.save(model.net.state_dict(), pt)  # saved from the bare smp model: no "net." prefix
    weights, _ = convert_checkpoint(pt, tmp_path / "u", architecture="unet", init_kwargs=kwargs)
    loaded, _ = load_model_file(weights)
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
