"""The numpy MIL interpreter: op semantics against torch, and a real converted program."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rawpipe.export import mil


@pytest.mark.parametrize(
    "kwargs",
    [
        {"stride": 1, "padding": 1, "groups": 1, "dilation": 1},
        {"stride": 2, "padding": 0, "groups": 1, "dilation": 1},
        {"stride": 1, "padding": 1, "groups": 6, "dilation": 1},  # depthwise
        {"stride": 1, "padding": 2, "groups": 2, "dilation": 2},  # grouped, dilated
    ],
)
def test_conv_matches_torch(kwargs):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 6, 9, 10)).astype(np.float32)
    k = 2 if kwargs["stride"] == 2 else 3
    w = rng.normal(size=(6, 6 // kwargs["groups"], k, k)).astype(np.float32)
    b = rng.normal(size=6).astype(np.float32)
    ref = torch.nn.functional.conv2d(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), **kwargs
    )
    p = kwargs["padding"]
    got = mil._conv(
        {
            "x": x,
            "weight": w,
            "bias": b,
            "strides": np.array([kwargs["stride"]] * 2),
            "dilations": np.array([kwargs["dilation"]] * 2),
            "groups": np.int32(kwargs["groups"]),
            "pad_type": "custom",
            "pad": np.array([p, p, p, p]),
        }
    )
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-4, atol=1e-4)


def test_conv_same_padding_is_larger_at_the_end():
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, -1, -1] = 1.0
    w = np.ones((1, 1, 2, 2), np.float32)
    same = mil._conv({"x": x, "weight": w, "pad_type": "same", "strides": (1, 1)})
    assert same.shape == (1, 1, 4, 4) and same[0, 0, -1, -1] == 1.0  # padded bottom/right
    lower = mil._conv({"x": x, "weight": w, "pad_type": "same_lower", "strides": (1, 1)})
    assert lower[0, 0, -1, -1] == 1.0 and lower[0, 0, 0, 0] == 0.0


def test_quantize_dequantize_and_blockwise():
    x = np.array([[-3.0, -0.26, 0.25, 0.74, 200.0]], np.float32)
    q = mil._quantize({"input": x, "scale": np.float32(0.5), "output_dtype": "int8"})
    assert q.tolist() == [[-6, -1, 0, 1, 127]]
    u = mil._quantize(
        {"input": x, "scale": np.float32(0.5), "zero_point": np.uint8(128), "output_dtype": "uint8"}
    )
    assert u.tolist() == [[122, 127, 128, 129, 255]]
    np.testing.assert_allclose(
        mil._dequantize({"input": u, "scale": np.float32(0.5), "zero_point": np.uint8(128)}),
        [[-3.0, -0.5, 0.0, 0.5, 63.5]],
    )
    data = np.arange(8, dtype=np.int8).reshape(2, 4)
    out = mil._blockwise_shift_scale({"data": data, "scale": np.array([[1.0], [0.5]], np.float32)})
    np.testing.assert_allclose(out, [[0, 1, 2, 3], [2, 2.5, 3, 3.5]])
    aff = mil._affine_dequantize(
        {
            "quantized_data": data,
            "scale": np.array([1.0, 0.5], np.float32),
            "zero_point": np.array([0, 4], np.int8),
            "axis": np.int32(0),
        }
    )
    np.testing.assert_allclose(aff, [[0, 1, 2, 3], [0, 0.5, 1, 1.5]])


def test_upsample_and_concat():
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2)
    up = mil._upsample_nearest({"x": x, "scale_factor_height": 2.0, "scale_factor_width": 2.0})
    ref = torch.nn.functional.interpolate(torch.from_numpy(x), scale_factor=2, mode="nearest")
    np.testing.assert_array_equal(up, ref.numpy())
    assert mil._concat({"values": [x, x], "axis": np.int32(1)}).shape == (1, 2, 2, 2)
    with pytest.raises(mil.UnsupportedMilOp):
        mil._upsample_nearest({"x": x, "scale_factor_height": 1.5, "scale_factor_width": 2.0})


class _Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = torch.nn.Conv2d(4, 8, 3, padding=1)
        self.dw = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.down = torch.nn.Conv2d(8, 8, 2, stride=2)
        self.up = torch.nn.Upsample(scale_factor=2, mode="nearest")
        self.head = torch.nn.Conv2d(8, 12, 1)

    def forward(self, x):
        y = torch.relu(self.c1(x))
        y = y + self.dw(y)
        y = y + self.up(torch.relu(self.down(y)))
        return self.head(y)


def test_runs_a_converted_fp32_program(tmp_path):
    pytest.importorskip("coremltools")
    from rawpipe.export.coreml import to_coreml

    torch.manual_seed(0)
    net = _Tiny().eval()
    path = to_coreml(
        net, tmp_path / "tiny.mlpackage", tile=(8, 8), w8a8=False, minimum_deployment_target="iOS17"
    )
    fns = mil.load_mil_functions(path)
    assert list(fns) == ["main"]
    x = np.random.default_rng(0).uniform(0, 4, (1, 4, 8, 8)).astype(np.float32)
    (out,) = mil.run_mil(fns["main"], {"packed_vst": x}).values()
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    assert out.shape == ref.shape
    # fp16 compute: relative error ~1e-3
    np.testing.assert_allclose(out, ref, rtol=2e-2, atol=2e-2)
    with pytest.raises(ValueError, match="shape"):
        mil.run_mil(fns["main"], {"packed_vst": x[:, :, :4]})
