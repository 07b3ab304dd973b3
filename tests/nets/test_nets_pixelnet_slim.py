"""PixelNet's sparse sampling protocol and the slim U-Net's options."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grainseg_core.errors import InputError
from grainseg_core.nets import PixelNet, SlimUNet, build_model, count_parameters


@pytest.fixture(scope="module")
def pixelnet():
    torch.manual_seed(0)
    return build_model("pixelnet", width=0.0625, mlp_width=64)


def test_sampled_logits_equal_dense_logits(pixelnet):
    pixelnet.eval()
    x = torch.rand(2, 1, 64, 96)
    with torch.no_grad():
        dense = pixelnet(x)
        logits, idx = pixelnet.forward_sampled(x, 300, torch.Generator().manual_seed(3))
    assert logits.shape == (2, 1, 300) and idx.shape == (2, 300)
    assert idx.dtype == torch.long
    assert torch.allclose(logits, dense.flatten(2).gather(2, idx.unsqueeze(1)), atol=1e-5)


def test_sampling_is_reproducible_and_without_replacement(pixelnet):
    pixelnet.eval()
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        _, a = pixelnet.forward_sampled(x, 1024, torch.Generator().manual_seed(7))
        _, b = pixelnet.forward_sampled(x, 1024, torch.Generator().manual_seed(7))
        _, c = pixelnet.forward_sampled(x, 1024, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert torch.equal(a.sort().values, torch.arange(1024)[None])  # all pixels, each once
    assert not torch.equal(a, c)


def test_sampled_training_step_reaches_the_trunk(pixelnet):
    pixelnet.train()
    pixelnet.zero_grad()
    x = torch.rand(2, 1, 32, 32)
    target = (torch.rand(2, 1, 32, 32) > 0.8).float()
    logits, idx = pixelnet.forward_sampled(x, 200, torch.Generator().manual_seed(0))
    target_s = target.flatten(2).gather(2, idx.unsqueeze(1))
    F.binary_cross_entropy_with_logits(logits, target_s).backward()
    first = pixelnet.trunk.stages[0][0][0].weight
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_caller_given_index(pixelnet):
    pixelnet.eval()
    x = torch.rand(1, 1, 32, 32)
    index = torch.tensor([[0, 31, 32 * 31, 1023]])
    with torch.no_grad():
        logits, idx = pixelnet.forward_sampled(x, index=index)
        dense = pixelnet(x)
    assert torch.equal(idx, index)
    expected = dense[0, 0, [0, 0, 31, 31], [0, 31, 0, 31]]
    assert torch.allclose(logits[0, 0], expected, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "needs n_pixels"),
        ({"n_pixels": 0}, r"n_pixels must lie in \[1, H\*W = 1024\]"),
        ({"n_pixels": 2000}, r"n_pixels must lie in \[1, H\*W = 1024\]"),
        ({"index": torch.zeros(2, 5, dtype=torch.long)}, r"index must have shape \(B=1, n\)"),
        ({"index": torch.tensor([[0, 1024]])}, r"index values must lie in \[0, H\*W = 1024\)"),
    ],
)
def test_sampling_validation(pixelnet, kwargs, match):
    with pytest.raises(InputError, match=match):
        pixelnet.forward_sampled(torch.zeros(1, 1, 32, 32), **kwargs)


def test_pixelnet_flags():
    assert PixelNet.supports_sparse_sampling is True
    assert SlimUNet.supports_sparse_sampling is False


@pytest.mark.parametrize("upsample", ["bilinear", "transpose"])
@pytest.mark.parametrize("separable", [False, True])
def test_slim_unet_options(upsample, separable):
    net = SlimUNet(base_width=8, depth=3, upsample=upsample, separable=separable)
    assert net.input_divisor == 8
    assert net(torch.rand(1, 1, 24, 40)).shape == (1, 1, 24, 40)


def test_slim_unet_sizes():
    plain = count_parameters(SlimUNet(base_width=16, depth=4))
    separable = count_parameters(SlimUNet(base_width=16, depth=4, separable=True))
    assert separable < plain / 5
    # base 64, depth 4, transposed convs: the classic U-Net layout (31.0M with BatchNorm).
    classic = SlimUNet(base_width=64, depth=4, upsample="transpose", max_width=1024)
    assert count_parameters(classic) == 31_036_481
    capped = SlimUNet(base_width=16, depth=4, max_width=64)
    assert capped.downs[-1][0][0].out_channels == 64


def test_fused_for_inference_matches_eval():
    torch.manual_seed(0)
    net = SlimUNet(base_width=8, depth=3)
    net(torch.rand(4, 1, 32, 32))  # non-trivial running statistics
    net.eval()
    fused = net.fused_for_inference()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    x = torch.rand(1, 1, 32, 48)
    with torch.no_grad():
        assert torch.allclose(fused(x), net(x), atol=1e-4)
    # The original keeps its BatchNorm layers (the copy is separate).
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"separable": True}, {"upsample": "transpose"}, {"base_width": 4, "depth": 1}],
)
def test_fused_inference_copy_matches_in_both_memory_formats(kwargs):
    from grainseg_core.nets.slim_unet import _max_pool_2x2

    torch.manual_seed(1)
    net = SlimUNet(**{"base_width": 8, "depth": 3, **kwargs})
    net(torch.rand(4, 1, 32, 32))
    net.eval()
    fused = net.fused_for_inference().to(memory_format=torch.channels_last)
    x = torch.rand(2, 1, 40, 56)
    with torch.no_grad():
        expected = net(x)
        assert torch.allclose(fused(x), expected, atol=1e-4)
        assert torch.allclose(fused(x.contiguous(memory_format=torch.channels_last)), expected, atol=1e-4)
    # The pooling shortcut is exact, and falls back on odd sides.
    y = torch.randn(2, 5, 6, 10).contiguous(memory_format=torch.channels_last)
    assert torch.equal(_max_pool_2x2(y), torch.nn.functional.max_pool2d(y, 2))
    odd = torch.randn(1, 3, 7, 9).contiguous(memory_format=torch.channels_last)
    assert torch.equal(_max_pool_2x2(odd), torch.nn.functional.max_pool2d(odd, 2))
