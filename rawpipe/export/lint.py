"""Op lint of exported artifacts against a target's allowlist (``export/<target>.toml``).

TFLite (ops from the flatbuffer, cross-checked with an interpreter built without default
delegates; see :func:`rawpipe.export.tflite.list_tflite_ops`):

- every op's name is in the allowlist;
- no TRANSPOSE/RESHAPE chains (what PixelShuffle and hand-written reshapes become) — reported as
  such even when the ops were allowed;
- with ``forbid_float``: no float tensor anywhere in the int8 graph, constants included (a float
  TRANSPOSE_CONV, a DEQUANTIZE → float ADD → QUANTIZE island, float graph I/O all fail);
- with ``forbid_dynamic``: no ``-1`` in any shape signature.

Core ML (the MIL program from the spec; :func:`rawpipe.export.coreml.list_coreml_ops`):

- every op type is in the allowlist;
- with ``forbid_float`` (W8A8): every ``conv`` / ``add`` / ``concat`` /
  ``upsample_nearest_neighbor`` reads only dequantized 8-bit activations (``dequantize``
  outputs) and constants, every conv weight comes from an int8 ``constexpr_*`` op, and every
  such op's result is re-quantized (a ``quantize``, possibly after one ``relu``/``clip``) —
  nothing computes in float between 8-bit tensors; ``cast`` only converts the graph's fp32
  input or output;
- with ``forbid_dynamic``: every dimension of every tensor is a constant.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rawpipe.errors import RawpipeError
from rawpipe.export.graph import OpRecord, op_counts

__all__ = ["LintReport", "OpLintError", "lint_coreml", "lint_ops", "lint_tflite"]

_SHAPE_OPS = frozenset({"TRANSPOSE", "RESHAPE"})
_MIL_COMPUTE = frozenset({"conv", "add", "sub", "mul", "concat", "upsample_nearest_neighbor"})
_MIL_ACT = frozenset({"relu", "clip"})
_MIL_WEIGHT_SOURCES = frozenset({"constexpr_affine_dequantize", "constexpr_blockwise_shift_scale"})


class OpLintError(RawpipeError):
    """An exported artifact contains ops or tensors its target does not allow."""

    def __init__(self, report: LintReport) -> None:
        self.report = report
        shown = report.problems[:25]
        more = len(report.problems) - len(shown)
        lines = "\n  ".join(shown) + (f"\n  ... and {more} more" if more > 0 else "")
        super().__init__(f"op lint failed for {report.artifact} ({report.target}):\n  {lines}")


@dataclass(frozen=True)
class LintReport:
    """Ops per graph and the problems found (empty when the artifact passes)."""

    artifact: str
    target: str
    ops: dict[str, dict[str, int]]
    problems: list[str] = field(default_factory=list)
    float_ops: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> LintReport:
        if self.problems:
            raise OpLintError(self)
        return self


def _per_graph(records: Sequence[OpRecord]) -> dict[str, dict[str, int]]:
    graphs = dict.fromkeys(r.graph for r in records)
    return {g: op_counts(records, g) for g in graphs}


def lint_ops(
    records: Sequence[OpRecord],
    *,
    fmt: str,
    allowed: frozenset[str] | set[str],
    forbid_float: bool = True,
    forbid_dynamic: bool = True,
    artifact: str = "?",
    target: str = "?",
) -> LintReport:
    """Lint an op listing (``fmt`` ``"tflite"`` or ``"coreml"``); see the module docstring."""
    if fmt == "tflite":
        problems, floats = _lint_tflite(records, allowed, forbid_float, forbid_dynamic)
    elif fmt == "coreml":
        problems, floats = _lint_coreml(records, allowed, forbid_float, forbid_dynamic)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    if not records:
        problems.append("the artifact contains no ops")
    return LintReport(artifact, target, _per_graph(records), problems, floats)


def _lint_tflite(records, allowed, forbid_float, forbid_dynamic) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    floats: list[str] = []
    producer: dict[tuple[str, str], OpRecord] = {}
    for r in records:
        for t in r.outputs:
            producer[(r.graph, t.name)] = r
    for r in records:
        if r.op not in allowed:
            problems.append(f"op {r.op} is not allowed: {r.describe()}")
        if r.op in _SHAPE_OPS:
            src = [producer.get((r.graph, t.name)) for t in r.inputs if not t.const]
            if any(s is not None and s.op in _SHAPE_OPS for s in src):
                problems.append(f"TRANSPOSE/RESHAPE chain: {r.describe()}")
        tensors = (*r.inputs, *r.outputs)
        if forbid_float and any(t.is_float for t in tensors):
            floats.append(r.describe())
            problems.append(f"float tensor in the int8 graph: {r.describe()}")
        if forbid_dynamic and any(t.dynamic for t in tensors):
            problems.append(f"dynamic shape: {r.describe()}")
    return problems, floats


def _lint_coreml(records, allowed, forbid_float, forbid_dynamic) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    floats: list[str] = []
    producer: dict[tuple[str, str], OpRecord] = {}
    consumers: dict[tuple[str, str], list[OpRecord]] = defaultdict(list)
    for r in records:
        for t in r.outputs:
            producer[(r.graph, t.name)] = r
        for t in r.inputs:
            if "=" in t.name:
                consumers[(r.graph, t.name.split("=", 1)[1])].append(r)

    def src(r: OpRecord, key: str | None = None) -> list[tuple[str, OpRecord | None]]:
        out = []
        for t in r.inputs:
            if "=" not in t.name:
                continue  # an inline constant
            k, name = t.name.split("=", 1)
            if key is None or k == key:
                out.append((name, producer.get((r.graph, name))))
        return out

    def requantized(r: OpRecord) -> bool:
        nxt = consumers.get((r.graph, r.outputs[0].name), [])
        if not nxt:
            return False
        for c in nxt:
            if c.op == "quantize":
                continue
            if c.op in _MIL_ACT and requantized(c):
                continue
            return False
        return True

    for r in records:
        if r.op not in allowed:
            problems.append(f"op {r.op} is not allowed: {r.describe()}")
        if forbid_dynamic and any(t.dynamic for t in (*r.inputs, *r.outputs)):
            problems.append(f"dynamic shape: {r.describe()}")
        if not forbid_float:
            continue
        if r.op in _MIL_COMPUTE:
            keys = ("x",) if r.op in ("conv", "upsample_nearest_neighbor") else (None,)
            bad = []
            for key in keys:
                for name, p in src(r, key):
                    if p is None or (p.op != "dequantize" and not p.op.startswith("const")):
                        bad.append(f"{name} (from {p.op if p else 'graph input'})")
            if r.op == "conv":
                for name, p in src(r, "weight"):
                    if p is None or p.op not in _MIL_WEIGHT_SOURCES:
                        bad.append(f"weight {name} is not int8 (from {p.op if p else '?'})")
            if not requantized(r):
                bad.append("result is not re-quantized")
            if bad:
                floats.append(r.describe())
                problems.append(
                    f"float compute in the W8A8 program: {r.describe()}: {'; '.join(bad)}"
                )
        elif r.op == "cast":
            from_op = any(p is not None for _, p in src(r, "x"))
            to_op = bool(consumers.get((r.graph, r.outputs[0].name)))
            if from_op and to_op:
                floats.append(r.describe())
                problems.append(
                    "cast inside the program (only graph inputs and outputs may be cast): "
                    + r.describe()
                )
    return problems, floats


def lint_tflite(path: str | os.PathLike[str], target: Any) -> LintReport:
    """List the ops of a ``.tflite`` file and lint them against ``target`` (an ExportTarget)."""
    from rawpipe.export.tflite import list_tflite_ops

    return lint_ops(
        list_tflite_ops(path),
        fmt="tflite",
        allowed=target.allowed_ops,
        forbid_float=target.forbid_float,
        forbid_dynamic=target.forbid_dynamic,
        artifact=str(path),
        target=target.name,
    )


def lint_coreml(path: str | os.PathLike[str], target: Any) -> LintReport:
    """List the MIL ops of an ``.mlpackage`` and lint them against ``target``."""
    from rawpipe.export.coreml import list_coreml_ops

    return lint_ops(
        list_coreml_ops(path),
        fmt="coreml",
        allowed=target.allowed_ops,
        forbid_float=target.forbid_float,
        forbid_dynamic=target.forbid_dynamic,
        artifact=str(path),
        target=target.name,
    )
