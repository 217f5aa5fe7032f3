"""The int8 TFLite artifact: I/O, ops and dtypes as the LiteRT interpreter sees them."""

from __future__ import annotations

import pytest
import torch

from rawpipe.export.graph import op_counts


def test_io_is_int8_nhwc_per_bucket(android_build):
    from rawpipe.export.tflite import tflite_io

    io = tflite_io(android_build.artifact)
    assert list(io) == ["b0", "b1", "b2"]
    for sig in io.values():
        assert sig["input"].shape == (1, 32, 32, 4) and sig["input"].dtype == "int8"
        assert sig["output"].shape == (1, 32, 32, 12) and sig["output"].dtype == "int8"


def test_every_tensor_is_integer(android_build):
    from rawpipe.export.tflite import list_tflite_ops

    ops = list_tflite_ops(android_build.artifact)
    assert {o.graph for o in ops} == {"b0", "b1", "b2"}
    for o in ops:
        for t in (*o.inputs, *o.outputs):
            assert t.dtype in ("int8", "int32"), o.describe()
            assert not t.dynamic
    assert op_counts(ops, "b2") == op_counts(ops, "b1") == op_counts(ops, "b0")


class _WithTransposeConv(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.down = torch.nn.Conv2d(4, 8, 2, stride=2)
        self.up = torch.nn.ConvTranspose2d(8, 12, 2, stride=2)

    def forward(self, x):
        return self.up(torch.relu(self.down(x)))


def test_lint_rejects_a_float_transpose_conv(tmp_path):
    """A real artifact: ConvTranspose2d stays a float32 TRANSPOSE_CONV in the PT2E int8 graph
    (../shared/TOOLCHAIN.md) — the lint must fail it."""
    pytest.importorskip("litert_torch")
    from rawpipe.export.lint import OpLintError, lint_tflite
    from rawpipe.export.targets import load_target
    from rawpipe.export.tflite import to_tflite

    torch.manual_seed(0)
    net = _WithTransposeConv().eval()
    calib = {"b0": [torch.rand(1, 4, 8, 8) * 10 for _ in range(2)]}
    path = to_tflite(net, tmp_path / "tc.tflite", tile=(8, 8), calibration=calib)
    rep = lint_tflite(path, load_target("android"))
    assert not rep.ok
    assert any("TRANSPOSE_CONV" in f for f in rep.float_ops)
    with pytest.raises(OpLintError):
        rep.raise_for_problems()
