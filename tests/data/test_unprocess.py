"""Unprocessing (Brooks et al. 2019): parameter ranges, highlights, and the round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rawpipe.color import inverse_tone_curve, srgb_gamma_expansion, srgb_to_camera_matrix
from rawpipe.data.unprocess import (
    UnprocessMeta,
    process_meta,
    sample_unprocess_meta,
    unprocess,
    unprocess_linear,
)


def _smooth_image(seed: int, h: int = 48, w: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, 6, 8, generator=g)
    x = torch.nn.functional.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
    return x[0]


def _untouched(srgb: torch.Tensor, linear: torch.Tensor, meta: UnprocessMeta) -> torch.Tensor:
    """Pixels where neither highlight protection nor clipping acted."""
    lin = srgb_gamma_expansion(inverse_tone_curve(srgb))
    cam = torch.einsum("ck,khw->chw", srgb_to_camera_matrix(meta.xyz_to_camera).float(), lin)
    gains = (meta.wb_gains * meta.brightness)[:, None, None]
    scaled = cam / gains
    return (cam.mean(0) <= 0.9) & (scaled > 1e-6).all(0) & (scaled < 1 - 1e-6).all(0)


@pytest.mark.parametrize("seed", range(6))
def test_round_trip(seed):
    srgb = _smooth_image(seed)
    linear, meta = unprocess(srgb, seed)
    back = process_meta(linear, meta)
    ok = _untouched(srgb, linear, meta)
    assert ok.float().mean() > 0.5
    err = (back - srgb).abs().amax(0)[ok]
    assert float(err.max()) < 1e-4
    assert linear.min() >= 0 and linear.max() <= 1


def test_round_trip_with_exposure():
    srgb = _smooth_image(10)
    linear, meta = unprocess(srgb, 3, exposure=1 / 8)
    assert float(meta.exposure) == pytest.approx(1 / 8)
    assert linear.max() <= 1 / 8 + 1e-7
    ok = _untouched(srgb, linear, meta)
    assert float((process_meta(linear, meta) - srgb).abs().amax(0)[ok].max()) < 1e-4


def test_parameters_in_range_and_deterministic():
    metas = [sample_unprocess_meta(s) for s in range(300)]
    red = np.array([float(m.wb_gains[0]) for m in metas])
    blue = np.array([float(m.wb_gains[2]) for m in metas])
    bright = np.array([float(m.brightness) for m in metas])
    assert red.min() >= 1.9 and red.max() <= 2.4 and blue.min() >= 1.5 and blue.max() <= 1.9
    assert all(float(m.wb_gains[1]) == 1 for m in metas)
    assert 0.75 < np.mean(1 / bright) < 0.85 and 0.07 < np.std(1 / bright) < 0.13
    for m in metas[:20]:
        rgb_to_cam = srgb_to_camera_matrix(m.xyz_to_camera)
        torch.testing.assert_close(m.cam_to_srgb @ rgb_to_cam, torch.eye(3, dtype=torch.float64))
        torch.testing.assert_close(rgb_to_cam.sum(-1), torch.ones(3, dtype=torch.float64))
    a, b = sample_unprocess_meta(7), sample_unprocess_meta(7)
    assert torch.equal(a.wb_gains, b.wb_gains) and torch.equal(a.cam_to_srgb, b.cam_to_srgb)


def test_highlights_stay_saturated():
    # sRGB white: highlight protection fades the inverse gains to 1, so the sensor saturates in
    # every channel instead of producing a dim, coloured "white".
    linear, _ = unprocess(torch.ones(3, 4, 4), 0)
    torch.testing.assert_close(linear, torch.ones(3, 4, 4))
    # mid grey is divided by the gains: red and blue darker than green
    linear, _ = unprocess(torch.full((3, 4, 4), 0.5), 0)
    g = linear[1, 0, 0]
    assert linear[0, 0, 0] < g and linear[2, 0, 0] < g


def test_unprocess_linear_is_the_tail():
    srgb = _smooth_image(2)
    a, meta = unprocess(srgb, 5)
    b, _ = unprocess_linear(srgb_gamma_expansion(inverse_tone_curve(srgb)), meta=meta)
    torch.testing.assert_close(a, b)


def test_meta_batch_indexing():
    metas = [sample_unprocess_meta(s).with_exposure(0.5) for s in range(3)]
    batch = UnprocessMeta.stack(metas)
    assert batch.wb_gains.shape == (3, 3) and batch.cam_to_srgb.shape == (3, 3, 3)
    assert torch.equal(batch[1].wb_gains, metas[1].wb_gains)
    srgb = torch.stack([_smooth_image(s) for s in range(3)])
    lin, _ = unprocess(srgb, meta=batch)
    lin1, _ = unprocess(srgb[1], meta=metas[1])
    torch.testing.assert_close(lin[1], lin1)


@pytest.mark.data
def test_round_trip_real_photo(photo_paths):
    from rawpipe.data.photos import load_validation_photo

    path = next(p for p in photo_paths if p.name == "skimage_astronaut.png")
    srgb = torch.from_numpy(load_validation_photo(path, linear=False).transpose(2, 0, 1).copy())
    linear, meta = unprocess(srgb, 11)
    ok = _untouched(srgb, linear, meta)
    assert ok.float().mean() > 0.8
    assert float((process_meta(linear, meta) - srgb).abs().amax(0)[ok].max()) < 1e-4
