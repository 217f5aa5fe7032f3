"""TFLite (LiteRT) export: full-int8 PT2E quantisation with litert-torch, NHWC I/O, op listing.

Recipe (../shared/TOOLCHAIN.md, and what was measured here):

1. ``torch.export.export(net, sample, strict=True)`` — *strict* (dynamo) export: it records each
   node's ``source_fn_stack``, which litert-torch's PT2EQuantizer needs to annotate ``add`` /
   ``cat`` (it finds them by source partition). The default non-strict export leaves it empty and
   every residual add stays a float32 ADD between DEQUANTIZE/QUANTIZE in the .tflite.
2. ``torchao.quantization.pt2e.quantize_pt2e.prepare_pt2e`` with ``PT2EQuantizer`` +
   ``get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)``; calibration
   batches of exactly the exported shape; ``convert_pt2e(fold_quantize=False)``.
3. ``litert_torch.to_channel_last_io(m, args=[0], outputs=[0])`` (NHWC I/O, no TRANSPOSE ops), then
   ``litert_torch.convert`` with ``QuantConfig(pt2e_quantizer=...)`` — one signature per noise
   bucket (:mod:`rawpipe.export.targets`), each with its own activation scales, weights shared.

The result has int8 input and output tensors (scale/zero point in :func:`tflite_io`) and, for the
student, only CONV_2D, DEPTHWISE_CONV_2D, ADD and RESIZE_NEAREST_NEIGHBOR ops, all int8.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rawpipe.export.graph import OpRecord, TensorRecord

__all__ = [
    "TensorIO",
    "export_strict",
    "list_tflite_ops",
    "quantize_pt2e",
    "tflite_interpreter",
    "tflite_io",
    "to_tflite",
]

_TFLITE_DTYPES = {
    0: "float32",
    1: "float16",
    2: "int32",
    3: "uint8",
    4: "int64",
    5: "string",
    6: "bool",
    7: "int16",
    9: "int8",
    10: "float64",
    16: "uint16",
    17: "int4",
    18: "bfloat16",
}


@dataclass(frozen=True)
class TensorIO:
    """A graph input or output as the host sees it (per TFLite signature)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "scale": self.scale,
            "zero_point": self.zero_point,
        }


def _eval_copy(model: torch.nn.Module) -> torch.nn.Module:
    import copy

    m = copy.deepcopy(model).float().cpu().eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def export_strict(model: torch.nn.Module, sample: torch.Tensor) -> torch.fx.GraphModule:
    """``torch.export`` in *strict* (dynamo) mode: it records each node's ``source_fn_stack``,
    through which litert-torch's quantizer finds ``add``/``cat`` (non-strict export leaves them
    float)."""
    return torch.export.export(_eval_copy(model), (sample.float(),), strict=True).module()


def quantize_pt2e(
    model: torch.nn.Module,
    calibration: Sequence[torch.Tensor],
    *,
    per_channel: bool = True,
    exported: torch.fx.GraphModule | None = None,
) -> tuple[torch.nn.Module, Any]:
    """PT2E post-training quantisation of ``model`` (NCHW float in/out) with litert-torch's
    quantizer; returns ``(quantised fx module with Q/DQ nodes, quantizer)``.

    ``calibration``: batches ``(1, C, h, w)`` all of the shape the graph is exported with.
    ``exported``: a :func:`export_strict` graph of ``model`` to start from (copied, not changed).
    """
    import copy

    from litert_torch.quantize.pt2e_quantizer import (
        PT2EQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    if not calibration:
        raise ValueError("PT2E quantisation needs at least one calibration batch")
    shape = tuple(calibration[0].shape)
    if any(tuple(c.shape) != shape for c in calibration):
        raise ValueError(f"calibration batches must all have the exported shape {shape}")
    quantizer = PT2EQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=False)
    )
    if exported is None:
        gm = export_strict(model, calibration[0])
    else:
        gm = copy.deepcopy(exported)
    prepared = prepare_pt2e(gm, quantizer)
    with torch.no_grad():
        for batch in calibration:
            prepared(batch.float())
    return convert_pt2e(prepared, fold_quantize=False), quantizer


