"""The simulated sensor: CFA phase, ADC quantisation and clipping, noise statistics, sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rawpipe.data.synthetic import (
    SensorConfig,
    make_raw,
    mosaic_rggb,
    sample_dark_scale,
    sample_noise,
    sample_sensor,
)
from rawpipe.noise.params import NoiseParams
from rawpipe.raw.cfa import CFAPattern, normalize_cfa


def _coded_image(h: int, w: int) -> torch.Tensor:
    """Distinct values per channel and site, inside (0, 1)."""
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    base = (y * w + x).float() / (h * w)
    return torch.stack([0.05 + 0.25 * base, 0.35 + 0.25 * base, 0.7 + 0.25 * base])


def _sensor_mosaic(rgb: torch.Tensor, pattern: CFAPattern) -> torch.Tensor:
    """What a sensor with ``pattern`` over ``rgb`` records (no noise)."""
    h, w = rgb.shape[-2:]
    out = torch.empty(h, w)
    for yy in range(h):
        for xx in range(w):
            out[yy, xx] = rgb[pattern.index_at(yy, xx), yy, xx]
    return out


@pytest.mark.parametrize("pattern", list(CFAPattern))
def test_mosaic_colours_at_the_right_sites(pattern):
    rgb = _coded_image(11, 14)
    raw = make_raw(rgb, torch.Generator(), None, cfa_phase=pattern, bits=16, black_level=0)
    dy, dx = pattern.red_offset
    h, w = raw.mosaic.shape[-2:]
    assert (h, w) == ((11 - dy) // 2 * 2, (14 - dx) // 2 * 2)
    step = 1 / 65535
    # the RGGB sample is the sensor's own mosaic, normalised to RGGB (normalize_cfa pads one
    # row/column where the red site is not first; we crop instead: same sites, shifted by 2·d)
    sensor = _sensor_mosaic(rgb, pattern)
    norm, pad = normalize_cfa(sensor, pattern)
    assert (pad.top, pad.left) == (dy, dx)
    ref = norm[2 * dy : 2 * dy + h, 2 * dx : 2 * dx + w]
    assert float((raw.mosaic[0] - ref).abs().max()) <= step / 2 + 1e-7
    # and it is the RGGB mosaic of the target
    assert float((raw.mosaic - mosaic_rggb(raw.target)).abs().max()) <= step / 2 + 1e-7
    torch.testing.assert_close(raw.target, rgb[:, dy : dy + h, dx : dx + w])
    assert raw.pattern == pattern.value


def test_random_phase_covers_all_patterns():
    rgb = _coded_image(8, 8)
    g = torch.Generator().manual_seed(0)
    seen = {make_raw(rgb, g, None, bits=12, black_level=0).pattern for _ in range(40)}
    assert seen == {p.value for p in CFAPattern}


def test_adc_grid_clipping_and_negatives():
    x = torch.tensor([0.0, 0.0005, 0.3, 0.99, 1.0]).repeat(3, 2, 2)[:, :, :4]  # (3, 4, 4)
    x = torch.cat([x, x], dim=1)
    g = torch.Generator().manual_seed(1)
    raw = make_raw(x, g, NoiseParams(1e-2, 1e-3), cfa_phase="RGGB", bits=10, black_level=64)
    span = 1023 - 64
    dn = raw.mosaic * span
    torch.testing.assert_close(dn, dn.round(), atol=1e-3, rtol=0)  # on the ADC grid
    assert float(raw.mosaic.max()) <= 1.0 and float(raw.mosaic.min()) >= -64 / span
    assert float(raw.mosaic.min()) < 0  # values below black are kept, not clipped at 0
    big = make_raw(torch.ones(3, 8, 8) * 0.999, g, NoiseParams(1e-2, 1e-3), bits=10, black_level=64)
    assert float(big.mosaic.max()) == 1.0  # clipped at the white level
    zero_black = make_raw(torch.zeros(3, 8, 8), g, NoiseParams(1e-2, 1e-3), bits=10, black_level=0)
    assert float(zero_black.mosaic.min()) == 0.0  # black 0: the sensor clips negatives


def test_noise_free_is_quantisation_only():
    raw = make_raw(torch.full((3, 8, 8), 0.25), torch.Generator(), None, bits=12, black_level=256)
    q = 1 / (12 * (4095 - 256) ** 2)
    assert torch.equal(raw.shot, torch.zeros(4))
    torch.testing.assert_close(raw.read, torch.full((4,), q))
    assert raw.noise_params() is None


@pytest.mark.parametrize(
    ("x", "a", "b", "bits", "black"),
    [
        (0.2, 1e-3, 3.2e-6, 10, 64),  # ISO 1600 phone, mid grey
        (0.01, 2.6e-4, 5e-7, 10, 64),  # ISO 400, dark: quantisation is a large part of b
        (0.002, 4e-3, 3.6e-5, 12, 256),  # ISO 6400, half a photo-electron
    ],
)
def test_noise_statistics_on_a_flat_patch(x, a, b, bits, black):
    span = (1 << bits) - 1 - black
    q = 1 / (12 * span**2)
    g = torch.Generator().manual_seed(3)
    raw = make_raw(torch.full((3, 512, 512), x), g, NoiseParams(a, b), bits=bits, black_level=black)
    d = (raw.mosaic - mosaic_rggb(raw.target)).double()
    want = a * x + b + q
    assert float(d.var()) == pytest.approx(want, rel=0.03)
    assert abs(float(d.mean())) < 4 * np.sqrt(want / d.numel())  # unbiased: nothing clipped
    torch.testing.assert_close(raw.read, torch.full((4,), b + q), rtol=1e-6, atol=0)
    torch.testing.assert_close(raw.shot, torch.full((4,), a))
    p = raw.noise_params()
    assert p.shot4() == pytest.approx((a,) * 4) and p.read4() == pytest.approx((b + q,) * 4)


def test_per_channel_noise_at_its_sites():
    shot = (1e-3, 2e-3, 4e-3, 8e-3)  # R, G1, G2, B
    g = torch.Generator().manual_seed(4)
    raw = make_raw(
        torch.full((3, 256, 256), 0.25),
        g,
        NoiseParams(shot, 0.0),
        cfa_phase="RGGB",
        bits=12,
        black_level=256,
    )
    d = (raw.mosaic - mosaic_rggb(raw.target))[0].double()
    v = [d[0::2, 0::2].var(), d[0::2, 1::2].var(), d[1::2, 0::2].var(), d[1::2, 1::2].var()]
    for got, a in zip(v, shot):
        assert float(got) == pytest.approx(a * 0.25, rel=0.06)


def test_dark_scale_scales_target():
    rgb = _coded_image(8, 10)
    raw = make_raw(
        rgb, torch.Generator(), None, cfa_phase="RGGB", bits=12, black_level=0, dark_scale=0.125
    )
    torch.testing.assert_close(raw.target, rgb[:, :8, :10] * 0.125)


def test_sensor_exposure_and_noise_sampling():
    cfg = SensorConfig()
    g = torch.Generator().manual_seed(5)
    sensors = [sample_sensor(g, cfg) for _ in range(2000)]
    assert {s[0] for s in sensors} == {10, 11, 12}
    zero = np.mean([s[1] == 0 for s in sensors])
    assert 0.15 < zero < 0.25
    for bits, black in sensors:
        assert black == 0 or (1 << bits) / 32 - 1 <= black <= (1 << bits) / 8 + 1
    darks = np.array([sample_dark_scale(g, cfg) for _ in range(2000)])
    share = np.mean(darks < 1)
    assert 0.21 < share < 0.29
    assert darks[darks < 1].min() >= 1 / 16 and darks[darks < 1].max() <= 1 / 4
    noise = [sample_noise(g, cfg) for _ in range(200)]
    a = np.array([n.mean().shot for n in noise])
    # Phone range (Brooks/PMRID, a ≥ 5e-5) plus calibration-profile draws: the shipped Nikon
    # D5000 profile gives a ≈ 2–4e-5 at ISO 100–200, below the phone range.
    assert a.min() >= 1e-5 and a.max() <= 1.2e-2
    assert a.min() < 2e-4 and a.max() > 3e-3  # covers the phone range (log-uniform)
