import math

import numpy as np
import pytest
import torch

from rawpipe.color import (
    SRGB_ENCODED_BREAK,
    SRGB_LINEAR_BREAK,
    XYZ_TO_CAMERA,
    camera_to_srgb_matrix,
    deprocess,
    inverse_tone_curve,
    process,
    srgb_gamma_compression,
    srgb_gamma_expansion,
    tone_curve,
)

CURVES = [srgb_gamma_compression, srgb_gamma_expansion, tone_curve, inverse_tone_curve]


def _wide(dtype, n=100_001):
    # Covers negatives, [0, 1], and values above 1, plus the special points.
    x = torch.linspace(-2.0, 3.0, n, dtype=dtype)
    special = torch.tensor(
        [0.0, 1.0, 0.5, SRGB_LINEAR_BREAK, SRGB_ENCODED_BREAK, 1e-30, -1e-30, 1e-7], dtype=dtype
    )
    return torch.cat([x, special, -special])


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_srgb_round_trips(dtype, tol):
    x = _wide(dtype)
    assert torch.allclose(srgb_gamma_expansion(srgb_gamma_compression(x)), x, atol=tol, rtol=0)
    assert torch.allclose(srgb_gamma_compression(srgb_gamma_expansion(x)), x, atol=tol, rtol=0)


def test_srgb_known_values_and_symmetry():
    x = torch.tensor([0.0, 0.001, 0.18, 0.5, 1.0, 2.0], dtype=torch.float64)
    expected = [0.0, 0.01292, 1.055 * 0.18 ** (1 / 2.4) - 0.055, 0.735356983, 1.0,
                1.055 * 2.0 ** (1 / 2.4) - 0.055]  # fmt: skip
    assert torch.allclose(srgb_gamma_compression(x), torch.tensor(expected, dtype=torch.float64))
    assert torch.equal(srgb_gamma_compression(-x), -srgb_gamma_compression(x))
    assert torch.equal(srgb_gamma_expansion(-x), -srgb_gamma_expansion(x))


def test_srgb_continuous_at_breakpoint():
    eps = 1e-12
    b = torch.tensor([SRGB_LINEAR_BREAK - eps, SRGB_LINEAR_BREAK + eps], dtype=torch.float64)
    lo, hi = srgb_gamma_compression(b)
    assert abs(hi - lo) < 5e-8  # the IEC segments meet to 2.9e-8
    e = torch.tensor([SRGB_ENCODED_BREAK - eps, SRGB_ENCODED_BREAK + eps], dtype=torch.float64)
    lo, hi = srgb_gamma_expansion(e)
    assert abs(hi - lo) < 5e-9
    assert SRGB_ENCODED_BREAK == pytest.approx(0.04045, abs=1e-7)


@pytest.mark.parametrize("f", CURVES)
def test_monotone(f):
    y = f(torch.linspace(-2.0, 3.0, 200_001, dtype=torch.float64))
    assert torch.all(torch.diff(y) > 0)


