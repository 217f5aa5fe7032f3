"""Calibration: frames → IsoNoiseModel → JSON profile (what `rawpipe calibrate` runs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rawpipe.noise import (
    NoiseParams,
    add_poisson_gaussian_noise,
    calibrate_command,
    calibrate_profile,
    load_profile,
)
from rawpipe.noise.calibrate import lower_envelope
from rawpipe.noise.estimate import LevelSets


def _sensor(iso: float) -> NoiseParams:
    return NoiseParams(2.5e-6 * iso, 1e-7 + 2e-11 * iso * iso)


def _dng(path, scene, iso, rng, black=256, white=4095):
    from rawpipe.raw import CFAPattern, RawMetadata, write_dng

    low = -black / (white - black)
    z = add_poisson_gaussian_noise(scene, _sensor(iso), rng, low=low)
    dn = np.clip(np.round(z * (white - black) + black), 0, white).astype(np.uint16)
    meta = RawMetadata(
        cfa_pattern=CFAPattern.RGGB,
        black_level=(black,) * 4,
        white_level=float(white),
        iso=float(iso),
        make="Acme",
        model="Sensor 1",
    )
    return write_dng(path, dn, meta)


def test_calibrate_command_two_isos(tmp_path, clean_mosaic):
    pytest.importorskip("rawpipe.raw")
    rng = np.random.default_rng(0)
    scene = clean_mosaic[:, :1800]
    paths = [_dng(tmp_path / f"iso{iso}.dng", scene, iso, rng) for iso in (100, 800)]
    out = tmp_path / "profiles" / "acme.json"
    prof = calibrate_command(paths, out)
    d = json.loads(out.read_text())
    assert d["name"] == "acme" and d["make"] == "Acme" and d["iso_range"] == [100.0, 800.0]
    assert load_profile(out) == prof
    xs = np.geomspace(0.01, 0.9, 40)
    q = 1 / (4095 - 256)
    for iso in (100, 800):
        t, e = _sensor(iso), prof.params_at(iso)
        err = np.abs(np.sqrt(e.shot * xs + e.read) / np.sqrt(t.shot * xs + t.read + q * q / 12) - 1)
        print(
            f"  ISO {iso}: fitted a={e.shot:.3e} b={e.read:.2e} (true {t.shot:.1e}, {t.read:.1e}); "
            f"worst std error {err.max():.3f}"
        )
        assert err.max() < 0.2


def test_lower_envelope_prefers_smoother_frame():
    x = np.linspace(0.05, 0.5, 20)
    clean = LevelSets(x, 1e-3 * x, np.full(20, 1000.0))
    textured = LevelSets(x, 2e-3 * x, np.full(20, 1000.0))
    env = lower_envelope([textured, clean], NoiseParams(1.5e-3, 0.0))
    assert np.allclose(env.var, 1e-3 * env.mean)


def test_calibrate_needs_iso(clean_mosaic):
    from rawpipe.raw import CFAPattern, RawImage, RawMetadata

    dn = (clean_mosaic[:200, :400] * 1000).astype(np.uint16)
    raw = RawImage(
        dn, RawMetadata(cfa_pattern=CFAPattern.RGGB, black_level=(0,) * 4, white_level=1000.0)
    )
    with pytest.raises(ValueError, match="ISO"):
        calibrate_profile([raw])
    with pytest.raises(ValueError):
        calibrate_profile([])
