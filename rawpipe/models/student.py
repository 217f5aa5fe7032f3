"""The NPU-friendly student: a small U-Net whose every op lowers to one int8 op on phone NPUs.

Allowed ops (../shared/TOOLCHAIN.md, measured with litert-torch's PT2E int8 path): Conv2d 3×3 / 1×1
(plain, depthwise; stride 2 — 2×2 or 3×3 — for downsampling), ReLU / ReLU6 / PReLU, add, concat, and
``nn.Upsample(scale_factor=2, mode="nearest")`` (one int8 RESIZE_NEAREST_NEIGHBOR). Not allowed:
normalisation layers, bilinear resizing, attention, ``ConvTranspose2d`` (stays a float32
TRANSPOSE_CONV in the int8 graph), ``PixelShuffle`` or reshapes (TRANSPOSE/RESHAPE chains). The
graph ends at packed resolution with 12 channels; depth-to-space runs on the host
(:func:`rawpipe.models.layers.depth_to_space`).

:func:`check_student_ops` enforces this twice: on the module tree (:data:`ALLOWED_MODULES` leaves
with allowed hyper-parameters, :data:`ALLOWED_CONTAINERS` composites) and on the ATen graph of
``torch.export`` (:data:`ALLOWED_ATEN_OPS`), which also catches functional calls in ``forward``.
The lint of the converted artifact itself belongs to ``rawpipe.export``.

Default architecture (``STUDENT_CONFIG``), 3 levels, widths 16/32/64, plain 3×3 convs only:
stem and one decoder conv at full packed resolution (demosaicing needs full-resolution spatial
mixing), one encoder and one decoder conv at 1/2, two at 1/4, additive skips. Dense convs rather
than depthwise-separable blocks because that is what int8 runs fast: with the LiteRT interpreter
(XNNPACK, 2 threads, 576² packed tiles, ``make export-bench``) the trained 3.9 GMAC/MP network
takes 25 ms int8 and 78 ms fp32 per tile, while the earlier separable 4-level student (3.8
GMAC/MP) was measured at 46 ms int8 and 55 ms fp32 (depthwise convs gain almost nothing from
int8). Three levels also keep the receptive field
small (halo 21 packed pixels instead of 75), so overlapping tiles recompute less. Numbers are
printed by ``tests/models/test_student.py``: ≈3.88 GMAC per output megapixel (budget 4), ≈0.11 M
parameters.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from rawpipe.models.layers import (
    BayerBilinearBaseline,
    FixedConv2d,
    PackedUNet,
    ResidualBlock,
    UpMerge,
)
from rawpipe.models.registry import register_model

__all__ = [
    "ALLOWED_ATEN_OPS",
    "ALLOWED_CONTAINERS",
    "ALLOWED_MODULES",
    "STUDENT_CONFIG",
    "StudentNet",
    "check_student_ops",
    "find_forbidden_ops",
    "student",
]

ALLOWED_MODULES: tuple[type[nn.Module], ...] = (
    nn.Conv2d,
    FixedConv2d,
    BayerBilinearBaseline,
    nn.ReLU,
    nn.ReLU6,
    nn.PReLU,
    nn.Upsample,
    nn.Identity,
)
"""Leaf modules a student may contain (exact types; Conv2d and Upsample hyper-parameters are
checked too: kernel 1×1 or 3×3 with 'same' zero padding and stride 1 or 2, or 2×2 stride 2 without
padding; no dilation; groups 1 or depthwise; Upsample: scale 2, mode nearest)."""

ALLOWED_CONTAINERS: tuple[type[nn.Module], ...] = (
    nn.Sequential,
    nn.ModuleList,
    nn.ModuleDict,
    ResidualBlock,
    UpMerge,
    PackedUNet,
)
"""Composite modules whose own forward only routes tensors, adds, concatenates (exact types; any
:class:`~rawpipe.models.layers.PackedUNet` subclass is accepted as the root, whose forward the
graph check covers)."""

ALLOWED_ATEN_OPS: frozenset[str] = frozenset(
    {
        "aten.conv2d.default",
        "aten.convolution.default",
        "aten.relu.default",
        "aten.relu_.default",
        "aten.hardtanh.default",  # ReLU6
        "aten.prelu.default",
        "aten._prelu_kernel.default",
        "aten.add.Tensor",
        "aten.cat.default",
        "aten.upsample_nearest2d.default",
        "aten.upsample_nearest2d.vec",
    }
)
"""ATen ops allowed in the student's exported graph (``torch.export``, before decomposition)."""


