"""The teacher: size, configurability, exportable op set."""

from __future__ import annotations

import torch

from rawpipe.models import (
    count_parameters,
    create_model,
    find_forbidden_ops,
    macs_per_output_megapixel,
)


def test_size():
    m = create_model("teacher", pretrained=False)
    macs, params = macs_per_output_megapixel(m), count_parameters(m)
    print(f"teacher: {macs / 1e9:.2f} GMAC per output MP, {params} parameters")
    assert 15e9 <= macs <= 40e9
    assert 1_500_000 <= params <= 6_000_000
    student = create_model("student", pretrained=False)
    assert macs > 5 * macs_per_output_megapixel(student)


def test_width_and_depth_configurable():
    wide = create_model("teacher", pretrained=False, widths=(32, 64, 128, 256))
    base = create_model("teacher", pretrained=False)
    assert macs_per_output_megapixel(wide) > macs_per_output_megapixel(base)
    deep = create_model("teacher", pretrained=False, mid_blocks=4)
    assert count_parameters(deep) > count_parameters(base)
    assert deep.halo > base.halo


def test_teacher_uses_export_safe_ops():
    # Not required of a teacher, but it keeps every registered model exportable.
    torch.manual_seed(0)
    m = create_model("teacher", pretrained=False, widths=(8, 8, 8, 8))
    assert find_forbidden_ops(m) == []
