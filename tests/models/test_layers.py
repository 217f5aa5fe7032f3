"""Host-side depth-to-space, the fixed bilinear baseline, blocks."""

from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F

from rawpipe.models.layers import (
    BayerBilinearBaseline,
    FixedConv2d,
    PackedUNet,
    bayer_bilinear_baseline,
    bayer_bilinear_kernel,
    depth_to_space,
    make_block,
    space_to_depth,
)


def _pack(mosaic: torch.Tensor) -> torch.Tensor:
    """RGGB mosaic (N,1,H,W) → packed (N,4,H/2,W/2) in R, Gr, Gb, B order (test-local)."""
    return torch.cat(
        [
            mosaic[..., 0::2, 0::2],
            mosaic[..., 0::2, 1::2],
            mosaic[..., 1::2, 0::2],
            mosaic[..., 1::2, 1::2],
        ],
        dim=1,
    )


def _mosaic(rgb: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) → RGGB mosaic (N,1,H,W)."""
    m = rgb[:, 1:2].clone()
    m[..., 0::2, 0::2] = rgb[:, 0:1, 0::2, 0::2]
    m[..., 1::2, 1::2] = rgb[:, 2:3, 1::2, 1::2]
    return m


def test_depth_to_space_is_pixel_shuffle_crd():
    x = torch.randn(2, 12, 5, 7)
    y = depth_to_space(x)
    assert y.shape == (2, 3, 10, 14)
    assert torch.equal(y, F.pixel_shuffle(x, 2))
    # channel 4c + 2dy + dx → colour c at (2i+dy, 2j+dx)
    for c in range(3):
        for dy in range(2):
            for dx in range(2):
                assert torch.equal(y[:, c, dy::2, dx::2], x[:, 4 * c + 2 * dy + dx])


def test_space_to_depth_inverse_and_batch_dims():
    x = torch.randn(2, 3, 3, 8, 6)
    assert torch.equal(depth_to_space(space_to_depth(x)), x)
    z = torch.randn(4, 12, 3, 5)
    assert torch.equal(space_to_depth(depth_to_space(z)), z)
    assert torch.equal(space_to_depth(x[0], 3 - 1), F.pixel_unshuffle(x[0], 2))
    with pytest.raises(ValueError, match="multiple"):
        space_to_depth(torch.zeros(1, 1, 3, 4))
    with pytest.raises(ValueError, match="multiple"):
        depth_to_space(torch.zeros(1, 6, 2, 2))


def test_space_to_depth_of_mosaic_is_packing():
    mosaic = torch.randn(1, 1, 8, 8)
    assert torch.equal(space_to_depth(mosaic), _pack(mosaic))


def test_baseline_kernel_int8_exact_rows():
    k = bayer_bilinear_kernel()
    assert k.shape == (12, 4, 3, 3)
    for row in k.reshape(12, -1):
        nz = row[row != 0]
        assert torch.all(nz == nz[0])  # per-channel int8: one level per channel, exact
    assert torch.allclose(k.sum(dim=(1, 2, 3)), torch.ones(12))


@pytest.mark.parametrize("field", ["constant", "ramp_x", "ramp_y", "plane"])
def test_baseline_reproduces_linear_images(field):
    h, w = 16, 20
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    base = {"constant": 0 * xx + 1, "ramp_x": xx, "ramp_y": yy, "plane": 0.3 * xx - 0.7 * yy + 2}[
        field
    ]
    rgb = torch.stack([base, 2 * base + 1, -base + 3])[None]
    out = depth_to_space(bayer_bilinear_baseline(_pack(_mosaic(rgb))))
    assert torch.allclose(out[..., 2:-2, 2:-2], rgb[..., 2:-2, 2:-2], atol=1e-12)


def test_baseline_keeps_measured_samples():
    mosaic = torch.rand(2, 1, 12, 12)
    out = depth_to_space(BayerBilinearBaseline()(_pack(mosaic)))
    assert torch.allclose(_mosaic(out), mosaic, atol=1e-6)


@pytest.mark.skipif(
    importlib.util.find_spec("rawpipe.models.classical") is None,
    reason="classical.py not written yet",
)
def test_baseline_matches_classical_bilinear_interior():
    from rawpipe.models.classical import demosaic_bilinear

    mosaic = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    ours = depth_to_space(bayer_bilinear_baseline(_pack(mosaic)))
    theirs = demosaic_bilinear(mosaic)
    assert torch.allclose(ours[..., 2:-2, 2:-2], theirs[..., 2:-2, 2:-2], atol=1e-12)


def test_fixed_conv_is_frozen_and_not_stored():
    m = BayerBilinearBaseline()
    assert isinstance(m, torch.nn.Conv2d) and isinstance(m, FixedConv2d)
    assert list(m.parameters()) == []
    assert m.state_dict() == {}
    x = torch.rand(1, 4, 6, 6)
    assert torch.equal(m(x), bayer_bilinear_baseline(x))


@pytest.mark.parametrize("kind", ["conv", "sep", "res", "sepres"])
def test_blocks_keep_shape(kind):
    x = torch.randn(1, 8, 6, 6)
    assert make_block(kind, 8)(x).shape == x.shape


def test_unet_argument_errors():
    with pytest.raises(ValueError, match="block kind"):
        PackedUNet(block="attention")
    with pytest.raises(ValueError, match="one per level"):
        PackedUNet(widths=(8, 16, 32), enc_blocks=(1, 1, 1))
    with pytest.raises(ValueError, match="merge"):
        PackedUNet(merge="mul")
    with pytest.raises(ValueError, match="down_kernel"):
        PackedUNet(down_kernel=4)
    with pytest.raises(ValueError, match="act"):
        PackedUNet(act="gelu")
