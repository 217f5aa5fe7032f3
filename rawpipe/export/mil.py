"""A small numpy interpreter for the MIL programs rawpipe's Core ML exports contain.

Core ML runs only on macOS/iOS (``MLModel.predict`` raises on Linux), so on Linux the exported
``.mlpackage`` is checked by executing *its own* MIL program: the protobuf spec
(``model.mlmodel``) and the weight blob (``weights/weight.bin``) are read and every op is evaluated
with numpy, in program order, with the dtypes the program declares (fp16 activations are rounded to
fp16 after every op). This tests the artifact (ops, constants, quantisation parameters, layout),
not a torch simulation of it.

Supported ops (what a W8A8 conv/add/upsample network needs): ``const``,
``constexpr_affine_dequantize`` (iOS16/17), ``constexpr_blockwise_shift_scale`` (iOS18),
``cast``, ``quantize``, ``dequantize``, ``conv``, ``relu``, ``clip``, ``add``, ``sub``, ``mul``,
``concat``, ``upsample_nearest_neighbor``. Anything else raises :class:`UnsupportedMilOp`.

Semantics follow the MIL op reference (coremltools ``mil/ops/defs``): quantize
``clip(round(x/scale) + zero_point)`` (round half to even), dequantize ``(q − zero_point)·scale``,
conv with ``pad_type`` valid / same / same_lower / custom (``pad = [top, bottom, left, right]``),
groups and dilations. The weight blob format (MIL "storage" v2): a 64-byte file header, then per
blob a 64-byte metadata record (``0xDEADBEEF`` sentinel, dtype code, size in bytes, data offset)
pointed to by ``blobFileValue.offset``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MilFunction", "UnsupportedMilOp", "load_mil_functions", "run_mil"]

_DTYPES: dict[int, Any] = {
    1: np.bool_,
    10: np.float16,
    11: np.float32,
    12: np.float64,
    21: np.int8,
    22: np.int16,
    23: np.int32,
    24: np.int64,
    31: np.uint8,
    32: np.uint16,
    33: np.uint32,
    34: np.uint64,
}
_STRING = 2
_CAST_DTYPES = {
    "fp16": np.float16,
    "fp32": np.float32,
    "fp64": np.float64,
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "bool": np.bool_,
}
_BLOB_SENTINEL = 0xDEADBEEF


class UnsupportedMilOp(NotImplementedError):
    """The program uses an op (or a variant of one) this interpreter does not implement."""


@dataclass
class MilFunction:
    """One function of an ML program: its inputs (name → shape, dtype), ops, outputs."""

    name: str
    opset: str
    inputs: dict[str, tuple[tuple[int, ...], Any]]
    operations: list[Any]
    outputs: list[str]
    blob_dir: Path
    _blobs: dict[str, bytes] = field(default_factory=dict, repr=False)

    def blob(self, file_name: str) -> bytes:
        rel = file_name.replace("@model_path/", "")
        if rel not in self._blobs:
            self._blobs[rel] = (self.blob_dir / rel).read_bytes()
        return self._blobs[rel]


def _tensor_type(vt: Any) -> tuple[Any, tuple[int, ...]]:
    tt = vt.tensorType
    dtype = tt.dataType
    shape = tuple(int(d.constant.size) for d in tt.dimensions)
    return dtype, shape


def _decode_value(value: Any, fn: MilFunction) -> Any:
    """A ``MIL_pb2.Value`` (immediate or blob) → numpy array (or str / list of str)."""
    kind = value.WhichOneof("value")
    code, shape = _tensor_type(value.type)
    if kind == "blobFileValue":
        buf = fn.blob(value.blobFileValue.fileName)
        off = int(value.blobFileValue.offset)
        sentinel, _dt, size, data_off = struct.unpack_from("<IIQQ", buf, off)
        if sentinel != _BLOB_SENTINEL:
            raise ValueError(f"bad blob metadata at offset {off} (sentinel {sentinel:#x})")
        dtype = np.dtype(_DTYPES[code])
        n = int(np.prod(shape)) if shape else 1
        if size != n * dtype.itemsize:
            raise ValueError(f"blob at {off}: {size} bytes for {n} × {dtype}")
        return np.frombuffer(buf, dtype=dtype, count=n, offset=data_off).reshape(shape)
    if kind != "immediateValue":
        raise UnsupportedMilOp(f"value kind {kind!r}")
    imm = value.immediateValue
    if imm.WhichOneof("value") != "tensor":
        raise UnsupportedMilOp(f"immediate value {imm.WhichOneof('value')!r}")
    t = imm.tensor
    which = t.WhichOneof("value")
    if code == _STRING:
        vals = list(t.strings.values)
        return vals[0] if not shape else vals
    dtype = np.dtype(_DTYPES[code])
    if which == "bytes":
        arr = np.frombuffer(t.bytes.values, dtype=dtype)
    else:
        arr = np.asarray(list(getattr(t, which).values), dtype=dtype)
    return arr.reshape(shape) if shape else arr.reshape(())


def load_mil_functions(path: str | os.PathLike[str]) -> dict[str, MilFunction]:
    """Read an ``.mlpackage`` (or its ``model.mlmodel``) → ``{function name: MilFunction}``."""
    from coremltools.proto import Model_pb2

    p = Path(path)
    if p.is_dir():
        data = p / "Data" / "com.apple.CoreML"
        spec_file = data / "model.mlmodel"
    else:
        spec_file, data = p, p.parent
    spec = Model_pb2.Model()
    spec.ParseFromString(spec_file.read_bytes())
    if spec.WhichOneof("Type") != "mlProgram":
        raise ValueError(f"{path} is not an ML program")
    out = {}
    for name, f in spec.mlProgram.functions.items():
        block = f.block_specializations[f.opset]
        inputs = {}
        for nv in f.inputs:
            code, shape = _tensor_type(nv.type)
            inputs[nv.name] = (shape, _DTYPES.get(code))
        out[name] = MilFunction(
            name, f.opset, inputs, list(block.operations), list(block.outputs), data
        )
    return out


# ----------------------------------------------------------------------------------------------
# ops
# ----------------------------------------------------------------------------------------------


def _f32(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def _axis_shape(param: np.ndarray, ndim: int, axis: int | None) -> np.ndarray:
    """Broadcast a per-axis quantisation parameter against a rank-``ndim`` tensor."""
    param = np.asarray(param)
    if param.ndim == 0 or axis is None:
        return param
    shape = [1] * ndim
    shape[axis % ndim] = param.size
    return param.reshape(shape)


def _quantize(a: Mapping[str, Any]) -> np.ndarray:
    x = _f32(a["input"])
    dtype = np.dtype(_CAST_DTYPES[a["output_dtype"]])
    axis = int(a["axis"]) if "axis" in a else None
    scale = _axis_shape(_f32(a["scale"]), x.ndim, axis)
    zp = _axis_shape(_f32(a.get("zero_point", 0)), x.ndim, axis)
    info = np.iinfo(dtype)
    return np.clip(np.rint(x / scale) + zp, info.min, info.max).astype(dtype)


def _dequantize(a: Mapping[str, Any]) -> np.ndarray:
    q = np.asarray(a["input"])
    axis = int(a["axis"]) if "axis" in a else None
    scale = _axis_shape(_f32(a["scale"]), q.ndim, axis)
    zp = _axis_shape(_f32(a.get("zero_point", 0)), q.ndim, axis)
    return (_f32(q) - zp) * scale


def _affine_dequantize(a: Mapping[str, Any]) -> np.ndarray:
    q = np.asarray(a["quantized_data"])
    axis = int(a.get("axis", 0))
    scale = _axis_shape(_f32(a["scale"]), q.ndim, axis)
    zp = _axis_shape(_f32(a["zero_point"]), q.ndim, axis)
    return (_f32(q) - zp) * scale


def _blockwise(param: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Expand a blockwise parameter (same rank as the data, each dim dividing it) to ``shape``."""
    p = np.asarray(param)
    if p.ndim != len(shape):
        raise UnsupportedMilOp(f"blockwise parameter rank {p.ndim} != data rank {len(shape)}")
    for ax, (n, m) in enumerate(zip(shape, p.shape)):
        if n % m:
            raise ValueError(f"block size: {m} does not divide {n}")
        p = np.repeat(p, n // m, axis=ax)
    return p


def _blockwise_shift_scale(a: Mapping[str, Any]) -> np.ndarray:
    data = np.asarray(a["data"])
    x = _f32(data)
    if "offset" in a:
        x = x - _blockwise(_f32(a["offset"]), data.shape)
    return x * _blockwise(_f32(a["scale"]), data.shape)


def _conv(a: Mapping[str, Any]) -> np.ndarray:
    x, w = _f32(a["x"]), _f32(a["weight"])
    if x.ndim != 4:
        raise UnsupportedMilOp("conv: only 2-D convolution (rank-4 input)")
    n, c, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    groups = int(a.get("groups", 1))
    sh, sw = (int(v) for v in a.get("strides", (1, 1)))
    dh, dw = (int(v) for v in a.get("dilations", (1, 1)))
    pad_type = str(a.get("pad_type", "valid"))
    ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if pad_type == "valid":
        pt = pb = pl = pr = 0
    elif pad_type == "custom":
        pt, pb, pl, pr = (int(v) for v in a["pad"])
    elif pad_type in ("same", "same_lower"):
        th = max((-(-h // sh) - 1) * sh + ekh - h, 0)
        tw = max((-(-wd // sw) - 1) * sw + ekw - wd, 0)
        small_h, small_w = th // 2, tw // 2
        if pad_type == "same":
            pt, pb, pl, pr = small_h, th - small_h, small_w, tw - small_w
        else:
            pt, pb, pl, pr = th - small_h, small_h, tw - small_w, small_w
    else:
        raise UnsupportedMilOp(f"conv pad_type {pad_type!r}")
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    ho = (xp.shape[2] - ekh) // sh + 1
    wo = (xp.shape[3] - ekw) // sw + 1
    out = np.zeros((n, cout, ho, wo), np.float32)
    cout_g = cout // groups
    for i in range(kh):
        for j in range(kw):
            patch = xp[
                :,
                :,
                i * dh : i * dh + sh * (ho - 1) + 1 : sh,
                j * dw : j * dw + sw * (wo - 1) + 1 : sw,
            ]
            if groups == 1:
                out += np.einsum("oc,nchw->nohw", w[:, :, i, j], patch, optimize=True)
            elif groups == c and cin_g == 1:  # depthwise (channel multiplier cout/c)
                mult = cout // c
                out += np.repeat(patch, mult, axis=1) * w[:, 0, i, j][None, :, None, None]
            else:
                for g in range(groups):
                    pg = patch[:, g * cin_g : (g + 1) * cin_g]
                    wg = w[g * cout_g : (g + 1) * cout_g, :, i, j]
                    out[:, g * cout_g : (g + 1) * cout_g] += np.einsum("oc,nchw->nohw", wg, pg)
    if a.get("bias") is not None:
        out += _f32(a["bias"])[None, :, None, None]
    return out


def _upsample_nearest(a: Mapping[str, Any]) -> np.ndarray:
    x = np.asarray(a["x"])
    fh, fw = float(a.get("scale_factor_height", 1)), float(a.get("scale_factor_width", 1))
    if fh != int(fh) or fw != int(fw):
        raise UnsupportedMilOp("upsample_nearest_neighbor: non-integer scale factor")
    return np.repeat(np.repeat(x, int(fh), axis=-2), int(fw), axis=-1)


def _concat(a: Mapping[str, Any]) -> np.ndarray:
    if bool(a.get("interleave", False)):
        raise UnsupportedMilOp("concat with interleave=True")
    return np.concatenate([np.asarray(v) for v in a["values"]], axis=int(a["axis"]))


def _cast(a: Mapping[str, Any]) -> np.ndarray:
    return np.asarray(a["x"]).astype(_CAST_DTYPES[a["dtype"]])


_OPS = {
    "quantize": _quantize,
    "dequantize": _dequantize,
    "constexpr_affine_dequantize": _affine_dequantize,
    "constexpr_blockwise_shift_scale": _blockwise_shift_scale,
    "conv": _conv,
    "relu": lambda a: np.maximum(_f32(a["x"]), 0.0),
    "clip": lambda a: np.clip(_f32(a["x"]), float(a["alpha"]), float(a["beta"])),
    "add": lambda a: _f32(a["x"]) + _f32(a["y"]),
    "sub": lambda a: _f32(a["x"]) - _f32(a["y"]),
    "mul": lambda a: _f32(a["x"]) * _f32(a["y"]),
    "concat": _concat,
    "upsample_nearest_neighbor": _upsample_nearest,
    "cast": _cast,
}
SUPPORTED_OPS = frozenset({"const", *_OPS})


def _arguments(op: Any, env: Mapping[str, Any], fn: MilFunction) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for key, val in op.attributes.items():
        if key != "name":
            args[key] = _decode_value(val, fn)
    for key, arg in op.inputs.items():
        vals = []
        for binding in arg.arguments:
            if binding.WhichOneof("binding") == "name":
                vals.append(env[binding.name])
            else:
                vals.append(_decode_value(binding.value, fn))
        args[key] = vals if key == "values" else (vals[0] if len(vals) == 1 else vals)
    return args


def run_mil(fn: MilFunction, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Execute ``fn`` on ``inputs`` (name → array, cast to the declared dtype) → outputs."""
    env: dict[str, Any] = {}
    for name, (shape, dtype) in fn.inputs.items():
        if name not in inputs:
            raise KeyError(f"missing input {name!r}")
        x = np.asarray(inputs[name])
        if tuple(x.shape) != tuple(shape):
            raise ValueError(f"input {name!r}: shape {x.shape} != declared {shape}")
        env[name] = x.astype(dtype)
    for op in fn.operations:
        if op.type == "const":
            env[op.outputs[0].name] = _decode_value(op.attributes["val"], fn)
            continue
        impl = _OPS.get(op.type)
        if impl is None:
            raise UnsupportedMilOp(
                f"MIL op {op.type!r} is not implemented in the numpy interpreter"
            )
        result = impl(_arguments(op, env, fn))
        out = op.outputs[0]
        code, shape = _tensor_type(out.type)
        dtype = _DTYPES.get(code)
        result = np.asarray(result)
        if dtype is not None:
            result = result.astype(dtype)
        if shape and tuple(result.shape) != shape:
            raise ValueError(f"{op.type} -> {out.name}: shape {result.shape} != declared {shape}")
        env[out.name] = result
    return {name: env[name] for name in fn.outputs}
