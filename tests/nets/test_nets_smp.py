"""smp networks: nothing is downloaded; local encoder weights load with clear errors."""

from __future__ import annotations

import socket

import pytest
import torch
from safetensors.torch import save_file

from grainseg_core.errors import ModelError
from grainseg_core.nets import build_model, load_model_file, save_model


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to reach the network or the Hugging Face hub fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:2]}")

    import huggingface_hub
    import segmentation_models_pytorch.encoders as smp_encoders
    import timm.models._builder as timm_builder

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    monkeypatch.setattr(smp_encoders, "hf_hub_download", refuse)
    monkeypatch.setattr(timm_builder, "load_pretrained", refuse)


@pytest.mark.parametrize("arch", ["unet", "unetplusplus", "fpn", "deeplabv3plus"])
@pytest.mark.parametrize("encoder", ["resnet18", "tu-resnet10t"])
def test_building_never_downloads(no_network, arch, encoder):
    model = build_model(arch, encoder_name=encoder, encoder_depth=4 if arch == "deeplabv3plus" else 3)
    assert model.input_divisor in (8, 16)


def _rgb_resnet18_state() -> dict[str, torch.Tensor]:
    """An ImageNet-like resnet18 checkpoint: RGB first conv and a classifier head."""
    import segmentation_models_pytorch as smp

    torch.manual_seed(1)
    enc = smp.encoders.get_encoder("resnet18", in_channels=3, weights=None)
    state = {k: v.clone() for k, v in enc.state_dict().items()}
    for k, v in state.items():
        if k.endswith("running_var"):
            v.uniform_(0.5, 1.5)  # a variance must stay positive
        elif v.is_floating_point():
            v.normal_(0.0, 0.05)
    state["fc.weight"] = torch.zeros(1000, 512)
    state["fc.bias"] = torch.zeros(1000)
    return state


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_encoder_weights_from_local_file(tmp_path, suffix, no_network):
    state = _rgb_resnet18_state()
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save({"state_dict": state}, path)
    model = build_model("unet", encoder_name="resnet18", encoder_weights_path=str(path))
    enc = model.net.encoder
    # The RGB first conv becomes gray by summing over its input channels.
    assert torch.allclose(enc.conv1.weight, state["conv1.weight"].sum(1, keepdim=True))
    assert torch.equal(enc.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])
    assert torch.equal(enc.bn1.running_var, state["bn1.running_var"])
    # The path is not a build option of the saved model; the file's hash is recorded.
    assert "encoder_weights_path" not in model.init_kwargs
    assert model.encoder_weights_source["path"] == str(path)
    assert len(model.encoder_weights_source["sha256"]) == 64


def test_encoder_weights_saved_in_card_and_not_needed_to_load(tmp_path):
    state = _rgb_resnet18_state()
    path = tmp_path / "enc.safetensors"
    save_file(state, str(path))
    model = build_model(
        "unet", encoder_name="resnet18", encoder_depth=3, decoder_channels=[16, 8, 4],
        encoder_weights_path=path,
    ).eval()
    save_model(model, tmp_path / "model", card={})
    path.unlink()  # loading must not look for the encoder file again
    loaded, card = load_model_file(tmp_path / "model")
    assert card["encoder_weights"]["sha256"] == model.encoder_weights_source["sha256"]
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        expected = model(x)
        assert torch.isfinite(expected).all()
        assert torch.equal(loaded(x), expected)


def test_encoder_weights_of_another_encoder_raise(tmp_path):
    import segmentation_models_pytorch as smp

    enc = smp.encoders.get_encoder("resnet34", in_channels=3, weights=None)
    path = tmp_path / "resnet34.safetensors"
    save_file(enc.state_dict(), str(path))
    with pytest.raises(ModelError, match=r"do not fit this encoder: .*unexpected keys \(e\.g\. layer1\.2"):
        build_model("unet", encoder_name="resnet18", encoder_weights_path=path)


def test_encoder_weights_shape_mismatch_named(tmp_path):
    state = _rgb_resnet18_state()
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 5, 5)
    path = tmp_path / "bad.safetensors"
    save_file(state, str(path))
    with pytest.raises(ModelError, match=r"shape mismatches \(e\.g\. layer1\.0\.conv1\.weight \(file \(64, 64, 5, 5\)"):
        build_model("unet", encoder_name="resnet18", encoder_weights_path=path)


def test_encoder_weights_missing_or_unreadable(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        build_model("unet", encoder_name="resnet18", encoder_weights_path=tmp_path / "none.pth")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a tensor file")
    with pytest.raises(ModelError, match="could not be read"):
        build_model("unet", encoder_name="resnet18", encoder_weights_path=junk)
    not_state = tmp_path / "list.pth"
    torch.save([1, 2, 3], not_state)
    with pytest.raises(ModelError, match="does not hold a state dict"):
        build_model("unet", encoder_name="resnet18", encoder_weights_path=not_state)
