"""Core ML export: W8A8 ``mlprogram`` via coremltools' LinearQuantizer, op listing, predict.

Recipe (../shared/TOOLCHAIN.md; what works on Linux with torch 2.13 and coremltools 9):

1. ``coremltools.optimize.torch.quantization.LinearQuantizer`` (int8 symmetric per-channel
   weights, 8-bit activations) — ``prepare`` (FX graph with fake-quant modules), observers on and
   fake quantisation off while the calibration set runs (milestones ``[0, ∞, ∞, -1]``: post-
   training quantisation; min-max observers, or torch's histogram observer swapped in for the
   activations, ``activation_observer`` in ``export/ios.toml``), ``finalize``.
   ``linear_quantize_activations`` needs ``MLModel.predict`` (macOS only) and coremltools'
   PT2E ``CoreMLQuantizer`` is broken with torch 2.13.
2. ``torch.jit.trace`` and ``ct.convert(..., convert_to="mlprogram")`` with an explicit fp32 input
   and output ``TensorType`` (iOS17+ would make them fp16).
3. One program per noise bucket (:mod:`rawpipe.export.targets`); several are saved as one
   multifunction ``.mlpackage`` (``ct.utils.save_multifunction``; iOS18), function name = bucket.

FX symbolic tracing (step 1) cannot run input checks that read ``x.shape``; for the duration of
``prepare`` the exporter replaces a model's ``_check_input`` (rawpipe's ``PackedUNet``) with a
no-op.
"""

from __future__ import annotations

import contextlib
import copy
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rawpipe.export.graph import OpRecord, TensorRecord

__all__ = [
    "COREML_INPUT",
    "COREML_OUTPUT",
    "coreml_io",
    "coreml_predict",
    "list_coreml_ops",
    "predict_available",
    "to_coreml",
]

COREML_INPUT = "packed_vst"
COREML_OUTPUT = "vst_out"
_MIL_DTYPE_NAMES = {
    1: "bool",
    2: "string",
    10: "float16",
    11: "float32",
    12: "float64",
    21: "int8",
    22: "int16",
    23: "int32",
    24: "int64",
    31: "uint8",
    32: "uint16",
}
_ARRAY_DTYPE_NAMES = {65568: "float32", 65552: "float16", 65600: "float64", 131104: "int32"}


