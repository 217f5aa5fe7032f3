"""process_raw's noise resolution order (the engines that need noise see exactly this)."""

from __future__ import annotations

import pytest

from rawpipe.noise import NoiseParams
from rawpipe.pipeline import resolve_noise
from rawpipe.raw import CFAPattern, RawImage, RawMetadata


def _raw(**meta):
    import numpy as np

    rng = np.random.default_rng(0)
    mosaic = rng.integers(100, 3000, (64, 64)).astype("uint16")
    defaults = dict(cfa_pattern=CFAPattern.RGGB, black_level=(0.0,) * 4, white_level=4095.0)
    return RawImage(mosaic, RawMetadata(**{**defaults, **meta}))


def test_explicit_argument_wins():
    raw = _raw(noise_profile=((1e-3, 1e-6),) * 3)
    assert resolve_noise(raw, (2e-3, 3e-6)) == NoiseParams(2e-3, 3e-6)


def test_dng_noise_profile_before_profiles():
    raw = _raw(noise_profile=((1e-3, 1e-6),) * 3, make="NIKON CORPORATION", model="NIKON D5000")
    p = resolve_noise(raw)
    assert p.mean().shot == pytest.approx(1e-3)


def test_calibration_profile_then_estimate():
    raw = _raw(make="NIKON CORPORATION", model="NIKON D5000", iso=200.0)
    p = resolve_noise(raw)
    assert 1e-5 < float(p.mean().shot) < 1e-4  # the shipped D5000 profile at ISO 200


def test_estimate_from_the_image():
    import numpy as np

    rng = np.random.default_rng(1)
    y = np.tile(np.linspace(0.05, 0.8, 256), (256, 1))
    a, b = 1e-3, 4e-6
    z = rng.poisson(y / a) * a + rng.normal(0, b**0.5, y.shape)
    raw = _raw(make="Nobody", model="Unknown", iso=100.0)
    raw = RawImage(np.clip(np.round(z * 4095), 0, 4095).astype("uint16"), raw.metadata)
    p = resolve_noise(raw)
    x = 0.4
    assert float(p.mean().std(x)) == pytest.approx((a * x + b) ** 0.5, rel=0.2)


def test_flat_tiny_frame_falls_back_with_a_warning():
    from rawpipe.pipeline import FALLBACK_NOISE

    with pytest.warns(UserWarning, match="could not be estimated"):
        p = resolve_noise(_raw(make="Nobody", model="Unknown", iso=100.0))
    assert p == NoiseParams(*FALLBACK_NOISE)
