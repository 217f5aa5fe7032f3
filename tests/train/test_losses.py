"""Losses and metric: values, gradients that survive out-of-range pixels, the border."""

from __future__ import annotations

import math

import pytest
import torch

from rawpipe.train.losses import cpsnr, render_for_loss, rgb_l1, vst_l1

WB = torch.tensor([2.0, 1.0, 1.5])
EYE = torch.eye(3)


def test_cpsnr_known_value_and_border():
    t = torch.full((1, 3, 40, 40), 0.2)
    p = t.clone()
    p[..., 10:30, 10:30] += 0.01  # inside the scored area
    ref = (
        render_for_loss(p, WB, EYE)[..., 10:30, 10:30]
        - render_for_loss(t, WB, EYE)[..., 10:30, 10:30]
    )
    mse = float(ref.double().pow(2).sum()) / (3 * 20 * 20)
    assert float(cpsnr(p, t, WB, EYE)[0]) == pytest.approx(-10 * math.log10(mse), abs=1e-3)
    q = t.clone()
    q[..., :10, :] = 5.0  # only in the excluded border
    assert math.isinf(float(cpsnr(q, t, WB, EYE)[0]))


def test_cpsnr_clips_like_a_display():
    t = torch.full((2, 3, 32, 32), 0.9)
    p = t * 3.0  # both saturate after white balance and clipping in R and B
    s = cpsnr(p, t, torch.tensor([[2.0, 1.0, 2.0]] * 2), EYE)
    assert s.shape == (2,) and torch.isfinite(s).all()  # only G differs


def test_rgb_l1_keeps_gradients_outside_0_1():
    target = torch.full((1, 3, 8, 8), 0.5)
    pred = torch.tensor([-0.2, 0.6, 1.7]).view(1, 3, 1, 1).expand(1, 3, 8, 8).clone()
    pred.requires_grad_(True)
    rgb_l1(pred, target, WB, EYE).backward()
    g = pred.grad[0, :, 0, 0]
    assert (g.abs() > 0).all() and torch.isfinite(g).all()  # below 0 and above 1 too


def test_vst_l1():
    a = torch.zeros(2, 12, 4, 4)
    assert float(vst_l1(a, a)) == 0.0
    assert float(vst_l1(a + 0.5, a)) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        vst_l1(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4))
