"""Tiled execution equals un-tiled execution for translation-equivariant engines."""

from __future__ import annotations

import pytest
import torch

from rawpipe.tiling import TileSpec, balanced_spec, iter_tiles, pad_for_tiling, run_tiled


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 5, padding=2, padding_mode="reflect"),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, stride=2, padding=1, padding_mode="reflect"),
        torch.nn.ReLU(),
        torch.nn.Upsample(scale_factor=2, mode="nearest"),
        torch.nn.Conv2d(8, 3, 5, padding=2, padding_mode="reflect"),
    )


@pytest.mark.parametrize("hw", [(100, 90), (256, 700), (74, 1000), (130, 130)])
def test_tiled_equals_untiled(hw):
    net = _net().eval()
    x = torch.rand(1, 1, *hw)
    spec = TileSpec(size=64, margin=16, align=4)
    with torch.no_grad():
        ref = net(pad_for_tiling(x, spec))[:, :, : hw[0], : hw[1]]
        tiled = run_tiled(net, x, spec)
    assert tiled.shape == (1, 3, *hw)
    assert (ref - tiled).abs().max().item() <= 1e-5


def test_tiles_cover_the_image_once():
    h, w = 333 * 2, 257 * 2
    spec = TileSpec(size=128, margin=16, align=8)
    xp = pad_for_tiling(torch.zeros(1, 1, h, w), spec)
    hp, wp = xp.shape[-2:]
    count = torch.zeros(hp, wp)
    for rows, cols, kr, kc in iter_tiles(hp, wp, spec):
        assert rows.start % spec.align == 0 and cols.start % spec.align == 0
        assert rows.stop - rows.start <= spec.size and cols.stop - cols.start <= spec.size
        # The kept part lies inside the tile, at least `margin` from any inner tile edge.
        assert kr.start >= rows.start and kr.stop <= rows.stop
        assert kr.start - rows.start >= spec.margin or rows.start == 0
        assert rows.stop - kr.stop >= spec.margin or rows.stop == hp
        count[kr, kc] += 1
    assert torch.all(count == 1)


def test_fixed_size_tiles_pad_small_images():
    spec = TileSpec(size=64, margin=8, align=4)
    seen = []

    def fn(t: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(t.shape[-2:]))
        return t.repeat(1, 3, 1, 1)

    x = torch.rand(1, 1, 30, 100)
    y = run_tiled(fn, x, spec, fixed_size=True)
    assert y.shape == (1, 3, 30, 100)
    assert all(s == (64, 64) for s in seen)
    torch.testing.assert_close(y[:, :1], x)


def test_cfa_preserving_padding():
    x = torch.arange(6 * 8, dtype=torch.float32).reshape(1, 1, 6, 8)
    y = pad_for_tiling(x, TileSpec(size=16, margin=4, align=4), fixed_size=True)
    assert y.shape[-2:] == (16, 16)
    # Even-offset reflection: every padded pixel copies a pixel of the same CFA colour.
    parity = lambda v: (int(v) // 8 % 2, int(v) % 8 % 2)  # noqa: E731
    for i in range(16):
        for j in range(16):
            assert parity(y[0, 0, i, j]) == (i % 2, j % 2)


def test_bad_spec():
    with pytest.raises(ValueError):
        TileSpec(size=30, margin=16, align=2)
    with pytest.raises(ValueError):
        TileSpec(size=66, margin=8, align=4)


@pytest.mark.parametrize("hw", [(1414, 2121), (2000, 3000), (300, 200), (96, 1000)])
def test_balanced_spec_covers_within_budget_with_less_overlap(hw):
    """balanced_spec: tiles within the area budget, aligned, and never more recomputation than
    square tiles of the same budget (its cost is the sum of tile areas)."""
    h, w = hw
    budget, margin, align = 512 * 512, 40, 8
    spec = balanced_spec(h, w, max_area=budget, margin=margin, align=align)
    assert spec.size * spec.size_w <= budget or spec.width is None
    hp, wp = -(-h // align) * align, -(-w // align) * align

    def cost(s: TileSpec) -> int:
        return sum((r.stop - r.start) * (c.stop - c.start) for r, c, _, _ in iter_tiles(hp, wp, s))

    count = torch.zeros(hp, wp)
    for rows, cols, kr, kc in iter_tiles(hp, wp, spec):
        assert rows.start % align == 0 and cols.start % align == 0
        count[kr, kc] += 1
    assert torch.all(count == 1)
    assert cost(spec) <= cost(TileSpec(size=512, margin=margin, align=align))


def test_non_square_tiles_equal_untiled():
    net = _net().eval()
    x = torch.rand(1, 1, 150, 260)
    spec = TileSpec(size=64, margin=16, align=4, width=96)
    with torch.no_grad():
        ref = net(pad_for_tiling(x, spec))[:, :, :150, :260]
        tiled = run_tiled(net, x, spec)
    assert (ref - tiled).abs().max().item() <= 1e-5
