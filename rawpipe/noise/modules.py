"""``nn.Module`` twins of the VST functions (for graphs and export); ``forward`` only calls them.

The noise parameters are buffers: a scalar pair, per-channel ``(4, 1, 1)`` for packed RGGB data,
or a tensor you pass per call (``forward(x, params)``) for per-sample training noise.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rawpipe.noise.params import NoiseParams
from rawpipe.noise.vst import (
    InverseMethod,
    generalized_anscombe,
    inverse_generalized_anscombe,
    inverse_k_sigma,
    k_sigma,
)

__all__ = ["GeneralizedAnscombe", "InverseGeneralizedAnscombe", "InverseKSigma", "KSigma"]


class _WithParams(nn.Module):
    def __init__(self, params: NoiseParams | None = None) -> None:
        super().__init__()
        a, b = params.as_torch(torch.float32) if params is not None else (None, None)
        self.register_buffer("shot", a)
        self.register_buffer("read", b)

    def _params(self, x: torch.Tensor, params: Any) -> Any:
        if params is not None:
            return params
        if self.shot is None:
            raise ValueError(f"{type(self).__name__}: no noise parameters (pass params=)")
        return (self.shot.to(x.dtype), self.read.to(x.dtype))


class GeneralizedAnscombe(_WithParams):
    """Module twin of :func:`rawpipe.noise.vst.generalized_anscombe` (exports to ONNX)."""

    def forward(self, x: torch.Tensor, params: Any = None) -> torch.Tensor:
        return generalized_anscombe(x, self._params(x, params))


class InverseGeneralizedAnscombe(_WithParams):
    """Module twin of :func:`rawpipe.noise.vst.inverse_generalized_anscombe`.

    The default exact unbiased inverse is a table lookup by arithmetic (floor, gather): it exports
    to ONNX as Floor/Gather ops.
    """

    def __init__(
        self, params: NoiseParams | None = None, method: InverseMethod = "exact_unbiased"
    ) -> None:
        super().__init__(params)
        self.method = method

    def forward(self, d: torch.Tensor, params: Any = None) -> torch.Tensor:
        return inverse_generalized_anscombe(d, self._params(d, params), self.method)


class KSigma(nn.Module):
    """Module twin of :func:`rawpipe.noise.vst.k_sigma`."""

    def __init__(self, params: NoiseParams, anchor: NoiseParams) -> None:
        super().__init__()
        self.params, self.anchor = params, anchor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return k_sigma(x, self.params, self.anchor)


class InverseKSigma(KSigma):
    """Module twin of :func:`rawpipe.noise.vst.inverse_k_sigma`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return inverse_k_sigma(x, self.params, self.anchor)
