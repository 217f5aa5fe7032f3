"""RawMetadata / RawImage: validation, hashability, normalisation without clipping, gain maps."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rawpipe.raw import CFAPattern, GainMap, RawImage, RawMetadata


def meta(**kw) -> RawMetadata:
    base = dict(cfa_pattern="RGGB", black_level=(64.0, 60.0, 62.0, 66.0), white_level=1023.0)
    base.update(kw)
    return RawMetadata(**base)


def test_metadata_is_frozen_and_hashable():
    md = meta(noise_profile=((1e-4, 1e-6),) * 3)
    assert md.cfa_pattern is CFAPattern.RGGB  # string coerced to the enum
    assert hash(md) == hash(meta(noise_profile=((1e-4, 1e-6),) * 3))
    assert {md: 1}[meta(noise_profile=((1e-4, 1e-6),) * 3)] == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        md.white_level = 4095.0  # type: ignore[misc]
    assert md.with_updates(iso=100.0).iso == 100.0 and md.iso is None


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(black_level=(0.0, 0.0, 0.0)), "4 values"),
        (dict(wb_gains=(1.0, 1.0)), "3 values"),
        (dict(orientation=9), "orientation"),
        (dict(white_level=60.0), "white level"),
        (dict(cfa_pattern="XXXX"), "unknown CFA"),
    ],
)
def test_metadata_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        meta(**kw)


def test_raw_image_rejects_non_uint16():
    with pytest.raises(ValueError, match="uint16"):
        RawImage(np.zeros((4, 4), dtype=np.float32), meta())


def test_normalized_per_site_and_not_clipped():
    md = meta()
    mosaic = np.array(
        [[0, 60, 64, 1023], [62, 66, 1023, 2000], [64, 60, 500, 541]], dtype=np.uint16
    )
    out = RawImage(mosaic, md).normalized()
    assert out.dtype == np.float32 and out.shape == mosaic.shape
    black = np.array([[64, 60], [62, 66]], dtype=np.float64)
    b = np.tile(black, (2, 2))[:3, :4]
    expected = (mosaic - b) / (1023.0 - b)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
    assert out[0, 0] < 0  # below black stays negative
    assert out[1, 3] > 1  # above white stays above 1
    assert out[0, 1] == 0 and out[1, 0] == 0 and out[1, 1] == 0


def brute_gain(gm: GainMap, r: int, c: int) -> float:
    g = gm.gain_grid()

    def idx(pos, origin, spacing, n):
        f = min(max((pos - origin) / spacing, 0.0), n - 1)
        i0 = min(int(np.floor(f)), n - 1)
        return i0, min(i0 + 1, n - 1), f - i0

    r0, r1, fr = idx(r, gm.origin_v, gm.spacing_v, gm.points_v)
    c0, c1, fc = idx(c, gm.origin_h, gm.spacing_h, gm.points_h)
    top = g[r0, c0] * (1 - fc) + g[r0, c1] * fc
    bot = g[r1, c0] * (1 - fc) + g[r1, c1] * fc
    return top * (1 - fr) + bot * fr


@pytest.mark.parametrize(
    "geom",
    [
        dict(top=0, left=0, bottom=9, right=11, row_pitch=1, col_pitch=1),
        dict(top=1, left=0, bottom=9, right=11, row_pitch=2, col_pitch=2),  # one Bayer phase
        dict(top=-1, left=-3, bottom=7, right=20, row_pitch=2, col_pitch=2),  # re-anchored, clipped
    ],
)
def test_gain_map_apply_matches_bruteforce(geom):
    rng = np.random.default_rng(3)
    gm = GainMap(
        **geom,
        points_v=3,
        points_h=4,
        spacing_v=4.0,
        spacing_h=3.5,
        origin_v=-0.5,
        origin_h=0.25,
        gains=tuple(rng.uniform(1.0, 3.0, 12)),
    )
    x = np.ones((9, 11), dtype=np.float32)
    gm.apply(x)
    expected = np.ones((9, 11))
    for r in range(geom["top"], min(geom["bottom"], 9), geom["row_pitch"]):
        for c in range(geom["left"], min(geom["right"], 11), geom["col_pitch"]):
            if r >= 0 and c >= 0:
                expected[r, c] = brute_gain(gm, r, c)
    np.testing.assert_allclose(x, expected, rtol=1e-6)
    assert np.any(x != 1)


def test_normalized_applies_gain_maps_and_can_skip_them():
    gm = GainMap(0, 0, 4, 4, 1, 1, 1, 1, 1.0, 1.0, 0.0, 0.0, (2.0,))
    md = meta(black_level=(0.0,) * 4, white_level=100.0, gain_maps=(gm,))
    img = RawImage(np.full((4, 4), 25, dtype=np.uint16), md)
    assert np.allclose(img.normalized(), 0.5)
    assert np.allclose(img.normalized(apply_gain_maps=False), 0.25)
    assert md.gain_map_present
    assert hash(md)  # gain maps keep the metadata hashable


def test_gain_map_validation():
    with pytest.raises(ValueError, match="gains"):
        GainMap(0, 0, 4, 4, 1, 1, 2, 2, 1.0, 1.0, 0.0, 0.0, (1.0, 2.0))
    with pytest.raises(ValueError, match="positive"):
        GainMap(0, 0, 4, 4, 0, 1, 1, 1, 1.0, 1.0, 0.0, 0.0, (1.0,))
