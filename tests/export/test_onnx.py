"""ONNX export: dynamic H/W, torch parity, ops."""

from __future__ import annotations

import numpy as np
import torch


def test_onnx_matches_torch_at_any_aligned_size(android_build):
    from rawpipe.export.onnx import list_onnx_ops, ort_session, run_ort
    from rawpipe.models import create_model

    torch.manual_seed(0)
    net = create_model("student", pretrained=False).eval()
    sess = ort_session(android_build.out_dir / "rawpipe_student_fp32.onnx")
    rng = np.random.default_rng(0)
    for h, w in [(32, 32), (24, 40)]:
        x = rng.uniform(0, 200, (1, 4, h, w)).astype(np.float32)
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).numpy()
        got = run_ort(sess, x)
        assert np.abs(got - ref).max() <= 1e-4 * max(1.0, float(np.abs(ref).max()) / 100)
    assert list_onnx_ops(android_build.out_dir / "rawpipe_student_fp32.onnx") == {
        "Add": 3,
        "Conv": 12,
        "Relu": 8,
        "Resize": 2,
    }
