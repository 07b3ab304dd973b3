"""Every registered architecture at 64x64 on the CPU, and the default sizes."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from grainseg_core.errors import ConfigError, InputError
from grainseg_core.nets import (
    architecture_info,
    build_model,
    count_parameters,
    list_architectures,
    load_model_file,
    save_model,
)

# Small options so the whole sweep runs in seconds; the default sizes are checked
# separately (on the meta device, without a forward).
SMALL = {
    "unet": {"encoder_name": "tu-resnet10t", "encoder_depth": 3, "decoder_channels": [16, 8, 4]},
    "unetplusplus": {"encoder_name": "tu-resnet10t", "encoder_depth": 3, "decoder_channels": [16, 8, 4]},
    "fpn": {"encoder_name": "tu-resnet10t", "encoder_depth": 3, "decoder_channels": 16},
    "deeplabv3plus": {"encoder_name": "tu-resnet10t", "encoder_depth": 4, "decoder_channels": 16},
    "hed": {"width": 0.125},
    "rcf": {"width": 0.125},
    "deepcrack": {"width": 0.125},
    "defectsegnet": {},
    "pixelnet": {"width": 0.0625},
    "slim_unet": {"base_width": 8, "depth": 3},
}


def _first_conv(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d) and m.in_channels == 1)


def test_every_architecture_has_small_options():
    assert sorted(SMALL) == list_architectures()


@pytest.mark.parametrize("name", list_architectures())
def test_architecture_forward_backward_save_load(name, tmp_path):
    torch.manual_seed(0)
    model = build_model(name, **SMALL[name])
    x = torch.rand(2, 1, 64, 64)
    out = model(x)
    assert out.shape == (2, 1, 64, 64)
    assert torch.isfinite(out).all()
    # Backward reaches the first layer (the one that sees the gray channel).
    out.square().mean().backward()
    grad = _first_conv(model).weight.grad
    assert grad is not None and grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        expected = model(x)
    weights, card = save_model(model, tmp_path / name, card={"input_normalization": "minmax"})
    loaded, card_dict = load_model_file(weights)
    assert card_dict["architecture"] == name
    assert not loaded.training
    with torch.no_grad():
        got = loaded(x)
    assert torch.equal(got, expected)
    assert loaded.input_divisor == model.input_divisor


@pytest.mark.parametrize("name", list_architectures())
def test_input_not_multiple_of_divisor_raises(name):
    model = build_model(name, **SMALL[name])
    d = model.input_divisor
    assert d > 1
    with pytest.raises(InputError, match=f"multiples of {d}"):
        model(torch.zeros(1, 1, 64 + d // 2, 64))


def test_wrong_channel_count_raises():
    model = build_model("slim_unet", base_width=4, depth=2)
    with pytest.raises(InputError, match=r"\(B, 1, H, W\)"):
        model(torch.zeros(1, 3, 16, 16))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Seed 000 reports 14.72M, 14.803M, 30.903M, 0.35M.
        ("hed", 14_719_243),
        ("rcf", 14_806_853),
        ("deepcrack", 30_911_859),
        ("defectsegnet", 354_443),
        ("pixelnet", 23_055_041),
        ("unet", 24_430_097),  # smp U-Net, resnet34 encoder
        ("unetplusplus", 26_072_337),
    ],
)
def test_default_parameter_counts(name, expected):
    info = architecture_info(name)
    assert info["n_parameters"] == expected
    if info["reference_parameters"] is not None:
        # Within the precision the seed reports (0.35M has two digits).
        assert abs(info["n_parameters"] / info["reference_parameters"] - 1) < 0.015


def test_meta_count_equals_real_count():
    real = build_model("defectsegnet")
    assert count_parameters(real) == architecture_info("defectsegnet")["n_parameters"]


def test_count_parameters_trainable_only():
    model = build_model("slim_unet", base_width=4, depth=2)
    total = count_parameters(model)
    model.head.weight.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == total - 4
    with pytest.raises(InputError, match="torch.nn.Module"):
        count_parameters("model")


def test_architecture_info_fields():
    info = architecture_info("pixelnet")
    assert info["supports_sparse_sampling"] is True
    assert info["input_divisor"] == 32
    assert architecture_info("hed")["has_side_outputs"] is True
    assert architecture_info("slim_unet")["defaults"]["base_width"] == 16
    info["defaults"]["base_width"] = 99  # a copy: the registry is not changed
    assert architecture_info("pixelnet")["defaults"]["width"] == 1.0


def test_unknown_architecture_lists_valid_names():
    with pytest.raises(ConfigError, match=r"unknown architecture 'unte'; did you mean 'unet'\?.*slim_unet"):
        build_model("unte")
    with pytest.raises(ConfigError, match="unknown architecture"):
        architecture_info("nope")


def test_unknown_option_lists_valid_options():
    with pytest.raises(ConfigError, match=r"no option 'widht'; valid options: width, batch_norm"):
        build_model("hed", widht=0.5)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("hed", {"width": 0}, r"width must lie in \(0, 4\]"),
        ("slim_unet", {"depth": 9}, "depth must be >= 1 and <= 6"),
        ("slim_unet", {"upsample": "nearest"}, "upsample must be one of bilinear, transpose"),
        ("slim_unet", {"base_width": 2.5}, "base_width must be an integer"),
        ("defectsegnet", {"growth": 8}, "growth must be a list"),
        ("pixelnet", {"dropout": 1.5}, r"dropout must lie in \[0, 1\)"),
        ("unet", {"encoder_name": "resnet17"}, "unknown smp encoder 'resnet17'; did you mean"),
        ("unet", {"encoder_depth": 2}, "encoder_depth must be >= 3"),
        ("unet", {"decoder_channels": [16, 8]}, "needs encoder_depth=5 entries"),
        ("fpn", {"decoder_channels": [16, 8]}, "decoder_channels must be an integer"),
    ],
)
def test_invalid_options_raise(name, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_model(name, **kwargs)


def test_init_kwargs_are_resolved_and_json_safe():
    model = build_model("defectsegnet", width=0.5)
    assert model.arch_name == "defectsegnet"
    assert model.init_kwargs == {"growth": [8, 12, 18, 24], "layers_per_block": 3, "width": 0.5}
    assert json.loads(json.dumps(model.init_kwargs)) == model.init_kwargs


@pytest.mark.parametrize("name", ["hed", "rcf", "deepcrack"])
def test_side_outputs(name):
    model = build_model(name, width=0.125).eval()
    x = torch.rand(1, 1, 64, 32)
    with torch.no_grad():
        fused, sides = model.forward_with_sides(x)
        assert torch.equal(fused, model(x))
    assert len(sides) == 5
    assert all(s.shape == (1, 1, 64, 32) for s in sides)
