"""Host side of the on-device harnesses: packaging, adb driving, comparison."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rawpipe.export import device


@pytest.fixture(scope="module")
def android_package(android_build, tmp_path_factory):
    from rawpipe.export.parity import parity_tiles

    out = tmp_path_factory.mktemp("pkg-android")
    tiles = parity_tiles(64, per_level=1, levels=["clean", "iso1600", "dark"])
    return device.make_package(android_build.out_dir, out, tiles=tiles)


def test_android_package_contents(android_package, android_build):
    pkg = json.loads((android_package / "package.json").read_text())
    assert pkg["format"] == "tflite" and pkg["psnr_min_db"] == 45.0
    assert (android_package / pkg["model"]).read_bytes() == android_build.artifact.read_bytes()
    assert [t["level"] for t in pkg["tiles"]] == ["clean", "iso1600", "dark"]
    assert [t["graph"] for t in pkg["tiles"]] == ["b0", "b2", "b2"]
    for t in pkg["tiles"]:
        raw = np.fromfile(android_package / f"{t['stem']}.in.bin", dtype=np.int8)
        assert raw.size == 32 * 32 * 4 and t["input_shape"] == [1, 32, 32, 4]
        ref = np.load(android_package / f"{t['stem']}.ref.npy")
        assert ref.shape == (3, 64, 64) and ref.dtype == np.float32


def test_local_device_run_passes(android_package):
    outs = device.run_package_locally(android_package)
    res = device.compare_outputs(android_package, outs)
    assert res["passed"], res
    assert set(res["psnr_db"]) == {"clean", "iso1600", "dark"}
    assert all(45.0 <= v < 200 for v in res["psnr_db"].values())
    assert res["latency_ms"]["tiles"] == 3 and res["latency_ms"]["median"] > 0


def test_compare_detects_a_wrong_output(android_package, tmp_path):
    outs = device.run_package_locally(android_package, tmp_path / "outs")
    pkg = json.loads((android_package / "package.json").read_text())
    bad = outs / f"{pkg['tiles'][1]['stem']}.out.bin"
    y = np.fromfile(bad, dtype=np.int8)
    np.clip(y.astype(np.int16) + 6, -128, 127).astype(np.int8).tofile(bad)  # +6 quantisation steps
    res = device.compare_outputs(android_package, outs)
    assert not res["passed"] and res["psnr_db"]["iso1600"] < 45.0
    (outs / f"{pkg['tiles'][0]['stem']}.out.bin").unlink()
    with pytest.raises(FileNotFoundError):
        device.compare_outputs(android_package, outs)


class FakeAdb:
    """Records adb argv; 'runs' the runner by copying outputs from a local run."""

    def __init__(self, local_outputs: Path, remote: Path) -> None:
        self.calls: list[list[str]] = []
        self.local, self.remote = local_outputs, remote

    def __call__(self, argv: list[str]) -> str:
        self.calls.append(argv)
        if argv[1:2] == ["-s"]:
            argv = [argv[0], *argv[3:]]
        if argv[1] == "shell" and "rawpipe_runner" in argv[2]:
            return "loading...\nlatency_ms_median=12.5\n"
        if argv[1] == "pull":
            src = self.local / Path(argv[2]).name
            shutil.copyfile(src, argv[3])
        return ""


def test_adb_driver_loop(android_package, tmp_path):
    local = device.run_package_locally(android_package, tmp_path / "local")
    fake = FakeAdb(local, tmp_path)
    adb = device.Adb(serial="XYZ", run=fake, threads=2, repeats=3)
    adb.push_package(android_package)
    latency = adb.run_package(android_package)
    adb.pull_outputs(android_package, latency)
    res = device.compare_outputs(android_package)
    assert res["passed"] and res["latency_ms"]["median"] == 12.5
    pushes = [c for c in fake.calls if c[3] == "push"]
    assert len(pushes) == 2 + 3  # model, package.json, 3 inputs
    runs = [c for c in fake.calls if c[3] == "shell" and "rawpipe_runner" in c[4]]
    assert len(runs) == 3 and all(c[:3] == ["adb", "-s", "XYZ"] for c in runs)
    assert "LD_LIBRARY_PATH=/data/local/tmp" in runs[0][4] and " b0 " in runs[0][4]
    assert runs[0][4].rstrip().endswith("2 3")


def test_parse_runner_latency():
    assert device.parse_runner_latency("x\nlatency_ms_median=3.25\n") == 3.25
    with pytest.raises(ValueError):
        device.parse_runner_latency("crashed")


def test_ios_package_and_compare(ios_build, tmp_path):
    """The iOS package holds float32 inputs; outputs of the package's MIL program (standing in
    for the phone's Core ML predict) pass the comparison the XCTest makes."""
    from rawpipe.export.mil import load_mil_functions, run_mil
    from rawpipe.export.parity import parity_tiles

    tiles = parity_tiles(64, per_level=1, levels=["iso400", "iso6400"])
    pkg_dir = device.make_package(ios_build.out_dir, tmp_path / "pkg", tiles=tiles)
    pkg = json.loads((pkg_dir / "package.json").read_text())
    assert pkg["format"] == "coreml" and (pkg_dir / pkg["model"]).is_dir()
    fns = load_mil_functions(pkg_dir / pkg["model"])
    outs = tmp_path / "outs"
    outs.mkdir()
    for t in pkg["tiles"]:
        x = np.load(pkg_dir / f"{t['stem']}.in.npy")
        assert x.shape == (1, 4, 32, 32) and x.dtype == np.float32
        (y,) = run_mil(fns[t["graph"]], {t["input_name"]: x}).values()
        np.save(outs / f"{t['stem']}.out.npy", y)
    res = device.compare_outputs(pkg_dir, outs)
    assert res["passed"], res


def test_harness_files_exist():
    root = Path(__file__).resolve().parents[2] / "export" / "device"
    for f in (
        "android/run.py",
        "android/README.md",
        "android/runner/rawpipe_runner.c",
        "android/runner/CMakeLists.txt",
        "ios/package.py",
        "ios/README.md",
        "ios/RawpipeParityTests/RawpipeParityTests.swift",
        "ios/RawpipeParityTests/HostSteps.swift",
    ):
        assert (root / f).is_file(), f
    src = (root / "android/runner/rawpipe_runner.c").read_text()
    assert "latency_ms_median=" in src and "TfLiteInterpreterGetSignatureRunner" in src
