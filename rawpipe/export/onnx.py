"""ONNX export (the fp32 reference every other artifact is compared with) and ONNX Runtime.

``torch.onnx.export`` in torch 2.13 is the dynamo exporter; it writes external weight files unless
``external_data=False``. Height and width are exported dynamic (multiples of the network's total
stride), so one ``.onnx`` serves any tile; ORT matches torch to ~1e-6 on the student.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["ONNX_INPUT", "ONNX_OUTPUT", "list_onnx_ops", "ort_session", "run_ort", "to_onnx"]

ONNX_INPUT = "packed_vst"
ONNX_OUTPUT = "vst_out"


def to_onnx(
    model: torch.nn.Module,
    path: str | os.PathLike[str],
    *,
    tile: tuple[int, int] = (64, 64),
    dynamic: bool = True,
) -> Path:
    """Export a packed-I/O network to one self-contained ``.onnx`` file.

    Input ``packed_vst`` ``(1, C, h, w)`` float32 NCHW, output ``vst_out`` ``(1, C', h, w)``.
    ``dynamic``: h and w are symbolic multiples of ``model.total_stride`` (``tile`` is only the
    tracing sample); otherwise the graph is fixed to ``tile`` (packed pixels).
    """
    import copy

    path = Path(path)
    m = copy.deepcopy(model).float().cpu().eval()
    c_in = int(getattr(m, "in_channels", 4))
    stride = int(getattr(m, "total_stride", 1))
    sample = torch.zeros(1, c_in, int(tile[0]), int(tile[1]))
    kwargs: dict[str, Any] = {}
    if dynamic:
        dim_h = torch.export.Dim("h_blocks", min=1, max=4096)
        dim_w = torch.export.Dim("w_blocks", min=1, max=4096)
        arg = next(iter(_forward_arg_names(m)))
        kwargs["dynamic_shapes"] = {arg: {2: stride * dim_h, 3: stride * dim_w}}
    prog = torch.onnx.export(
        m,
        (sample,),
        input_names=[ONNX_INPUT],
        output_names=[ONNX_OUTPUT],
        external_data=False,
        dynamo=True,
        verbose=False,
        **kwargs,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    prog.save(str(tmp))
    os.replace(tmp, path)
    return path


def _forward_arg_names(m: torch.nn.Module) -> list[str]:
    import inspect

    params = list(inspect.signature(m.forward).parameters)
    return params or ["x"]


def ort_session(path: str | os.PathLike[str], *, threads: int = 1) -> Any:
    """An ONNX Runtime CPU session with ``threads`` intra-op threads."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def run_ort(session: Any, x: np.ndarray | torch.Tensor) -> np.ndarray:
    """Run a session on one NCHW float32 batch."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]


def list_onnx_ops(path: str | os.PathLike[str]) -> dict[str, int]:
    """``{op_type: count}`` of the main graph."""
    from collections import Counter

    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return dict(sorted(Counter(n.op_type for n in model.graph.node).items()))
