"""JDDNet: shapes, noise-free input, gradients, and that the host steps are exactly
pack → per-channel GAT → net → depth-to-space → exact unbiased inverse per colour."""

from __future__ import annotations

import pytest
import torch

from rawpipe.models import create_model, depth_to_space
from rawpipe.models.jdd import (
    SHOT_FLOOR,
    JDDNet,
    colour_noise,
    jdd_postprocess,
    jdd_preprocess,
    noise_tensors,
    pad_to_multiple,
    vst_target,
)
from rawpipe.noise import expected_vst, generalized_anscombe, inverse_generalized_anscombe
from rawpipe.raw import pack_rggb

TINY = {"widths": [4, 8], "block": "conv", "enc_blocks": 1, "dec_blocks": 1, "mid_blocks": 1}
# per-channel parameters that differ in every channel (R, G1, G2, B)
SHOT = torch.tensor([[1e-3, 2e-3, 4e-3, 8e-4], [2e-4, 3e-4, 1e-4, 5e-4]])
READ = torch.tensor([[1e-6, 4e-6, 2e-6, 3e-6], [1e-7, 0.0, 2e-7, 5e-7]])


@pytest.fixture
def jdd() -> JDDNet:
    torch.manual_seed(0)
    return JDDNet(create_model("student", pretrained=False, **TINY))


def test_shapes_and_attributes(jdd):
    x = torch.rand(2, 1, 32, 48)
    assert jdd(x, SHOT, READ).shape == (2, 3, 32, 48)
    assert jdd.forward_vst(x, SHOT, READ).shape == (2, 12, 16, 24)
    out, feats = jdd.forward_vst_features(x, SHOT, READ)
    assert out.shape == (2, 12, 16, 24) and set(feats) == {"bottleneck", "dec0"}
    assert jdd.alignment == 2 * jdd.net.total_stride == 4
    assert jdd.receptive_field == 2 * jdd.net.receptive_field + 1


def test_forward_is_the_documented_recipe(jdd):
    """pack → GAT per RGGB channel → net → depth-to-space → exact unbiased inverse, R with R's,
    G with the mean of G1/G2's, B with B's parameters."""
    x = 0.3 + 0.2 * torch.rand(2, 1, 16, 16)
    v = generalized_anscombe(pack_rggb(x), (SHOT[:, :, None, None], READ[:, :, None, None]))
    torch.testing.assert_close(jdd_preprocess(x, SHOT, READ), v)
    out = jdd.net(v)
    rgb_vst = depth_to_space(out)
    a_rgb = torch.stack([SHOT[:, 0], SHOT[:, 1:3].mean(1), SHOT[:, 3]], 1)
    b_rgb = torch.stack([READ[:, 0], READ[:, 1:3].mean(1), READ[:, 3]], 1)
    want = torch.stack(
        [
            inverse_generalized_anscombe(
                rgb_vst[:, c], (a_rgb[:, c, None, None], b_rgb[:, c, None, None]),
                method="exact_unbiased",
            )
            for c in range(3)
        ],
        1,
    )  # fmt: skip
    torch.testing.assert_close(jdd(x, SHOT, READ), want)
    torch.testing.assert_close(jdd_postprocess(out, SHOT, READ), want)


def test_inverse_undoes_the_training_target():
    """T(y) = E[f(z)|y] mapped back by the host post-processing gives y (noisy, noise-free)."""
    y = 0.001 + torch.rand(2, 3, 16, 16)
    for shot, read in ((SHOT, READ), (torch.zeros(2, 4), torch.zeros(2, 4))):
        t = vst_target(y, shot, read)
        assert t.shape == (2, 12, 8, 8)
        torch.testing.assert_close(jdd_postprocess(t, shot, read), y, rtol=1e-4, atol=1e-5)
    # and T is E[f(z)|y] per colour with the colour parameters
    a, b = colour_noise(SHOT, READ)
    green = expected_vst(y[:, 1], (a[:, 1, None, None], b[:, 1, None, None]))
    torch.testing.assert_close(depth_to_space(vst_target(y, SHOT, READ))[:, 1], green)


def test_noise_free_input_works(jdd):
    x = torch.rand(2, 1, 32, 32)
    zero = torch.zeros(2, 4)
    y = jdd(x, zero, zero)
    assert torch.isfinite(y).all()
    # the floor: a = 0 behaves as a = SHOT_FLOOR, negative read variance as 0
    torch.testing.assert_close(y, jdd(x, torch.full((2, 4), SHOT_FLOOR), -zero - 1e-9))
    # a clean input through the VST pair with an identity "network" comes back unchanged
    v = jdd_preprocess(x, zero, zero)
    assert v.max() < 2.5 / SHOT_FLOOR**0.5


def test_gradients_flow_everywhere(jdd):
    x = torch.rand(2, 1, 32, 32) * 1.2 - 0.1  # below black and above white too
    target = torch.rand(2, 3, 32, 32)
    loss = (jdd(x, SHOT, READ) - target).abs().mean()
    loss.backward()
    for name, p in jdd.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_gradients_below_the_inverse_domain():
    out = torch.full((1, 12, 4, 4), -3.0, requires_grad=True)  # far below E[f(z)|0]
    y = jdd_postprocess(out, SHOT[:1], READ[:1])
    y.sum().backward()
    assert (y < 0).all() and (out.grad > 0).all()


def test_noise_tensors_accepts_common_forms():
    for v in (1e-3, [1e-3] * 4, torch.full((4,), 1e-3), torch.full((2,), 1e-3),
              torch.full((1, 4), 1e-3), torch.full((2, 4), 1e-3)):  # fmt: skip
        s, r = noise_tensors(v, v, 2)
        assert s.shape == r.shape == (2, 4) and torch.allclose(s, torch.full((2, 4), 1e-3))
    with pytest.raises(ValueError):
        noise_tensors(torch.zeros(3), 0.0, 2)


def test_pad_to_multiple_keeps_cfa_phase():
    x = torch.arange(6 * 10, dtype=torch.float32).view(1, 1, 6, 10)
    y, (h, w) = pad_to_multiple(x, 8)
    assert y.shape == (1, 1, 8, 16) and (h, w) == (6, 10)
    assert torch.equal(y[..., :6, :10], x)
    # every padded pixel is a copy of a pixel of the same CFA phase
    for i in range(8):
        for j in range(16):
            v = y[0, 0, i, j]
            src = (x[0, 0] == v).nonzero()[0]
            assert (int(src[0]) - i) % 2 == 0 and (int(src[1]) - j) % 2 == 0
    tiny, _ = pad_to_multiple(torch.rand(1, 1, 2, 2), 16)  # smaller than the pad: repeat
    assert tiny.shape == (1, 1, 16, 16)
