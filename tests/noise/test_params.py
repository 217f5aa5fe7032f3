"""NoiseParams: validation, broadcasting, DNG NoiseProfile conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rawpipe.noise import NoiseParams


def test_scalar_and_per_channel_values():
    p = NoiseParams(1e-3, 2e-6)
    assert not p.per_channel and p.shot4() == (1e-3,) * 4
    q = NoiseParams([1e-3, 2e-3, 2e-3, 3e-3], np.float64(1e-6))
    assert q.per_channel and q.read4() == (1e-6,) * 4
    assert q.channel(3) == NoiseParams(3e-3, 1e-6)
    assert q.mean().shot == pytest.approx(2e-3)


@pytest.mark.parametrize("shot,read", [(0.0, 1e-6), (-1e-3, 0.0), (1e-3, -1e-9), (np.nan, 0.0)])
def test_invalid_values_raise(shot, read):
    with pytest.raises(ValueError):
        NoiseParams(shot, read)


def test_wrong_channel_count_raises():
    with pytest.raises(ValueError, match="4 values"):
        NoiseParams((1e-3, 1e-3), 0.0)


def test_broadcast_numpy_and_torch_packed():
    p = NoiseParams((1e-3, 2e-3, 2e-3, 4e-3), (1e-6, 2e-6, 2e-6, 3e-6))
    a, b = p.as_numpy()
    assert a.shape == (4, 1, 1) and b.shape == (4, 1, 1)
    x = np.full((2, 4, 3, 5), 0.5)
    v = p.variance(x)
    assert v.shape == x.shape
    assert v[1, 3, 2, 4] == pytest.approx(4e-3 * 0.5 + 3e-6)
    at, bt = p.as_torch(torch.float64)
    assert at.shape == (4, 1, 1) and at.dtype == torch.float64
    assert float(bt[0]) == pytest.approx(1e-6)


def test_scaled_is_digital_gain():
    p = NoiseParams(1e-3, 1e-6).scaled(2.0)
    assert p.shot == pytest.approx(2e-3) and p.read == pytest.approx(4e-6)


def test_noise_profile_round_trip_scalar():
    p = NoiseParams(1e-3, 2e-6)
    assert p.to_noise_profile() == ((1e-3, 2e-6),)
    assert NoiseParams.from_noise_profile(p.to_noise_profile()) == p
    assert NoiseParams.from_noise_profile([1e-3, 2e-6]) == p  # flat form


def test_noise_profile_three_planes_to_rggb():
    prof = ((1e-3, 1e-6), (2e-3, 2e-6), (3e-3, 3e-6))  # R, G, B planes
    p = NoiseParams.from_noise_profile(prof)
    assert p.shot4() == (1e-3, 2e-3, 2e-3, 3e-3)
    assert p.to_noise_profile() == prof


def test_noise_profile_four_sites_reordered_by_pattern():
    # GBRG sites: TL=G(on blue row), TR=B, BL=R, BR=G(on red row)
    sites = ((1.0e-3, 0.0), (4.0e-3, 0.0), (2.0e-3, 0.0), (3.0e-3, 0.0))
    p = NoiseParams.from_noise_profile(sites, cfa_pattern="GBRG")
    # RGGB order: R, G1 (red row), G2 (blue row), B
    assert p.shot4() == (2.0e-3, 3.0e-3, 1.0e-3, 4.0e-3)


def test_noise_profile_bad_count():
    with pytest.raises(ValueError):
        NoiseParams.from_noise_profile(((1e-3, 0.0), (1e-3, 0.0)))
