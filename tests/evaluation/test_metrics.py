"""rawpipe.evaluation.metrics: each metric on predictions whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rawpipe.evaluation import (
    bias_vs_signal,
    chroma_noise,
    cpsnr,
    dark_mask,
    flat_patch_level_error,
    luminance,
    region_bias,
    region_psnr,
)

WB = torch.tensor([2.0, 1.0, 1.6])
M = torch.tensor([[1.6, -0.4, -0.2], [-0.2, 1.5, -0.3], [0.0, -0.5, 1.5]])


@pytest.fixture()
def target():
    g = torch.Generator().manual_seed(0)
    ramp = torch.linspace(0.001, 0.4, 64)[None, :, None].expand(3, 64, 64)
    return (ramp * (0.8 + 0.4 * torch.rand(3, 64, 64, generator=g))).contiguous()


def test_dark_mask_takes_the_darkest_fraction_inside_the_border(target):
    mask = dark_mask(target, WB, M, fraction=0.2, border=10)[0]
    assert not mask[:10].any() and not mask[:, -10:].any()
    inner = mask[10:-10, 10:-10]
    assert inner.float().mean().item() == pytest.approx(0.2, abs=0.01)
    y = luminance(target, WB, M)[0, 10:-10, 10:-10]
    assert y[inner].max() <= y[~inner].min()


def test_region_bias_and_bias_curve_see_a_relative_gain(target):
    pred = target * torch.tensor([0.9, 1.0, 1.05])[:, None, None]
    mask = dark_mask(target, WB, M)
    rel = region_bias(pred, target, mask)["rel"]
    np.testing.assert_allclose(rel, [-0.1, 0.0, 0.05], atol=1e-6)
    curve = bias_vs_signal(target * 0.95, target, WB, M)
    np.testing.assert_allclose(curve["bias"], -0.05, atol=1e-6)
    assert sum(curve["pixels"]) == 44 * 44


def test_psnr_and_chroma_are_exact_for_a_perfect_prediction_and_finite_otherwise(target):
    mask = dark_mask(target, WB, M)
    assert math.isinf(cpsnr(target, target, WB, M))
    assert math.isinf(region_psnr(target, target, WB, M, mask))
    assert chroma_noise(target, target, WB, M, mask) == 0.0
    noisy = target + 0.01 * torch.randn(target.shape, generator=torch.Generator().manual_seed(1))
    assert 10 < region_psnr(noisy, target, WB, M, mask) < cpsnr(noisy, target, WB, M) + 10
    assert chroma_noise(noisy, target, WB, M, mask) > 0


def test_flat_patch_level_error_in_shot_noise_units():
    shot = 1e-3
    truth = torch.full((3, 32, 32), 5.0 * shot)
    ok = flat_patch_level_error(truth + 0.04 * shot, truth, shot)
    assert ok["ok"]
    np.testing.assert_allclose(ok["level"], 5.0, rtol=1e-6)
    np.testing.assert_allclose(ok["error"], 0.04, rtol=1e-4)
    np.testing.assert_allclose(ok["tolerance"], 0.1, rtol=1e-6)  # 2 % of 5 e⁻
    bad = flat_patch_level_error(truth * 0.9, truth, shot)
    assert not bad["ok"] and max(bad["ratio"]) == pytest.approx(5.0, rel=1e-4)
    dim = flat_patch_level_error(
        torch.full((3, 32, 32), 0.06 * shot), torch.full((3, 32, 32), 0.5 * shot), shot
    )
    assert not dim["ok"]  # 0.44 e⁻ low at 0.5 e⁻: tolerance is the 0.05 e⁻ floor


def test_errors_are_clear(target):
    with pytest.raises(ValueError, match="fraction"):
        dark_mask(target, WB, M, fraction=0)
    with pytest.raises(ValueError, match="border"):
        dark_mask(target[:, :16, :16], WB, M)
    with pytest.raises(ValueError, match="empty mask"):
        region_bias(target, target, torch.zeros(1, 64, 64, dtype=torch.bool))
