"""The small-tile builds of both targets: artifacts, manifests, parity (make test).

The full-size builds and their parity run in `make parity` (test_full_size_* below, slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rawpipe.export.build import file_sha256


def _manifest(build):
    m = json.loads(build.manifest_path.read_text())
    assert m["artifact"] == build.manifest["artifact"]
    return m


def test_android_files_and_manifest(android_build):
    m = _manifest(android_build)
    d = android_build.out_dir
    assert android_build.artifact.name == "rawpipe_student_int8.tflite"
    assert m["artifact"]["sha256"] == file_sha256(android_build.artifact)
    for f in ("host_reference.py", "inverse_vst_table.npy", "rawpipe_student_fp32.onnx"):
        assert m["files"][f] == file_sha256(d / f)
    assert m["graph"]["layout"] == "NHWC"
    assert m["graph"]["input"]["packed_tile"] == [32, 32] and m["graph"]["input"]["raw_tile"] == [
        64,
        64,
    ]
    assert [b["name"] for b in m["buckets"]] == ["b0", "b1", "b2"]
    for b in m["buckets"]:
        assert b["signature"] == b["name"]
        assert b["input"]["shape"] == [1, 32, 32, 4] and b["input"]["dtype"] == "int8"
        assert b["output"]["shape"] == [1, 32, 32, 12] and b["output"]["dtype"] == "int8"
        assert b["input"]["scale"] > 0 and -128 <= b["input"]["zero_point"] <= 127
    # a lower-noise bucket needs a coarser input scale (VST range ~ 2/sqrt(a))
    scales = [b["input"]["scale"] for b in m["buckets"]]
    assert scales[0] > 1.5 * scales[1] > 2.25 * scales[2]
    # the 3-level student: 12 convs (one int8 op each, ReLU fused), 2 upsamplings, 3 skip adds
    assert m["ops"]["b0"] == {"ADD": 3, "CONV_2D": 12, "RESIZE_NEAREST_NEIGHBOR": 2}
    assert m["float_ops"] == [] and m["lint"]["passed"]
    assert m["model"]["weights"].startswith("random") and len(m["model"]["weights_sha256"]) == 64
    host = m["host"]
    steps = [s["step"] for s in host["before"]] + [s["step"] for s in host["after"]]
    for s in (
        "pack_rggb",
        "generalized_anscombe",
        "quantize",
        "dequantize",
        "depth_to_space",
        "inverse_vst",
    ):
        assert s in steps
    assert host["tiling"]["margin"] >= 2 * m["model"]["halo_packed"]
    assert host["tiling"]["margin"] % host["tiling"]["align"] == 0
    assert host["inverse_vst"]["table_sha256"] == file_sha256(d / "inverse_vst_table.npy")
    assert np.load(d / "inverse_vst_table.npy").shape == tuple(host["inverse_vst"]["shape"])


def test_android_parity(android_build):
    p = android_build.manifest["parity"]
    assert p["passed"]
    assert p["torch_vs_onnxruntime"]["worst"] <= 1e-4
    q = p["tflite_int8_vs_onnxruntime"]
    assert set(q["per_level"]) == {"clean", "iso400", "iso1600", "iso6400", "dark"}
    assert q["worst"] >= 45.0
    # int8 is not bit-exact: the comparison measures something
    assert all(v["max_abs"] > 0 for v in q["per_level"].values())


def test_ios_files_and_manifest(ios_build):
    m = _manifest(ios_build)
    assert (
        ios_build.artifact.name == "rawpipe_student_w8a8.mlpackage" and ios_build.artifact.is_dir()
    )
    assert m["artifact"]["sha256"] == file_sha256(ios_build.artifact)
    assert m["graph"]["layout"] == "NCHW" and m["graph"]["minimum_deployment_target"] == "iOS18"
    for b in m["buckets"]:
        assert b["function"] == b["name"]
        assert b["input"] == {
            "name": "packed_vst",
            "shape": [1, 4, 32, 32],
            "dtype": "float32",
            "scale": None,
            "zero_point": None,
        }
        assert b["output"]["name"] == "vst_out" and b["output"]["dtype"] == "float32"
    ops = m["ops"]["b0"]
    assert ops["conv"] == 12 and ops["quantize"] > 0 and ops["dequantize"] > 0
    assert "constexpr_blockwise_shift_scale" in ops
    assert m["lint"]["passed"] and m["float_ops"] == []
    # fp32 I/O: no host (de)quantisation steps for Core ML
    assert "quantize" not in [s["step"] for s in m["host"]["before"]]


def test_ios_parity(ios_build):
    p = ios_build.manifest["parity"]
    assert p["passed"]
    assert p["torch_vs_onnxruntime"]["worst"] <= 1e-4
    mil = p["coreml_mil_numpy_vs_onnxruntime"]
    assert mil["worst"] >= 45.0 and set(mil["per_level"]) == {
        "clean",
        "iso400",
        "iso1600",
        "iso6400",
        "dark",
    }
    pred = p["coreml_predict_vs_onnxruntime"]
    import platform

    if platform.system() != "Darwin":
        assert "macOS" in pred["skipped"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["android", "ios"])
def test_full_size_build(name, tmp_path):
    """Full-size export (the target's own tile, every bucket, the full calibration set) with the
    default weights; parity at full size written into the manifest and met."""
    from rawpipe.export.build import export_target

    res = export_target(name, out_dir=tmp_path)
    assert res.manifest["parity"]["passed"]
    assert res.manifest["lint"]["passed"]
