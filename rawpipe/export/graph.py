"""Op listings of exported artifacts, shared by the TFLite and Core ML linters and the manifest."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["OpRecord", "TensorRecord", "op_counts"]


@dataclass(frozen=True)
class TensorRecord:
    """One tensor an op reads or writes: name, dtype (numpy-style name, e.g. ``"int8"``,
    ``"float32"``), static shape, whether any dimension is dynamic, whether it is a constant."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    dynamic: bool = False
    const: bool = False

    @property
    def is_float(self) -> bool:
        return self.dtype.startswith(("float", "bfloat"))


@dataclass(frozen=True)
class OpRecord:
    """One op of one graph (a TFLite signature's subgraph or a Core ML function)."""

    graph: str
    index: int
    op: str
    inputs: tuple[TensorRecord, ...]
    outputs: tuple[TensorRecord, ...]

    def describe(self) -> str:
        ins = ", ".join(f"{t.dtype}{list(t.shape)}" for t in self.inputs if not t.const)
        outs = ", ".join(f"{t.dtype}{list(t.shape)}" for t in self.outputs)
        return f"[{self.graph}#{self.index}] {self.op}({ins}) -> {outs}"


def op_counts(ops: Iterable[OpRecord], graph: str | None = None) -> dict[str, int]:
    """``{op name: count}`` (sorted by name) over all graphs, or over ``graph`` only."""
    c = Counter(o.op for o in ops if graph is None or o.graph == graph)
    return dict(sorted(c.items()))
