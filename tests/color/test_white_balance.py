import numpy as np
import pytest
import torch

from rawpipe.color import (
    apply_white_balance,
    apply_white_balance_mosaic,
    invert_white_balance,
    invert_white_balance_mosaic,
    mosaic_gain_map,
)


def _data(shape, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g, dtype=dtype) * 3.0 - 1.0  # includes < 0 and > 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("gains_shape", [(3,), (2, 3)])
def test_rgb_round_trip(dtype, gains_shape):
    x = _data((2, 3, 9, 7), dtype)
    gains = torch.rand(gains_shape, dtype=dtype) * 2.0 + 0.5
    y = apply_white_balance(x, gains)
    assert y.dtype == dtype and y.shape == x.shape
    assert torch.allclose(
        invert_white_balance(y, gains), x, atol=1e-5 if dtype == torch.float32 else 1e-12
    )
    assert not torch.allclose(y, x)


def test_rgb_values_and_per_image_gains():
    x = torch.ones(2, 3, 2, 2)
    gains = torch.tensor([[2.0, 1.0, 1.5], [1.0, 3.0, 0.5]])
    y = apply_white_balance(x, gains)
    assert torch.equal(y[1, :, 0, 0], torch.tensor([1.0, 3.0, 0.5]))
    assert torch.equal(y[0, :, 1, 1], torch.tensor([2.0, 1.0, 1.5]))


@pytest.mark.parametrize("size", [(8, 8), (7, 5)])
@pytest.mark.parametrize("gains_shape", [(3,), (2, 3)])
def test_mosaic_round_trip_and_layout(size, gains_shape):
    m = _data((2, 1, *size))
    gains = torch.rand(gains_shape) * 2.0 + 0.5
    y = apply_white_balance_mosaic(m, gains)
    assert torch.allclose(invert_white_balance_mosaic(y, gains), m, atol=1e-5)
    g = gains.expand(2, 3)
    for n in range(2):
        assert torch.allclose(y[n, 0, 0::2, 0::2], m[n, 0, 0::2, 0::2] * g[n, 0])
        assert torch.allclose(y[n, 0, 0::2, 1::2], m[n, 0, 0::2, 1::2] * g[n, 1])
        assert torch.allclose(y[n, 0, 1::2, 0::2], m[n, 0, 1::2, 0::2] * g[n, 1])
        assert torch.allclose(y[n, 0, 1::2, 1::2], m[n, 0, 1::2, 1::2] * g[n, 2])


def test_gain_map_shape():
    assert mosaic_gain_map(torch.tensor([2.0, 1.0, 3.0]), 3, 5).shape == (1, 3, 5)
    assert mosaic_gain_map(torch.ones(4, 3), 2, 2).shape == (4, 1, 2, 2)


def test_numpy_in_numpy_out():
    x = np.random.default_rng(0).random((3, 4, 4)).astype(np.float32)
    y = apply_white_balance(x, [2.0, 1.0, 1.5])
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    np.testing.assert_allclose(invert_white_balance(y, [2.0, 1.0, 1.5]), x, atol=1e-6)


def test_gradients_flow_to_image_and_gains():
    x = torch.rand(1, 3, 4, 4, requires_grad=True)
    gains = torch.tensor([2.0, 1.0, 1.5], requires_grad=True)
    apply_white_balance(x, gains).sum().backward()
    assert torch.allclose(x.grad[0, :, 0, 0], gains.detach())
    assert torch.allclose(gains.grad, x.detach().sum(dim=(0, 2, 3)))


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        apply_white_balance(torch.ones(1, 4, 2, 2), torch.ones(3))
    with pytest.raises(ValueError):
        apply_white_balance(torch.ones(1, 3, 2, 2), torch.ones(4))
    with pytest.raises(ValueError):
        apply_white_balance_mosaic(torch.ones(1, 3, 2, 2), torch.ones(3))