def to_tflite(
    model: torch.nn.Module,
    path: str | os.PathLike[str],
    *,
    tile: tuple[int, int],
    int8: bool = True,
    calibration: Mapping[str, Sequence[torch.Tensor]] | None = None,
    nhwc: bool = True,
) -> Path:
    """Convert a packed-I/O network to a fixed-shape ``.tflite`` file.

    Args:
        model: ``(1, C, h, w)`` → ``(1, C', h, w)`` NCHW network (``C = model.in_channels``).
        path: output file.
        tile: packed ``(h, w)`` of the graph (multiples of the network's total stride).
        int8: full-int8 PT2E quantisation (int8 I/O, int8 weights per channel, int8 activations);
            otherwise a float32 graph (signature ``"fp32"``).
        calibration: ``{signature name: batches}``, one quantised graph per entry (noise buckets);
            each batch ``(1, C, *tile)`` in the network's input domain. Required when ``int8``.
        nhwc: NHWC graph I/O (``litert_torch.to_channel_last_io``).

    Returns:
        ``path``. Signature inputs/outputs: :func:`tflite_io`.
    """
    import litert_torch

    path = Path(path)
    c_in = int(getattr(model, "in_channels", 4))
    h, w = (int(v) for v in tile)
    sample = torch.zeros(1, c_in, h, w)
    sample_io = sample.permute(0, 2, 3, 1).contiguous() if nhwc else sample

    def io(m: torch.nn.Module) -> torch.nn.Module:
        m = litert_torch.to_channel_last_io(m, args=[0], outputs=[0]) if nhwc else m
        # Exported graph modules refuse .eval(); the flag only silences litert-torch's
        # "converted in training mode" warning (the network has no dropout/batch norm).
        for sub in m.modules():
            sub.training = False
        return m

    if int8:
        if not calibration:
            raise ValueError("int8 export needs calibration batches per signature")
        conv = None
        quantizer = None
        exported = export_strict(model, sample)
        for name, batches in calibration.items():
            for b in batches:
                if tuple(b.shape) != (1, c_in, h, w):
                    raise ValueError(
                        f"calibration batch {tuple(b.shape)} for {name!r} != "
                        f"graph {(1, c_in, h, w)}"
                    )
            qmodel, quantizer = quantize_pt2e(model, list(batches), exported=exported)
            m = io(qmodel)
            conv = (
                litert_torch.signature(name, m, (sample_io,))
                if conv is None
                else conv.signature(name, m, (sample_io,))
            )
        from litert_torch.quantize.quant_config import QuantConfig

        edge = conv.convert(quant_config=QuantConfig(pt2e_quantizer=quantizer))
    else:
        m = io(_eval_copy(model))
        edge = litert_torch.signature("fp32", m, (sample_io,)).convert()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    edge.export(str(tmp))
    os.replace(tmp, path)
    return path


