"""The NPU student: allowed-op lint, MAC budget, ONNX parity; int8 TFLite op list (slow)."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch
from torch import nn

from rawpipe.models import (
    StudentNet,
    check_student_ops,
    count_parameters,
    create_model,
    find_forbidden_ops,
    macs_per_output_megapixel,
)

BUDGET = 4e9  # MACs per output megapixel (issue 4)


@pytest.fixture
def student() -> StudentNet:
    torch.manual_seed(0)
    return create_model("student", pretrained=False).eval()


def test_budget(student):
    macs = macs_per_output_megapixel(student)
    params = count_parameters(student)
    print(f"student: {macs / 1e9:.3f} GMAC per output MP, {params} parameters")
    assert macs <= BUDGET
    assert macs == macs_per_output_megapixel(student, (32, 64))  # exactly per pixel
    assert 50_000 < params < 1_000_000


def test_default_student_passes_op_check(student):
    assert find_forbidden_ops(student) == []
    check_student_ops(student)


def _replace(model: nn.Module, dotted: str, new: nn.Module) -> nn.Module:
    parent_name, _, child = dotted.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)
    return model


@pytest.mark.parametrize(
    ("path", "module", "pattern"),
    [
        ("stem.1", nn.BatchNorm2d(16), "BatchNorm2d"),
        ("ups.0.up", nn.ConvTranspose2d(16, 16, 2, stride=2), "ConvTranspose2d"),
        ("ups.0.up", nn.Upsample(scale_factor=2, mode="bilinear"), "bilinear"),
        ("ups.0.up", nn.PixelShuffle(1), "PixelShuffle"),
        ("stem.1", nn.Sigmoid(), "Sigmoid"),
        ("stem.1", nn.GELU(), "GELU"),
        ("stem.0", nn.Conv2d(4, 16, 5, padding=2), "kernel"),
        ("stem.0", nn.Conv2d(4, 16, 3, padding=2, dilation=2), "dilation"),
        ("stem.0", nn.Conv2d(4, 16, 3, padding=1, padding_mode="reflect"), "padding"),
        ("stem.0", nn.Conv2d(4, 16, 3, padding=1, groups=2), "groups"),
    ],
)
def test_forbidden_modules_fail(student, path, module, pattern):
    _replace(student, path, module)
    bad = find_forbidden_ops(student, trace=False)
    assert any(pattern in b for b in bad), bad
    with pytest.raises(ValueError, match="student op check failed"):
        check_student_ops(student, trace=False)


def test_attention_module_fails(student):
    student.mid.append(nn.MultiheadAttention(128, 4))
    assert any("MultiheadAttention" in b for b in find_forbidden_ops(student, trace=False))


def test_functional_op_in_forward_caught_by_trace():
    class Sneaky(StudentNet):
        def forward(self, x):
            return torch.sigmoid(super().forward(x))

    torch.manual_seed(0)
    m = Sneaky(widths=(8, 16), block="conv").eval()
    assert find_forbidden_ops(m, trace=False) == []  # modules alone look clean
    bad = find_forbidden_ops(m)
    assert any("sigmoid" in b for b in bad), bad


def test_allowed_alternatives_pass():
    torch.manual_seed(0)
    m = create_model(
        "student",
        pretrained=False,
        merge="concat",
        act="relu6",
        down_kernel=3,
        block="sep",
        dec_blocks=1,
    )
    m.stem[1] = nn.PReLU(16)
    assert find_forbidden_ops(m) == []


def test_onnx_export_matches_ort(student, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    x = torch.rand(1, 4, 64, 64) * 20
    prog = torch.onnx.export(
        student,
        (x,),
        dynamo=True,
        external_data=False,
        input_names=["packed"],
        output_names=["out"],
    )
    path = tmp_path / "student.onnx"
    prog.save(str(path))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"packed": x.numpy()})[0]
    with torch.no_grad():
        ref = student(x).numpy()
    err = float(np.abs(got - ref).max())
    print(f"student ONNX vs torch max abs {err:.2e}")
    assert err <= 1e-4
    import onnx

    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert ops <= {"Conv", "Relu", "Add", "Resize", "Concat"}, ops


INT8_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "CONCATENATION", "RESIZE_NEAREST_NEIGHBOR"}


@pytest.mark.slow
def test_int8_tflite_op_list(student, tmp_path):
    """Full-int8 PT2E conversion (TOOLCHAIN.md recipe, NHWC I/O): every op is a single int8 op.

    Note ``strict=True`` in ``torch.export``: the non-strict default records no
    ``source_fn_stack``, the litert PT2E quantizer then leaves every ADD in float32
    (DEQUANTIZE → ADD → QUANTIZE).
    """
    litert_torch = pytest.importorskip("litert_torch")
    pytest.importorskip("ai_edge_litert")
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from litert_torch.quantize.pt2e_quantizer import (
        PT2EQuantizer,
        get_symmetric_quantization_config,
    )
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    g = torch.Generator().manual_seed(0)
    shape = (1, 4, 64, 64)
    calib = [torch.rand(shape, generator=g) * 20 for _ in range(4)]
    q = PT2EQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
    )
    gm = torch.export.export(student, (calib[0],), strict=True).module()
    prepared = prepare_pt2e(gm, q)
    for c in calib:
        prepared(c)
    converted = convert_pt2e(prepared, fold_quantize=False)
    nhwc = litert_torch.to_channel_last_io(converted, args=[0], outputs=[0])
    x = calib[0].permute(0, 2, 3, 1)
    path = tmp_path / "student_int8.tflite"
    litert_torch.convert(nhwc, (x,), quant_config=QuantConfig(pt2e_quantizer=q)).export(str(path))

    it = Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    it.allocate_tensors()
    ops = it._get_ops_details()
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    counts = collections.Counter(o["op_name"] for o in ops)
    print(f"student int8 TFLite ops: {dict(counts)}")
    float_ops = [
        o["op_name"]
        for o in ops
        if any(tensors[i]["dtype"] == np.float32 for i in [*o["inputs"], *o["outputs"]] if i >= 0)
    ]
    assert set(counts) <= INT8_OPS, counts
    assert float_ops == []
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    assert inp["dtype"] == np.int8 and list(inp["shape"]) == [1, 64, 64, 4]
    assert out["dtype"] == np.int8 and list(out["shape"]) == [1, 64, 64, 12]

    s_in, z_in = inp["quantization"]
    s_out, z_out = out["quantization"]
    xq = np.clip(np.round(x.numpy() / s_in) + z_in, -128, 127).astype(np.int8)
    it.set_tensor(inp["index"], xq)
    it.invoke()
    y = (it.get_tensor(out["index"]).astype(np.float32) - z_out) * s_out
    with torch.no_grad():
        ref = student(calib[0]).permute(0, 2, 3, 1).numpy()
    psnr = 10 * np.log10(np.ptp(ref) ** 2 / np.mean((y - ref) ** 2))
    print(f"student int8 vs fp32 (random init, peak = output range): {psnr:.1f} dB")
    assert psnr > 40
