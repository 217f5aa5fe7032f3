"""Export targets (export/android.toml, export/ios.toml) and noise buckets."""

from __future__ import annotations

import itertools
import math

import pytest

from rawpipe.export.targets import (
    SHOT_FLOOR,
    load_target,
    make_buckets,
    select_bucket,
)


@pytest.mark.parametrize("name", ["android", "ios"])
def test_targets_load(name):
    t = load_target(name)
    assert t.name == name
    assert t.model == "student"
    # The phone graph's tile: large enough that the receptive-field overlap is not most of the work.
    expected = {"android": (576, 576), "ios": (256, 256)}[name]
    assert t.tile == expected and t.raw_tile == (2 * expected[0], 2 * expected[1])
    assert t.quantize
    assert t.calibration_path().is_file()
    assert len(t.buckets) == 5
    assert t.ort_max_abs == 1e-4 and t.psnr_min_db == 45.0
    assert t.forbid_float and t.forbid_dynamic


def test_android_specifics():
    t = load_target("android")
    assert t.format == "tflite" and t.layout == "NHWC" and t.io_dtype == "int8"
    assert t.artifact_name == "rawpipe_student_int8.tflite"
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "RESIZE_NEAREST_NEIGHBOR"} <= t.allowed_ops
    for bad in (
        "TRANSPOSE",
        "RESHAPE",
        "TRANSPOSE_CONV",
        "DEQUANTIZE",
        "QUANTIZE",
        "DEPTH_TO_SPACE",
    ):
        assert bad not in t.allowed_ops


def test_ios_specifics():
    t = load_target("ios")
    assert t.format == "coreml" and t.layout == "NCHW" and t.io_dtype == "float32"
    assert t.artifact_name == "rawpipe_student_w8a8.mlpackage"
    assert t.minimum_deployment_target == "iOS18"
    assert {"conv", "quantize", "dequantize", "add", "upsample_nearest_neighbor"} <= t.allowed_ops
    assert "conv_transpose" not in t.allowed_ops


def test_buckets_cover_the_range_without_gaps():
    bs = make_buckets([4e-5, 1.6e-4])
    assert [b.name for b in bs] == ["b0", "b1", "b2"]
    assert bs[0].lo == SHOT_FLOOR and math.isinf(bs[-1].hi)
    for a, b in itertools.pairwise(bs):
        assert a.hi == b.lo
    assert bs[-1].calibration_range[1] == pytest.approx(1.2e-2)
    with pytest.raises(ValueError):
        make_buckets([1e-3, 1e-4])
    with pytest.raises(ValueError):
        make_buckets([1e-6])


def test_select_bucket_uses_the_smallest_floored_gain():
    bs = load_target("android").buckets
    assert select_bucket(bs, 0.0) == 0  # noise-free: floored at 1e-5
    assert select_bucket(bs, [2.6e-4] * 4) == 2  # ISO 400
    assert select_bucket(bs, 1e-3) == 3  # ISO 1600
    assert select_bucket(bs, 4e-3) == 4  # ISO 6400
    assert select_bucket(bs, 1.0) == 4
    # the channel with the smallest gain sets the largest VST value, hence the bucket
    assert select_bucket(bs, [1e-3, 1e-3, 1e-3, 2e-4]) == 2


def test_shot_floor_matches_the_vst():
    from rawpipe.models.jdd import SHOT_FLOOR as JDD_FLOOR

    assert SHOT_FLOOR == JDD_FLOOR


def test_unknown_target(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_target("symbian")
    bad = tmp_path / "t.toml"
    bad.write_text('format = "pte"\n')
    with pytest.raises(ValueError, match="format"):
        load_target(bad)