def _check_conv(name: str, m: nn.Conv2d) -> list[str]:
    bad = []
    k, stride = tuple(m.kernel_size), tuple(m.stride)
    if k == (2, 2):  # 2×2 stride-2 downsampling: non-overlapping cells, no padding
        if stride != (2, 2) or m.padding not in ((0, 0), "valid"):
            bad.append(f"{name}: a 2×2 conv must have stride 2 and no padding")
    elif k not in ((1, 1), (3, 3)):
        bad.append(f"{name}: kernel {k} (allowed 1×1, 3×3, 2×2 stride 2)")
    elif m.padding_mode != "zeros" or tuple(m.padding) != (k[0] // 2, k[1] // 2):
        bad.append(f"{name}: padding {m.padding!r} mode {m.padding_mode!r} (need 'same' zeros)")
    if stride not in ((1, 1), (2, 2)):
        bad.append(f"{name}: stride {stride} (allowed 1, 2)")
    if tuple(m.dilation) != (1, 1):
        bad.append(f"{name}: dilation {tuple(m.dilation)}")
    if m.groups not in (1, m.in_channels) or (m.groups > 1 and m.out_channels % m.in_channels):
        bad.append(f"{name}: groups {m.groups} (allowed 1 or depthwise)")
    return bad


def _check_upsample(name: str, m: nn.Upsample) -> list[str]:
    sf = m.scale_factor
    sfs = tuple(sf) if isinstance(sf, tuple) else (sf, sf)
    if m.mode != "nearest" or any(float(s) != 2.0 for s in sfs) or m.size is not None:
        return [f"{name}: Upsample(mode={m.mode!r}, scale_factor={sf!r}) (allowed: 2× nearest)"]
    return []


def find_forbidden_ops(
    model: nn.Module, *, trace: bool = True, packed_hw: tuple[int, int] | None = None
) -> list[str]:
    """Everything in ``model`` outside the student's allowed op set (an empty list if clean).

    Walks the module tree; if ``trace``, also exports the model with ``torch.export`` on a
    ``(1, 4, *packed_hw)`` input (default: 2·total_stride square) and checks every ATen op.
    """
    bad: list[str] = []
    for name, m in model.named_modules():
        label = name or "<root>"
        t = type(m)
        if name == "" and isinstance(m, PackedUNet):
            continue  # the root's own forward is covered by the graph check below
        if t in ALLOWED_CONTAINERS:
            continue
        if t not in ALLOWED_MODULES:
            bad.append(f"{label}: module {t.__name__} is not allowed in the student")
        elif isinstance(m, nn.Conv2d):
            bad.extend(_check_conv(label, m))
        elif isinstance(m, nn.Upsample):
            bad.extend(_check_upsample(label, m))
    if trace:
        if packed_hw is None:
            s = int(getattr(model, "total_stride", 8))
            packed_hw = (2 * s, 2 * s)
        p = next(iter(model.parameters()), None)
        x = torch.zeros(1, getattr(model, "in_channels", 4), *packed_hw)
        if p is not None:
            x = x.to(p.device, p.dtype)
        was_training = model.training
        try:
            model.eval()
            ep = torch.export.export(model, (x,))
        except Exception as e:  # an untraceable forward is a finding too
            bad.append(f"torch.export failed: {type(e).__name__}: {e}")
        else:
            seen = sorted(
                {
                    str(n.target)
                    for n in ep.graph.nodes
                    if n.op == "call_function" and str(n.target) not in ALLOWED_ATEN_OPS
                }
            )
            bad.extend(f"graph op {op} is not allowed in the student" for op in seen)
        finally:
            model.train(was_training)
    return bad


def check_student_ops(
    model: nn.Module, *, trace: bool = True, packed_hw: tuple[int, int] | None = None
) -> None:
    """Raise ``ValueError`` listing every module, hyper-parameter or graph op outside the allowed
    set (see :func:`find_forbidden_ops`)."""
    bad = find_forbidden_ops(model, trace=trace, packed_hw=packed_hw)
    if bad:
        raise ValueError("student op check failed:\n  " + "\n  ".join(bad))


class StudentNet(PackedUNet):
    """The NPU student (a :class:`~rawpipe.models.layers.PackedUNet` restricted to allowed ops).

    Same I/O contract, ``total_stride``, ``halo``, ``receptive_field`` and ``forward_features`` as
    every packed-I/O model; see :mod:`rawpipe.models.layers`.
    """


STUDENT_CONFIG: MappingProxyType[str, Any] = MappingProxyType(
    {
        "widths": (16, 32, 64),
        "block": "conv",
        "enc_blocks": (0, 1),
        "mid_blocks": 2,
        "dec_blocks": (1, 1),
        "merge": "add",
        "act": "relu",
        "down_kernel": 2,
    }
)


@register_model(
    "student",
    capabilities={"trainable", "exportable", "distillable", "packed_io"},
    default_config=STUDENT_CONFIG,
)
def student(**config: Any) -> StudentNet:
    """NPU-friendly JDD student U-Net (≤ 4 GMAC per output megapixel, int8-exportable)."""
    return StudentNet(**config)
