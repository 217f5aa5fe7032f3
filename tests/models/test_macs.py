"""Exact MAC and parameter counts."""

from __future__ import annotations

import torch
from torch import nn

from rawpipe.models import count_macs, count_parameters, macs_per_output_megapixel


def test_conv_exact():
    conv = nn.Conv2d(3, 5, 3, padding=1)
    assert count_macs(conv, (2, 3, 7, 9)) == 2 * 5 * 7 * 9 * 3 * 9


def test_strided_depthwise_grouped_exact():
    assert count_macs(nn.Conv2d(4, 6, 2, stride=2), (1, 4, 8, 10)) == 6 * 4 * 5 * (4 * 4)
    assert count_macs(nn.Conv2d(8, 8, 3, padding=1, groups=8), (1, 8, 6, 6)) == 8 * 36 * 9
    assert count_macs(nn.Conv2d(8, 4, 1, groups=2), (1, 8, 6, 6)) == 4 * 36 * 4


def test_linear_and_transpose_exact():
    assert count_macs(nn.Linear(10, 3), (4, 10)) == 4 * 3 * 10
    # transposed conv: every input element is multiplied into k·k·C_out/groups outputs
    assert count_macs(nn.ConvTranspose2d(4, 2, 2, stride=2), (1, 4, 5, 5)) == 25 * 4 * 4 * 2


def test_nested_and_non_mac_layers():
    net = nn.Sequential(
        nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2), nn.Conv2d(8, 2, 1)
    )
    assert count_macs(net, (1, 4, 4, 4)) == 8 * 16 * 4 * 9 + 2 * 64 * 8


def test_per_output_megapixel():
    # one 1×1 conv 4→12: 48 MACs per packed pixel = 4 output pixels → 12e6 per output MP
    conv = nn.Conv2d(4, 12, 1)
    assert macs_per_output_megapixel(conv, (16, 16)) == 12e6
    assert macs_per_output_megapixel(conv, (32, 8)) == 12e6


def test_count_parameters():
    net = nn.Sequential(nn.Conv2d(4, 8, 3), nn.Conv2d(8, 2, 1, bias=False))
    assert count_parameters(net) == 4 * 8 * 9 + 8 + 16
    net[0].weight.requires_grad_(False)
    assert count_parameters(net, trainable_only=True) == 8 + 16
    assert count_parameters(net) == 4 * 8 * 9 + 8 + 16


def test_hooks_removed():
    conv = nn.Conv2d(1, 1, 1)
    count_macs(conv, (1, 1, 2, 2))
    assert not conv._forward_hooks
    assert conv(torch.ones(1, 1, 2, 2)).shape == (1, 1, 2, 2)
