"""Exact multiply-accumulate counts of convolutional networks (forward hooks, one dry run).

Counted: ``nn.Conv2d`` (output elements × kernel area × input channels / groups),
``nn.ConvTranspose2d`` (input elements × kernel area × output channels / groups) and ``nn.Linear``
(output elements × input features), frozen convs included. Not counted: biases, activations, adds,
concats, resizes (they are not multiply-accumulates). Convolutions are counted over every output
position, padded borders included, so for fully convolutional nets the count is exactly
proportional to the pixel count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["count_macs", "count_parameters", "macs_per_output_megapixel"]


def _module_macs(module: nn.Module, inp: Tensor, out: Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return out.numel() * kh * kw * (module.in_channels // module.groups)
    if isinstance(module, nn.ConvTranspose2d):
        kh, kw = module.kernel_size
        return inp.numel() * kh * kw * (module.out_channels // module.groups)
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    return 0


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """MACs of one forward pass of ``model`` on a zero tensor of ``input_shape`` (batch included).

    >>> count_macs(nn.Conv2d(4, 8, 3, padding=1), (1, 4, 10, 10))
    28800
    """
    total = 0

    def hook(module: nn.Module, args: tuple, out: Tensor) -> None:
        nonlocal total
        total += _module_macs(module, args[0], out)

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
    ]
    try:
        p = next(iter(model.parameters()), None)
        device = p.device if p is not None else torch.device("cpu")
        dtype = p.dtype if p is not None else torch.float32
        with torch.no_grad():
            model(torch.zeros(tuple(input_shape), device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
    return total


def macs_per_output_megapixel(model: nn.Module, packed_hw: tuple[int, int] = (128, 128)) -> float:
    """MACs per megapixel of full-resolution RGB output for a packed-input JDD network.

    The network sees ``(1, in_channels, h, w)`` packed pixels and its output is depth-to-spaced to
    ``2h × 2w`` RGB pixels, so the result is ``count_macs / (4·h·w) · 1e6``. Divide by 1e9 for
    GMAC/MP (the issue's budget for the student is 4e9).
    """
    h, w = packed_hw
    c_in = getattr(model, "in_channels", 4)
    return count_macs(model, (1, c_in, h, w)) / (4 * h * w) * 1e6


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (frozen buffers, e.g. the fixed baseline, are not counted)."""
    return sum(
        math.prod(p.shape) for p in model.parameters() if p.requires_grad or not trainable_only
    )
