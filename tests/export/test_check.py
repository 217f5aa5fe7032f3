"""Checks on built exports: re-verification from disk, quality evaluation, timings."""

from __future__ import annotations

import json
import shutil

import pytest

from rawpipe.export.check import bench_built, check_built, evaluate_quantized
from rawpipe.export.targets import load_target


def test_check_built_passes_and_catches_tampering(android_build, tmp_path):
    target = load_target("android")  # the toml's 5 buckets: the build's own buckets are used
    res = check_built(target, out_dir=android_build.out_dir, tiles_per_level=1, levels=["iso1600"])
    assert res["passed"], res["problems"]
    assert res["parity"]["tflite_int8_vs_onnxruntime"]["passed"]
    copy = tmp_path / "copy"
    shutil.copytree(android_build.out_dir, copy)
    with open(copy / android_build.artifact.name, "ab") as f:
        f.write(b"\0")
    bad = check_built(target, out_dir=copy, parity=False)
    assert not bad["passed"] and any("sha256" in p for p in bad["problems"])


def test_check_built_refuses_other_weights(android_build, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(android_build.out_dir, copy)
    m = json.loads((copy / "manifest.json").read_text())
    m["model"]["weights_sha256"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(m))
    res = check_built(load_target("android"), out_dir=copy, tiles_per_level=1, levels=["clean"])
    assert not res["passed"] and any("weights differ" in p for p in res["problems"])


def test_evaluate_quantized_small(android_build, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(android_build.out_dir, copy)
    res = evaluate_quantized(
        load_target("android"),
        out_dir=copy,
        levels=["iso1600"],
        max_size=64,
        dark={"levels": ("iso1600",), "counts": (1.0, 10.0)},
    )
    row = res["cpsnr"]["iso1600"]
    assert row["images"] == 8 and row["limit"] == 0.15
    assert abs(row["drop"]) < 3.0  # an untrained student; the numbers that matter need weights
    assert res["dark_level"]["count"] == 6  # 2 counts × 3 colours
    assert (
        json.loads((copy / "manifest.json").read_text())["quality"]["cpsnr"]["iso1600"]["images"]
        == 8
    )


def test_bench_built(android_build):
    with pytest.raises(ValueError):
        bench_built(load_target("ios"), out_dir=android_build.out_dir)
    res = bench_built(load_target("android"), out_dir=android_build.out_dir, n_tiles=1, threads=1)
    assert res["tflite_int8"]["signature"] == "b2" and res["tflite_int8"]["dtype"] == "int8"
    assert "tflite_fp32" not in res  # the small build has no fp32 twin
    for key in ("tflite_int8", "onnxruntime_fp32"):
        assert res[key]["s_per_tile"] > 0 and res[key]["ms_per_mp"] > 0