@pytest.mark.parametrize("f", CURVES)
def test_gradients_finite_everywhere(f):
    x = _wide(torch.float32, 2001).requires_grad_(True)
    f(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert torch.all(x.grad >= 0)


@pytest.mark.parametrize("f", [srgb_gamma_compression, srgb_gamma_expansion])
def test_srgb_gradients_never_vanish(f):
    x = _wide(torch.float32, 2001).requires_grad_(True)
    f(x).sum().backward()
    assert torch.all(x.grad > 0)
    # At 0 the slope is that of the linear segment, from both sides.
    z = torch.zeros(1, requires_grad=True)
    f(z).sum().backward()
    assert z.grad.item() == pytest.approx(12.92 if f is srgb_gamma_compression else 1 / 12.92)


def test_tone_curve_definition():
    x = torch.linspace(0, 1, 1001, dtype=torch.float64)
    assert torch.allclose(tone_curve(x), 3 * x**2 - 2 * x**3, atol=1e-15)
    outside = torch.tensor([-1.5, -1e-9, 1 + 1e-9, 2.5], dtype=torch.float64)
    assert torch.equal(tone_curve(outside), outside)
    assert torch.equal(inverse_tone_curve(outside), outside)
    # Inverse against the textbook closed form (Brooks et al. 2019) on [0, 1].
    y = torch.linspace(0, 1, 1001, dtype=torch.float64)
    textbook = 0.5 - torch.sin(torch.asin(1 - 2 * y) / 3)
    assert torch.allclose(inverse_tone_curve(y), textbook, atol=1e-12)


def test_tone_round_trips():
    x64 = _wide(torch.float64)
    assert torch.allclose(inverse_tone_curve(tone_curve(x64)), x64, atol=1e-9, rtol=0)
    assert torch.allclose(tone_curve(inverse_tone_curve(x64)), x64, atol=1e-12, rtol=0)
    x32 = _wide(torch.float32)
    assert torch.allclose(tone_curve(inverse_tone_curve(x32)), x32, atol=1e-5, rtol=0)
    # tone(x) for x just below 1 is within float32 spacing of 1 (the curve is flat there), so the
    # float32 round trip x → tone → inverse is only as good as float32 can hold: ~8e-5 worst case
    # at 1 − x ≈ 1e-4; 1e-5 away from that shoulder.
    away = x32[(x32 - 1).abs() > 2e-3]
    assert torch.allclose(inverse_tone_curve(tone_curve(away)), away, atol=1e-5, rtol=0)
    assert torch.allclose(inverse_tone_curve(tone_curve(x32)), x32, atol=2e-4, rtol=0)


def test_numpy_in_numpy_out():
    x = np.linspace(-1, 2, 11)
    for f in CURVES:
        y = f(x)
        assert isinstance(y, np.ndarray) and y.dtype == np.float64


def _params(dtype, n=2):
    g = torch.Generator().manual_seed(3)
    gains = torch.stack([torch.tensor([2.1, 1.0, 1.6]), torch.tensor([1.9, 1.0, 1.8])])[:n]
    ccm = torch.tensor(
        np.stack(
            [camera_to_srgb_matrix(XYZ_TO_CAMERA[k]) for k in ("Nikon D700", "Canon EOS 550D")]
        )
    )[:n]
    return gains.to(dtype), ccm.to(dtype), g


@pytest.mark.parametrize("tone", [False, True])
def test_deprocess_then_process_is_identity_float32(tone):
    # The unprocessing direction: sRGB (any values) → linear camera → sRGB.
    gains, ccm, g = _params(torch.float32)
    srgb = torch.rand(2, 3, 16, 16, generator=g) * 1.4 - 0.2
    cam = deprocess(srgb, gains, ccm, tone=tone)
    assert torch.allclose(process(cam, gains, ccm, tone=tone, clip=False), srgb, atol=1e-5, rtol=0)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("tone", [False, True])
def test_process_then_deprocess_is_identity(dtype, tol, tone):
    gains, ccm, g = _params(dtype)
    cam = (torch.rand(2, 3, 16, 16, generator=g) * 1.2 - 0.1).to(dtype)
    srgb = process(cam, gains, ccm, tone=tone, clip=False)
    back = deprocess(srgb, gains, ccm, tone=tone)
    if tone and dtype == torch.float32:
        tol = 5e-4  # the tone curve's flat shoulder near 1 in float32 (see test_tone_round_trips)
    assert torch.allclose(back, cam, atol=tol, rtol=0)


def test_process_keeps_neutrals_and_clips():
    gains, ccm, _ = _params(torch.float64, n=1)
    levels = torch.tensor([0.02, 0.18, 0.5, 0.9, 1.5], dtype=torch.float64)
    # A grey object as the camera sees it: the white balance undoes the camera's cast.
    cam = levels[None, None, :, None] / gains[0][None, :, None, None]
    out = process(cam, gains[0], ccm[0])
    expected = srgb_gamma_compression(levels.clamp(0, 1))
    for c in range(3):
        assert torch.allclose(out[0, c, :, 0], expected, atol=1e-12)
    assert out.max().item() == pytest.approx(1.0, abs=1e-12) and out.min() >= 0
    unclipped = process(cam, gains[0], ccm[0], clip=False)
    assert unclipped.max() > 1.0
    toned = process(cam, gains[0], ccm[0], tone=True)
    assert torch.allclose(toned, tone_curve(out), atol=1e-15)


def test_process_gradients_unclipped():
    gains, ccm, g = _params(torch.float32)
    cam = (torch.rand(2, 3, 8, 8, generator=g) * 3 - 1).requires_grad_(True)
    process(cam, gains, ccm, clip=False, tone=True).sum().backward()
    assert torch.isfinite(cam.grad).all() and (cam.grad != 0).all()


def test_process_numpy():
    gains, ccm, _ = _params(torch.float64, n=1)
    cam = np.full((3, 4, 4), 0.25)
    out = process(cam, gains[0].numpy(), ccm[0].numpy())
    assert isinstance(out, np.ndarray) and out.shape == (3, 4, 4)
    assert math.isfinite(float(out.sum()))
