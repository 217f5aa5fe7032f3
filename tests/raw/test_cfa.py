"""CFA pattern enum, exact RGGB normalisation (numpy + torch, odd sizes) and RGGB packing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rawpipe.raw import CfaPad, CFAPattern, denormalize_cfa, normalize_cfa, pack_rggb, unpack_rggb

PATTERNS = list(CFAPattern)
SIZES = [(2, 2), (4, 6), (5, 7), (6, 3), (3, 8), (33, 47), (2, 9)]


def colour_map(pattern: CFAPattern, h: int, w: int) -> np.ndarray:
    """Colour index (0 R, 1 G, 2 B) at every site of an h × w mosaic with this phase."""
    return np.array([[pattern.index_at(y, x) for x in range(w)] for y in range(h)], dtype=np.int64)


def test_pattern_basics():
    assert CFAPattern.from_string("gbrg") is CFAPattern.GBRG
    assert CFAPattern.from_string(" RGGB ") is CFAPattern.RGGB
    assert CFAPattern.from_string(CFAPattern.BGGR) is CFAPattern.BGGR
    assert CFAPattern.GBRG == "GBRG"  # str enum
    with pytest.raises(ValueError, match="unknown CFA pattern"):
        CFAPattern.from_string("RGBG")
    assert [CFAPattern.GRBG.color_at(y, x) for y in (0, 1) for x in (0, 1)] == list("GRBG")
    assert CFAPattern.BGGR.color_at(3, 3) == "R"  # periodic
    assert {p: p.red_offset for p in PATTERNS} == {
        CFAPattern.RGGB: (0, 0),
        CFAPattern.GRBG: (0, 1),
        CFAPattern.GBRG: (1, 0),
        CFAPattern.BGGR: (1, 1),
    }
    assert CFAPattern.from_tile([["G", "B"], ["R", "G"]]) is CFAPattern.GBRG


@pytest.mark.parametrize("pattern", PATTERNS)
def test_shifted_matches_cropping(pattern):
    cmap = colour_map(pattern, 6, 6)
    for dy in (0, 1):
        for dx in (0, 1):
            assert np.array_equal(
                colour_map(pattern.shifted(dy, dx), 4, 4), cmap[dy : dy + 4, dx : dx + 4]
            )


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("size", SIZES)
def test_normalize_numpy_exact_and_rggb(pattern, size):
    h, w = size
    rng = np.random.default_rng(h * 100 + w)
    x = rng.integers(0, 65536, (h, w), dtype=np.uint16)
    y, pad = normalize_cfa(x, pattern)
    assert y.dtype == np.uint16
    assert y.shape[0] % 2 == 0 and y.shape[1] % 2 == 0
    assert y.shape == pad.padded_size(h, w)
    assert max(pad.top, pad.left, pad.bottom, pad.right) <= 1
    assert np.array_equal(denormalize_cfa(y, pad), x)
    # every site of the padded mosaic, the padding included, carries the colour RGGB puts there
    cy, _ = normalize_cfa(colour_map(pattern, h, w), pattern)
    assert np.array_equal(cy, colour_map(CFAPattern.RGGB, *cy.shape))


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("size", [(5, 7), (4, 6), (33, 47)])
def test_normalize_torch_matches_numpy(pattern, size):
    x = np.random.default_rng(0).random((2, 1, *size)).astype(np.float32)
    yn, padn = normalize_cfa(x, pattern)
    yt, padt = normalize_cfa(torch.from_numpy(x), pattern)
    assert padn == padt
    assert isinstance(yt, torch.Tensor)
    assert np.array_equal(yt.numpy(), yn)
    assert torch.equal(denormalize_cfa(yt, padt), torch.from_numpy(x))


def test_normalize_returns_copy_and_keeps_integer_torch():
    x = torch.arange(20, dtype=torch.int32).reshape(4, 5)
    y, pad = normalize_cfa(x, "BGGR")
    assert y.dtype == torch.int32 and pad == CfaPad(1, 1, 1, 0)
    assert torch.equal(denormalize_cfa(y, pad), x)
    z, pad0 = normalize_cfa(np.zeros((4, 4)), "RGGB")
    assert pad0.is_identity
    z[0, 0] = 1  # a copy, not a view of the input


def test_denormalize_rgb_output_and_gradients():
    """The pad crops an RGB image made from the normalised mosaic; gradients flow through both."""
    x = torch.rand(1, 1, 7, 9, requires_grad=True)
    y, pad = normalize_cfa(x, "GRBG")
    rgb = y.expand(1, 3, *y.shape[-2:]) * torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)
    out = denormalize_cfa(rgb, pad)
    assert out.shape == (1, 3, 7, 9)
    assert torch.equal(out[:, 2:3], 3 * x)
    out.sum().backward()
    assert x.grad is not None and torch.all(x.grad >= 6)


def test_normalize_too_small():
    with pytest.raises(ValueError, match="need H, W >= 2"):
        normalize_cfa(np.zeros((1, 5)), "GBRG")


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(2, 12),
    w=st.integers(2, 12),
    pattern=st.sampled_from(PATTERNS),
    lead=st.lists(st.integers(1, 3), max_size=2),
)
def test_normalize_roundtrip_property(h, w, pattern, lead):
    x = np.random.default_rng(h * w).integers(0, 1000, (*lead, h, w))
    y, pad = normalize_cfa(x, pattern)
    assert np.array_equal(denormalize_cfa(y, pad), x)
    assert y.shape[:-2] == tuple(lead)


def test_pack_channel_order_numpy_and_torch():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    p = pack_rggb(x)
    assert p.shape == (1, 4, 2, 2)
    assert np.array_equal(p[0, 0], x[0, 0, 0::2, 0::2])  # R
    assert np.array_equal(p[0, 1], x[0, 0, 0::2, 1::2])  # G1 (0, 1)
    assert np.array_equal(p[0, 2], x[0, 0, 1::2, 0::2])  # G2 (1, 0)
    assert np.array_equal(p[0, 3], x[0, 0, 1::2, 1::2])  # B
    t = torch.from_numpy(x)
    assert torch.equal(pack_rggb(t), torch.nn.functional.pixel_unshuffle(t, 2))
    assert np.array_equal(pack_rggb(t).numpy(), p)


@pytest.mark.parametrize("shape", [(1, 6, 8), (2, 1, 6, 8), (2, 3, 1, 10, 4)])
def test_pack_unpack_roundtrip(shape):
    x = np.random.default_rng(1).integers(0, 65536, shape, dtype=np.uint16)
    p = pack_rggb(x)
    assert p.shape == (*shape[:-3], 4, shape[-2] // 2, shape[-1] // 2)
    assert np.array_equal(unpack_rggb(p), x)
    t = torch.from_numpy(x.astype(np.int32))
    assert torch.equal(unpack_rggb(pack_rggb(t)), t)
    assert torch.equal(unpack_rggb(torch.from_numpy(p.astype(np.int32))), t)


def test_pack_rejects_bad_shapes():
    with pytest.raises(ValueError, match="even"):
        pack_rggb(np.zeros((1, 5, 4)))
    with pytest.raises(ValueError, match="expected shape"):
        pack_rggb(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="expected shape"):
        unpack_rggb(np.zeros((3, 4, 4)))


def test_normalize_then_pack_puts_colours_in_their_planes():
    for pattern in PATTERNS:
        cmap = colour_map(pattern, 7, 5)[None]
        y, _ = normalize_cfa(cmap, pattern)
        p = pack_rggb(y)
        assert [np.unique(p[c]).tolist() for c in range(4)] == [[0], [1], [1], [2]]
