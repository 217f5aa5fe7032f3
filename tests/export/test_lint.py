"""Op lint on op listings (synthetic ones here; real artifacts in test_tflite / test_coreml)."""

from __future__ import annotations

import pytest

from rawpipe.export.graph import OpRecord, TensorRecord
from rawpipe.export.lint import OpLintError, lint_ops
from rawpipe.export.targets import load_target

I8, F32 = "int8", "float32"


def t(name, dtype=I8, shape=(1, 8, 8, 16), const=False, dynamic=False):
    return TensorRecord(name, dtype, shape, dynamic, const)


def op(i, name, ins, outs, graph="b0"):
    return OpRecord(graph, i, name, tuple(ins), tuple(outs))


def _tfl(records):
    a = load_target("android")
    return lint_ops(
        records, fmt="tflite", allowed=a.allowed_ops, forbid_float=True, forbid_dynamic=True
    )


def clean_tflite():
    return [
        op(
            0,
            "CONV_2D",
            [t("in"), t("w", const=True), t("b", "int32", (16,), const=True)],
            [t("c0")],
        ),
        op(1, "ADD", [t("c0"), t("in")], [t("a0")]),
        op(
            2,
            "RESIZE_NEAREST_NEIGHBOR",
            [t("a0"), t("sz", "int32", (2,), const=True)],
            [t("r0", shape=(1, 16, 16, 16))],
        ),
    ]


def test_clean_int8_graph_passes():
    rep = _tfl(clean_tflite())
    assert rep.ok, rep.problems
    assert rep.ops == {"b0": {"ADD": 1, "CONV_2D": 1, "RESIZE_NEAREST_NEIGHBOR": 1}}
    assert rep.raise_for_problems() is rep


def test_float_island_fails():
    recs = [
        *clean_tflite(),
        op(3, "DEQUANTIZE", [t("r0")], [t("f0", F32)]),
        op(4, "ADD", [t("f0", F32), t("f0", F32)], [t("f1", F32)]),
        op(5, "QUANTIZE", [t("f1", F32)], [t("q1")]),
    ]
    rep = _tfl(recs)
    assert not rep.ok
    assert any("DEQUANTIZE is not allowed" in p for p in rep.problems)
    assert len(rep.float_ops) == 3
    with pytest.raises(OpLintError, match="float tensor"):
        rep.raise_for_problems()


def test_float_transpose_conv_fails_even_if_allowed():
    recs = [
        op(
            0,
            "TRANSPOSE_CONV",
            [t("s", "int32", (4,), True), t("w", F32, (8, 2, 2, 16), True), t("in")],
            [t("o")],
        )
    ]
    a = load_target("android")
    rep = lint_ops(recs, fmt="tflite", allowed=a.allowed_ops | {"TRANSPOSE_CONV"})
    assert not rep.ok and any("float tensor" in p for p in rep.problems)


def test_transpose_reshape_chain_is_reported():
    recs = [
        op(
            0, "RESHAPE", [t("in"), t("s", "int32", (6,), True)], [t("r", shape=(1, 8, 8, 2, 2, 4))]
        ),
        op(
            1,
            "TRANSPOSE",
            [t("r", shape=(1, 8, 8, 2, 2, 4)), t("p", "int32", (6,), True)],
            [t("tr", shape=(1, 8, 2, 8, 2, 4))],
        ),
    ]
    a = load_target("android")
    rep = lint_ops(recs, fmt="tflite", allowed=a.allowed_ops | {"TRANSPOSE", "RESHAPE"})
    assert any("TRANSPOSE/RESHAPE chain" in p for p in rep.problems)


def test_dynamic_shapes_fail():
    recs = [op(0, "CONV_2D", [t("in", dynamic=True), t("w", const=True)], [t("o", dynamic=True)])]
    rep = _tfl(recs)
    assert any("dynamic shape" in p for p in rep.problems)


def test_empty_artifact_fails():
    assert not _tfl([]).ok


# ---- Core ML ------------------------------------------------------------------------------


def m(name, dtype="float16", const=False):
    return TensorRecord(name, dtype, (1, 8, 4, 4), False, const)


def _cml(records):
    i = load_target("ios")
    return lint_ops(records, fmt="coreml", allowed=i.allowed_ops)


def clean_mil():
    return [
        op(0, "cast", [m("x=packed", "float32")], [m("x16")]),
        op(1, "quantize", [m("input=x16")], [m("q0", "int8")]),
        op(2, "dequantize", [m("input=q0", "int8")], [m("d0")]),
        op(3, "constexpr_blockwise_shift_scale", [], [m("w", const=True)]),
        op(4, "conv", [m("x=d0"), m("weight=w", const=True)], [m("c0")]),
        op(5, "relu", [m("x=c0")], [m("r0")]),
        op(6, "quantize", [m("input=r0")], [m("q1", "uint8")]),
        op(7, "dequantize", [m("input=q1", "uint8")], [m("d1")]),
        op(8, "dequantize", [m("input=q0", "int8")], [m("d2")]),
        op(9, "add", [m("x=d1"), m("y=d2")], [m("a0")]),
        op(10, "quantize", [m("input=a0")], [m("q2", "int8")]),
        op(11, "dequantize", [m("input=q2", "int8")], [m("out16")]),
        op(12, "cast", [m("x=out16")], [m("out", "float32")]),
    ]


def test_w8a8_program_passes():
    rep = _cml(clean_mil())
    assert rep.ok, rep.problems


def test_float_compute_between_8bit_tensors_fails():
    recs = clean_mil()
    recs[9] = op(9, "add", [m("x=r0"), m("y=d2")], [m("a0")])  # reads the float relu output
    rep = _cml(recs)
    assert any("float compute" in p for p in rep.problems)
    recs = clean_mil()
    recs[3] = op(3, "const", [], [m("w", const=True)])  # float (fp16) conv weight
    rep = _cml(recs)
    assert any("weight" in p for p in rep.problems)
    recs = clean_mil()
    recs[10] = op(10, "relu", [m("x=a0")], [m("q2")])  # add result never re-quantised
    assert any("not re-quantized" in p for p in _cml(recs).problems)


def test_disallowed_mil_op_fails():
    recs = [*clean_mil(), op(13, "conv_transpose", [m("x=d0")], [m("ct")])]
    rep = _cml(recs)
    assert any("conv_transpose is not allowed" in p for p in rep.problems)