def tflite_interpreter(
    path: str | os.PathLike[str], *, threads: int = 1, delegates: bool = False
) -> Any:
    """A LiteRT interpreter; by default built with ``BUILTIN_WITHOUT_DEFAULT_DELEGATES`` so every
    builtin op runs (and is listed) as itself — the default XNNPACK delegate would hide them."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs: dict[str, Any] = {"model_path": str(path), "num_threads": threads}
    if not delegates:
        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return Interpreter(**kwargs)


def _quant(details: Mapping[str, Any]) -> tuple[float | None, int | None]:
    qp = details.get("quantization_parameters") or {}
    scales, zps = qp.get("scales"), qp.get("zero_points")
    if scales is None or len(scales) == 0:
        return None, None
    if len(scales) != 1:
        raise ValueError(f"per-channel quantised graph I/O is not supported: {details['name']}")
    return float(scales[0]), int(zps[0])


def tflite_io(path: str | os.PathLike[str]) -> dict[str, dict[str, TensorIO]]:
    """``{signature: {"input": TensorIO, "output": TensorIO}}`` (one input, one output each)."""
    interp = tflite_interpreter(path)
    out: dict[str, dict[str, TensorIO]] = {}
    for key, sig in interp.get_signature_list().items():
        runner = interp.get_signature_runner(key)
        ins, outs = runner.get_input_details(), runner.get_output_details()
        if len(sig["inputs"]) != 1 or len(sig["outputs"]) != 1:
            raise ValueError(f"signature {key!r}: expected one input and one output, got {sig}")
        res: dict[str, TensorIO] = {}
        for role, name, det in (
            ("input", sig["inputs"][0], ins[sig["inputs"][0]]),
            ("output", sig["outputs"][0], outs[sig["outputs"][0]]),
        ):
            scale, zp = _quant(det)
            res[role] = TensorIO(
                name=name,
                shape=tuple(int(v) for v in det["shape"]),
                dtype=np.dtype(det["dtype"]).name,
                scale=scale,
                zero_point=zp,
            )
        out[key] = res
    return out


def _builtin_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {
        v: k
        for k, v in vars(schema.BuiltinOperator).items()
        if not k.startswith("_") and isinstance(v, int)
    }


def list_tflite_ops(path: str | os.PathLike[str]) -> list[OpRecord]:
    """Every op of every signature's subgraph, with its tensors' dtypes and shapes.

    Read from the flatbuffer (all subgraphs) and cross-checked against an interpreter built
    without default delegates (which lists the first subgraph): both must agree op by op.
    """
    from ai_edge_litert import schema_py_generated as schema

    buf = Path(path).read_bytes()
    model = schema.ModelT.InitFromPackedBuf(buf, 0)
    names = _builtin_names()
    sig_of = {int(sd.subgraphIndex): sd.signatureKey.decode() for sd in (model.signatureDefs or [])}
    records: list[OpRecord] = []
    for si, sg in enumerate(model.subgraphs or []):
        graph = sig_of.get(si, f"subgraph{si}")

        def tensor(ti: int, sg: Any = sg) -> TensorRecord:
            t = sg.tensors[ti]
            shape = tuple(int(v) for v in (t.shape if t.shape is not None else ()))
            sig = t.shapeSignature
            dynamic = bool(sig is not None and any(int(v) < 0 for v in sig))
            b = model.buffers[t.buffer] if t.buffer and model.buffers else None
            const = b is not None and (
                (b.data is not None and len(b.data) > 0) or int(getattr(b, "offset", 0) or 0) > 1
            )
            name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
            return TensorRecord(
                name, _TFLITE_DTYPES.get(int(t.type), f"type{t.type}"), shape, dynamic, const
            )

        for oi, op in enumerate(sg.operators or []):
            code = model.operatorCodes[op.opcodeIndex]
            builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
            opname = names.get(builtin, f"BUILTIN_{builtin}")
            if opname == "CUSTOM":
                opname = f"CUSTOM:{code.customCode.decode() if code.customCode else '?'}"
            records.append(
                OpRecord(
                    graph,
                    oi,
                    opname,
                    tuple(tensor(int(i)) for i in op.inputs if int(i) >= 0),
                    tuple(tensor(int(i)) for i in op.outputs if int(i) >= 0),
                )
            )
    # Cross-check the first subgraph with the interpreter (no default delegates).
    interp = tflite_interpreter(path)
    interp.allocate_tensors()
    live = [d["op_name"] for d in interp._get_ops_details()]
    first = [r.op for r in records if r.graph == sig_of.get(0, "subgraph0")]
    if live != first:
        raise RuntimeError(f"flatbuffer and interpreter disagree on the op list: {first} vs {live}")
    return records