@contextlib.contextmanager
def _fx_traceable(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Skip shape checks that FX symbolic tracing cannot run (they iterate ``x.shape``)."""
    patched = []
    for m in model.modules():
        if callable(getattr(type(m), "_check_input", None)):
            m._check_input = lambda *a, **k: None  # instance attribute shadows the method
            patched.append(m)
    try:
        yield model
    finally:
        for m in patched:
            del m._check_input


def _histogram_activation_observers(prepared: torch.nn.Module) -> int:
    """Replace every per-tensor min-max activation observer of a prepared LinearQuantizer model
    by torch's ``HistogramObserver`` (same dtype, scheme and integer range): the range that
    minimises the quantisation error of the observed histogram instead of its extremes — what
    litert-torch's PT2E quantizer uses for the Android graph. coremltools itself offers only
    min-max observers. Returns the number replaced."""
    from torch.ao.quantization import FakeQuantizeBase, HistogramObserver, MinMaxObserver

    n = 0
    for mod in prepared.modules():
        obs = getattr(mod, "activation_post_process", None)
        if not isinstance(mod, FakeQuantizeBase) or type(obs) is not MinMaxObserver:
            continue
        mod.activation_post_process = HistogramObserver(
            dtype=obs.dtype,
            qscheme=obs.qscheme,
            quant_min=obs.quant_min,
            quant_max=obs.quant_max,
            reduce_range=obs.reduce_range,
        )
        n += 1
    if n == 0:
        raise RuntimeError("no min-max activation observer found to replace")
    return n


def _quantize_linear(
    model: torch.nn.Module,
    calibration: Sequence[torch.Tensor],
    scheme: str = "affine",
    observer: str = "min_max",
) -> torch.nn.Module:
    """W8A8 post-training quantisation with coremltools' LinearQuantizer (see module docstring).

    ``scheme``: ``"affine"`` (activation zero points anywhere: full 8-bit range for one-sided
    activations such as the VST input and output) or ``"symmetric"`` (coremltools' default; zero
    point 0 or 128). Measured on the untrained student, 64² tiles: symmetric 47.7 / 45.3 / 44.8 dB,
    affine 53.6 / 51.0 / 51.5 dB vs ORT at ISO 1600 / ISO 6400 / dark. Weights are per-channel
    symmetric int8 either way.

    ``observer``: ``"min_max"`` (coremltools' own) or ``"histogram"``
    (:func:`_histogram_activation_observers`). Measured on the student of 2026-12-04 (8,500 steps),
    256² tiles, MIL program vs ORT (clean / ISO 400 / 1600 / 6400 / dark): min-max 46.65 / 46.52 /
    46.08 / 43.36 / 47.43 dB, histogram 47.83 / 47.88 / 47.27 / 45.18 / 49.62 dB (both with a
    per-frame bucket rule since withdrawn; the shipped 15,000-step student with the noise bucket
    alone: histogram 47.74 / 47.89 / 47.32 / 45.05 / 44.37 dB)."""
    if observer not in ("min_max", "histogram"):
        raise ValueError(f"activation observer must be 'min_max' or 'histogram', got {observer!r}")
    from coremltools.optimize.torch.quantization import (
        LinearQuantizer,
        LinearQuantizerConfig,
        ModuleLinearQuantizerConfig,
    )

    big = 10**9
    cfg = LinearQuantizerConfig(
        global_config=ModuleLinearQuantizerConfig(
            quantization_scheme=scheme,
            weight_per_channel=True,
            activation_observer="min_max",
            milestones=[0, big, big, -1],  # observe only: no fake quantisation while calibrating
        )
    )
    m = copy.deepcopy(model).float().cpu().eval()
    with _fx_traceable(m):
        quantizer = LinearQuantizer(m, cfg)
        prepared = quantizer.prepare(example_inputs=(calibration[0].float(),))
    if observer == "histogram":
        _histogram_activation_observers(prepared)
    quantizer.step()  # milestone 0: observers on
    with torch.no_grad():
        for batch in calibration:
            prepared(batch.float())
    return quantizer.finalize().eval()


def _convert(module: torch.nn.Module, sample: torch.Tensor, target: str) -> Any:
    import coremltools as ct

    traced = torch.jit.trace(module, sample, check_trace=False)
    return ct.convert(
        traced,
        inputs=[ct.TensorType(name=COREML_INPUT, shape=tuple(sample.shape), dtype=np.float32)],
        outputs=[ct.TensorType(name=COREML_OUTPUT, dtype=np.float32)],
        convert_to="mlprogram",
        minimum_deployment_target=getattr(ct.target, target),
    )


def to_coreml(
    model: torch.nn.Module,
    path: str | os.PathLike[str],
    *,
    tile: tuple[int, int],
    w8a8: bool = True,
    calibration: Mapping[str, Sequence[torch.Tensor]] | None = None,
    minimum_deployment_target: str = "iOS18",
    activation_scheme: str = "affine",
    activation_observer: str = "min_max",
) -> Path:
    """Convert a packed-I/O network to a fixed-shape Core ML ``.mlpackage`` (NCHW fp32 I/O,
    input ``packed_vst`` ``(1, C, h, w)``, output ``vst_out`` ``(1, C', h, w)``).

    ``w8a8``: one W8A8 program per entry of ``calibration`` (``{function name: batches}``), saved
    as a multifunction package when there are several (needs iOS18); otherwise one fp32 program
    named ``"main"`` (fp16 compute, as Core ML runs it). ``activation_scheme``,
    ``activation_observer``: see :func:`_quantize_linear`.
    """
    import coremltools as ct

    path = Path(path)
    c_in = int(getattr(model, "in_channels", 4))
    sample = torch.zeros(1, c_in, int(tile[0]), int(tile[1]))
    if w8a8:
        if not calibration:
            raise ValueError("W8A8 export needs calibration batches per function")
        programs = {
            name: _quantize_linear(model, list(b), activation_scheme, activation_observer)
            for name, b in calibration.items()
        }
    else:
        programs = {"main": copy.deepcopy(model).float().cpu().eval()}
    if len(programs) > 1 and _ios_version(minimum_deployment_target) < 18:
        raise ValueError("several noise buckets need a multifunction model: iOS18 or later")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=".coreml-", dir=path.parent))
    try:
        parts = {}
        for name, module in programs.items():
            with _fx_traceable(module), torch.no_grad():
                ml = _convert(module, sample, minimum_deployment_target)
            parts[name] = tmpdir / f"{name}.mlpackage"
            ml.save(str(parts[name]))
        final = tmpdir / "final.mlpackage"
        if len(parts) == 1:
            shutil.move(str(next(iter(parts.values()))), final)
        else:
            desc = ct.utils.MultiFunctionDescriptor()
            for name, p in parts.items():
                desc.add_function(str(p), src_function_name="main", target_function_name=name)
            desc.default_function_name = next(iter(parts))
            ct.utils.save_multifunction(desc, str(final))
        if path.exists():
            shutil.rmtree(path)
        os.replace(final, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return path


def _ios_version(target: str) -> int:
    if not target.startswith("iOS") or not target[3:].isdigit():
        raise ValueError(f"minimum_deployment_target must look like 'iOS18', got {target!r}")
    return int(target[3:])


def _spec(path: str | os.PathLike[str]) -> Any:
    from coremltools.proto import Model_pb2

    p = Path(path)
    f = p / "Data" / "com.apple.CoreML" / "model.mlmodel" if p.is_dir() else p
    spec = Model_pb2.Model()
    spec.ParseFromString(f.read_bytes())
    return spec


def coreml_io(path: str | os.PathLike[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{function: {"input": {...}, "output": {...}}}`` — name, shape, dtype of each
    (from the model description)."""
    spec = _spec(path)
    desc = spec.description
    functions = list(desc.functions) or [desc]
    names = [f.name for f in desc.functions] or ["main"]
    out = {}
    for name, fd in zip(names, functions):
        res = {}
        for role, feats in (("input", fd.input), ("output", fd.output)):
            if len(feats) != 1:
                raise ValueError(f"function {name!r}: expected one {role}, got {len(feats)}")
            ft = feats[0]
            arr = ft.type.multiArrayType
            res[role] = {
                "name": ft.name,
                "shape": [int(v) for v in arr.shape],
                "dtype": _ARRAY_DTYPE_NAMES.get(int(arr.dataType), str(arr.dataType)),
                "scale": None,
                "zero_point": None,
            }
        out[name] = res
    return out


def list_coreml_ops(path: str | os.PathLike[str]) -> list[OpRecord]:
    """Every MIL op of every function (``MLModel(path, skip_model_load=True).get_spec()``'s
    program, read here straight from the protobuf), with output dtypes and shapes; op inputs
    are the named tensors they read (constants marked)."""
    spec = _spec(path)
    if spec.WhichOneof("Type") != "mlProgram":
        raise ValueError(f"{path} is not an ML program")
    records: list[OpRecord] = []
    for fname, f in spec.mlProgram.functions.items():
        block = f.block_specializations[f.opset]
        types: dict[str, TensorRecord] = {}
        for nv in f.inputs:
            types[nv.name] = _record(nv.name, nv.type, const=False)
        for i, op in enumerate(block.operations):
            const = op.type == "const" or op.type.startswith("constexpr_")
            outs = tuple(_record(o.name, o.type, const=const) for o in op.outputs)
            for r in outs:
                types[r.name] = r
            ins = []
            for key, arg in op.inputs.items():
                for b in arg.arguments:
                    if b.WhichOneof("binding") == "name":
                        t = types.get(b.name) or TensorRecord(b.name, "?", ())
                        ins.append(
                            TensorRecord(f"{key}={t.name}", t.dtype, t.shape, t.dynamic, t.const)
                        )
                    else:
                        v = _record(key, b.value.type, const=True)
                        ins.append(v)
            records.append(OpRecord(fname, i, op.type, tuple(ins), outs))
    return records


def _record(name: str, vt: Any, *, const: bool) -> TensorRecord:
    if vt.WhichOneof("type") != "tensorType":
        return TensorRecord(name, vt.WhichOneof("type") or "?", (), False, const)
    tt = vt.tensorType
    dims, dynamic = [], False
    for d in tt.dimensions:
        if d.WhichOneof("dimension") == "constant":
            dims.append(int(d.constant.size))
        else:
            dims.append(-1)
            dynamic = True
    return TensorRecord(
        name, _MIL_DTYPE_NAMES.get(int(tt.dataType), str(tt.dataType)), tuple(dims), dynamic, const
    )


def predict_available() -> tuple[bool, str]:
    """Whether Core ML ``predict`` can run here, and why not."""
    if platform.system() != "Darwin":
        return False, f"Core ML predict needs macOS (this is {platform.system()})"
    try:
        import coremltools  # noqa: F401
    except ImportError as e:  # pragma: no cover - macOS only
        return False, f"coremltools is not installed: {e}"
    return True, ""


def coreml_predict(
    path: str | os.PathLike[str], x: np.ndarray, *, function: str | None = None
) -> np.ndarray:  # pragma: no cover - macOS only
    """Run the package with Core ML (macOS only): ``x`` ``(1, C, h, w)`` → output."""
    import coremltools as ct

    ok, why = predict_available()
    if not ok:
        raise RuntimeError(why)
    kwargs = {"function_name": function} if function else {}
    model = ct.models.MLModel(str(path), **kwargs)
    return np.asarray(model.predict({COREML_INPUT: x.astype(np.float32)})[COREML_OUTPUT])
