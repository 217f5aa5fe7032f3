"""The W8A8 Core ML artifact: spec, I/O, MIL ops, execution of its program, predict on macOS."""

from __future__ import annotations

import platform

import numpy as np
import pytest
import torch


def test_spec_io_and_functions(ios_build):
    from rawpipe.export.coreml import coreml_io

    io = coreml_io(ios_build.artifact)
    assert sorted(io) == ["b0", "b1", "b2"]
    for f in io.values():
        assert f["input"] == {
            "name": "packed_vst",
            "shape": [1, 4, 32, 32],
            "dtype": "float32",
            "scale": None,
            "zero_point": None,
        }
        assert f["output"]["shape"] == [1, 12, 32, 32] and f["output"]["dtype"] == "float32"


def test_spec_via_coremltools_matches(ios_build):
    ct = pytest.importorskip("coremltools")
    from rawpipe.export.coreml import list_coreml_ops

    spec = ct.models.MLModel(str(ios_build.artifact), skip_model_load=True).get_spec()
    fns = spec.mlProgram.functions
    ours = list_coreml_ops(ios_build.artifact)
    for name, f in fns.items():
        ops = [op.type for op in f.block_specializations[f.opset].operations]
        assert ops == [o.op for o in ours if o.graph == name]
        assert f.opset == "CoreML8"


def test_weights_are_int8_and_activations_requantised(ios_build):
    from rawpipe.export.coreml import list_coreml_ops

    ops = list_coreml_ops(ios_build.artifact)
    producers = {t.name: o for o in ops for t in o.outputs}
    convs = [o for o in ops if o.op == "conv" and o.graph == "b0"]
    assert len(convs) == 12
    for c in convs:
        w = next(t for t in c.inputs if t.name.startswith("weight="))
        assert producers[w.name.split("=", 1)[1]].op == "constexpr_blockwise_shift_scale"
        x = next(t for t in c.inputs if t.name.startswith("x="))
        assert producers[x.name.split("=", 1)[1]].op == "dequantize"


def test_mil_program_runs_close_to_onnxruntime(ios_build, android_build):
    """Execute the package's own MIL program (numpy) on a VST input and compare with ORT."""
    from rawpipe.export.mil import load_mil_functions, run_mil
    from rawpipe.export.onnx import ort_session, run_ort
    from rawpipe.export.parity import parity_tiles
    from rawpipe.models.jdd import jdd_preprocess, noise_tensors

    fns = load_mil_functions(ios_build.artifact)
    tile = parity_tiles(64, levels=["iso1600"], per_level=1)[0]  # bucket b2
    shot, read = noise_tensors(tile.shot, tile.read, 1)
    x = jdd_preprocess(tile.mosaic, shot, read).numpy()
    (y,) = run_mil(fns["b2"], {"packed_vst": x}).values()
    ref = run_ort(ort_session(android_build.out_dir / "rawpipe_student_fp32.onnx"), x)
    err = float(np.sqrt(np.mean((y - ref) ** 2)))
    assert y.dtype == np.float32 and y.shape == ref.shape
    assert err < 0.02 * float(ref.max())  # W8A8: close, not exact
    assert err > 0


def test_predict(ios_build):
    from rawpipe.export.coreml import coreml_predict, predict_available

    ok, why = predict_available()
    if not ok:
        assert platform.system() != "Darwin" and "macOS" in why
        pytest.skip(f"Core ML predict not run: {why}")
    x = torch.rand(1, 4, 32, 32).numpy() * 50  # pragma: no cover - macOS only
    y = coreml_predict(ios_build.artifact, x, function="b2")  # pragma: no cover
    assert y.shape == (1, 12, 32, 32)  # pragma: no cover


def test_histogram_observers_replace_min_max_on_activations_only():
    """The iOS recipe's activation ranges come from torch's histogram observer (coremltools offers
    min-max only); weight fake-quants keep their per-channel observers."""
    pytest.importorskip("coremltools")
    from coremltools.optimize.torch.quantization import (
        LinearQuantizer,
        LinearQuantizerConfig,
        ModuleLinearQuantizerConfig,
    )
    from torch.ao.quantization import FakeQuantizeBase, HistogramObserver

    from rawpipe.export.coreml import (
        _fx_traceable,
        _histogram_activation_observers,
        _quantize_linear,
    )
    from rawpipe.export.targets import load_target
    from rawpipe.models import create_model

    assert load_target("ios").activation_observer == "histogram"
    net = create_model("student", pretrained=False).eval()
    cfg = LinearQuantizerConfig(
        global_config=ModuleLinearQuantizerConfig(
            quantization_scheme="affine", weight_per_channel=True, activation_observer="min_max"
        )
    )
    with _fx_traceable(net):
        prepared = LinearQuantizer(net, cfg).prepare(example_inputs=(torch.rand(1, 4, 32, 32),))
    n = _histogram_activation_observers(prepared)
    fqs = [m for m in prepared.modules() if isinstance(m, FakeQuantizeBase)]
    hist = [m for m in fqs if isinstance(m.activation_post_process, HistogramObserver)]
    assert n == len(hist) > 0
    assert any(m.is_per_channel for m in fqs if m not in hist)

    gen = torch.Generator().manual_seed(0)
    batches = [torch.rand(1, 4, 32, 32, generator=gen) * 40 for _ in range(2)]
    q = _quantize_linear(net, batches, "affine", "histogram")
    with torch.no_grad():
        assert torch.isfinite(q(batches[0])).all()
    with pytest.raises(ValueError, match="observer"):
        _quantize_linear(net, batches, "affine", "percentile")
