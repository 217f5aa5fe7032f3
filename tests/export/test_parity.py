"""Parity metrics and the real-photo parity tiles."""

from __future__ import annotations

import math

import pytest
import torch

from rawpipe.export.parity import (
    json_safe,
    max_abs,
    parity_tiles,
    psnr_wb_srgb,
    render_wb_srgb,
    score_engines,
)


def test_render_and_psnr():
    lin = torch.full((1, 3, 4, 4), 0.25)
    wb = torch.tensor([2.0, 1.0, 1.5])
    r = render_wb_srgb(lin, wb)
    assert float(r[0, 0, 0, 0]) == pytest.approx(1.055 * 0.5 ** (1 / 2.4) - 0.055)  # WB then sRGB
    assert float(render_wb_srgb(lin * 8, wb)[0, 0, 0, 0]) == pytest.approx(1.0)  # clipped first
    assert psnr_wb_srgb(lin, lin, wb) == math.inf
    noisy = lin + 1e-3 * torch.randn_like(lin)
    assert 40 < psnr_wb_srgb(lin, noisy, wb) < 80
    assert max_abs(lin, noisy) > 0
    assert json_safe({"a": [math.inf, 1.0]}) == {"a": ["inf", 1.0]}


class _Shift:
    """A fake engine: the mosaic's first channel as RGB, plus an offset."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def __call__(self, mosaic, *, wb_gains=None, noise=None):
        return mosaic.expand(-1, 3, -1, -1) * 0.5 + self.offset


@pytest.fixture(scope="module")
def tiles():
    return parity_tiles(64, per_level=2)


def test_parity_tiles_cover_every_level(tiles):
    from rawpipe.data.datasets import VALIDATION_LEVELS

    assert sorted({t.level for t in tiles}) == sorted(VALIDATION_LEVELS)
    for t in tiles:
        assert t.mosaic.shape == (1, 1, 64, 64) and t.target.shape == (1, 3, 64, 64)
        assert t.shot.shape == (4,) and t.wb.shape == (3,)
    assert len({t.photo for t in tiles if t.level == "clean"}) == 2
    clean = next(t for t in tiles if t.level == "clean")
    assert float(clean.shot.max()) == 0.0  # noise-free level: a = 0 (the VST floors it)


def test_score_engines_thresholds(tiles):
    same = score_engines(tiles, _Shift(0.0), _Shift(0.0), metric="psnr_wb_srgb", threshold=45.0)
    assert same["passed"] and same["per_level"]["iso400"]["psnr_db"] == math.inf
    off = score_engines(tiles, _Shift(0.0), _Shift(0.02), metric="psnr_wb_srgb", threshold=45.0)
    assert not off["passed"] and off["worst"] < 45.0
    mx = score_engines(tiles, _Shift(0.0), _Shift(5e-5), metric="max_abs", threshold=1e-4)
    assert mx["passed"] and mx["worst"] == pytest.approx(5e-5, rel=1e-3)
    mx = score_engines(tiles, _Shift(0.0), _Shift(2e-4), metric="max_abs", threshold=1e-4)
    assert not mx["passed"]
