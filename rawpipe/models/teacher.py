"""The teacher: a higher-capacity JDD U-Net on packed RGGB in the VST domain.

Same I/O contract, feature-tap names, ``total_stride`` and baseline residual as the student
(:mod:`rawpipe.models.layers`), so the two are interchangeable in the pipeline and a distillation
loss can align ``forward_features`` tap by tap. Capacity comes from width and EDSR-style residual
blocks of plain 3×3 convs (no normalisation), with concat skips fused by 1×1 convs. It uses the
same export-safe ops as the student (so it also exports), but nothing limits it to them.

Default (``TEACHER_CONFIG``): widths 24/48/96/192, one residual block per encoder/decoder level
(two at level 2), two in the bottleneck: ≈29.9 GMAC per output megapixel, ≈2.37 M parameters
(printed by ``tests/models/test_teacher.py``), ≈0.4 s per training step of 16 × 128² raw patches
on 2 CPU cores (the student: ≈0.09 s). Width and depth are keyword arguments of
``create_model("teacher", widths=..., enc_blocks=..., ...)``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from rawpipe.models.layers import PackedUNet
from rawpipe.models.registry import register_model

__all__ = ["TEACHER_CONFIG", "TeacherNet", "teacher"]


class TeacherNet(PackedUNet):
    """High-capacity JDD network (a wide :class:`~rawpipe.models.layers.PackedUNet`)."""


TEACHER_CONFIG: MappingProxyType[str, Any] = MappingProxyType(
    {
        "widths": (24, 48, 96, 192),
        "block": "res",
        "enc_blocks": (1, 1, 2),
        "mid_blocks": 2,
        "dec_blocks": (1, 1, 2),
        "merge": "concat",
        "act": "relu",
        "down_kernel": 2,
    }
)


@register_model(
    "teacher",
    capabilities={"trainable", "exportable", "distillable", "packed_io"},
    default_config=TEACHER_CONFIG,
)
def teacher(**config: Any) -> TeacherNet:
    """High-capacity JDD teacher U-Net (residual blocks, concat skips)."""
    return TeacherNet(**config)
