"""Host side of the on-device harnesses (``export/device/android``, ``export/device/ios``).

A *package* is a directory with everything a phone run needs and everything the comparison needs
afterwards, made from a built target (``export/build/<target>``) and real-photo parity tiles:

    package.json            tiles: level, photo, bucket (signature/function), noise, white balance
    model file              the .tflite / .mlpackage (copied), manifest.json, inverse_vst_table.npy
    tile_000.in.bin         android: the graph input exactly as the phone feeds it
                            (int8, NHWC, quantised with the bucket's scale/zero point)
    tile_000.in.npy         ios: the graph input, float32 NCHW (1, 4, h, w)
    tile_000.ref.npy        the ONNX Runtime fp32 reference, final linear camera RGB (3, H, W)

The phone writes ``tile_000.out.bin`` (android: raw int8 graph output) or
``tile_000.out.npy`` (ios: float32 graph output) and a latency per tile; :func:`compare_outputs`
runs the host post-step (:mod:`rawpipe.export.host_reference`: dequantise, depth-to-space,
exact unbiased inverse VST) on them and scores against the references exactly like the parity
check (PSNR after white balance and the sRGB curve, per level, ≥ the target's threshold).

:class:`Adb` drives a phone (push, run the runner or LiteRT's ``benchmark_model``, pull); its
command runner is injectable so the whole loop is unit-tested here with a local "device" that
executes the same files with the LiteRT interpreter (:func:`run_package_locally`).
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Adb",
    "compare_outputs",
    "make_package",
    "run_package_locally",
]

PACKAGE_FILE = "package.json"


def _host_steps(build: Path) -> Any:
    from rawpipe.export.host_reference import HostSteps

    return HostSteps.load(str(build / "manifest.json"))


def make_package(
    build_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    tiles: Sequence[Any] | None = None,
    per_level: int = 2,
    levels: Sequence[str] | None = None,
) -> Path:
    """Write a device package for the build in ``build_dir`` (see the module docstring).

    ``tiles``: :class:`rawpipe.export.parity.ParityTile` list (default: ``per_level`` validation
    tiles per level at the graph's raw tile size). References come from the build's ONNX model
    through the torch host steps (the same reference as the manifest's parity)."""
    import torch

    from rawpipe.export.host_reference import floor_params, generalized_anscombe, pack_rggb
    from rawpipe.export.parity import parity_tiles
    from rawpipe.export.runtime import OnnxEngine

    build, out = Path(build_dir), Path(out_dir)
    manifest = json.loads((build / "manifest.json").read_text())
    fmt = manifest["artifact"]["format"]
    steps = _host_steps(build)
    raw_tile = int(manifest["graph"]["input"]["raw_tile"][0])
    if tiles is None:
        tiles = parity_tiles(raw_tile, levels=levels, per_level=per_level)
    out.mkdir(parents=True, exist_ok=True)
    art = build / manifest["artifact"]["file"]
    dst = out / art.name
    if art.is_dir():
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(art, dst)
    else:
        shutil.copyfile(art, dst)
    for f in ("manifest.json", "inverse_vst_table.npy", "host_reference.py"):
        shutil.copyfile(build / f, out / f)
    model = manifest["model"]
    onnx = OnnxEngine(
        build / manifest["reference_onnx"]["file"],
        halo=model["halo_packed"],
        total_stride=model["total_stride"],
    )
    entries = []
    for i, t in enumerate(tiles):
        h, w = (int(v) for v in t.mosaic.shape[-2:])
        m = t.mosaic_at(raw_tile)  # a photo smaller than the tile is mirrored out to it
        mosaic = m[0, 0].numpy()
        shot, read = t.shot.tolist(), t.read.tolist()
        bucket = steps.bucket(shot)
        stem = f"tile_{i:03d}"
        if fmt == "tflite":
            x = steps.preprocess(mosaic, shot, read)
            x.tofile(out / f"{stem}.in.bin")
        else:
            a, b = floor_params(shot, read, steps.shot_floor)
            x = generalized_anscombe(pack_rggb(mosaic), a, b)[None].astype(np.float32)
            np.save(out / f"{stem}.in.npy", x)
        with torch.no_grad():
            ref = onnx(m, wb_gains=t.wb, noise=t.noise)[0].numpy()
        np.save(out / f"{stem}.ref.npy", ref.astype(np.float32))
        bk = manifest["buckets"][bucket]
        entries.append(
            {
                "stem": stem,
                "level": t.level,
                "photo": t.photo,
                "photo_crop": [h, w],
                "bucket": bk["name"],
                "graph": bk.get("signature") or bk.get("function"),
                "input_name": bk["input"]["name"],
                "output_name": bk["output"]["name"],
                "input_shape": list(x.shape),
                "input_dtype": str(x.dtype),
                "output_shape": bk["output"]["shape"],
                "output_dtype": bk["output"]["dtype"],
                "shot": shot,
                "read": read,
                "wb": t.wb.tolist(),
            }
        )
    thr = manifest.get("parity", {})
    key = next(
        (
            k
            for k in thr
            if k.endswith("_vs_onnxruntime")
            and "per_level" in thr.get(k, {})
            and not k.startswith("torch")
        ),
        None,
    )
    threshold = thr[key]["threshold"] if key else 45.0
    pkg = {"model": dst.name, "format": fmt, "psnr_min_db": threshold, "tiles": entries}
    (out / PACKAGE_FILE).write_text(json.dumps(pkg, indent=2) + "\n")
    return out


def _read_output(out_dir: Path, entry: dict[str, Any]) -> np.ndarray:
    stem = entry["stem"]
    npy, bin_ = out_dir / f"{stem}.out.npy", out_dir / f"{stem}.out.bin"
    if npy.is_file():
        return np.load(npy)
    if bin_.is_file():
        data = np.fromfile(bin_, dtype=np.dtype(entry["output_dtype"]))
        return data.reshape(entry["output_shape"])
    raise FileNotFoundError(f"no device output for {stem} in {out_dir}")


def _render(x: np.ndarray, wb: Sequence[float]) -> np.ndarray:
    y = np.clip(x.astype(np.float64) * np.asarray(wb, np.float64).reshape(3, 1, 1), 0.0, 1.0)
    return np.where(y <= 0.0031308, 12.92 * y, 1.055 * np.power(y, 1 / 2.4) - 0.055)


def compare_outputs(
    package_dir: str | os.PathLike[str], outputs_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Score device outputs against the package's ORT references: per level PSNR (dB, peak 1,
    pooled MSE) after white balance and the sRGB curve, latencies if the device wrote them
    (``latency.json``: ``{stem: milliseconds}``). ``passed`` when every level ≥ the threshold."""
    pkg_dir = Path(package_dir)
    outs = Path(outputs_dir) if outputs_dir is not None else pkg_dir / "outputs"
    pkg = json.loads((pkg_dir / PACKAGE_FILE).read_text())
    steps = _host_steps(pkg_dir)
    per: dict[str, list[float]] = {}
    for e in pkg["tiles"]:
        y = _read_output(outs, e)
        if pkg["format"] == "coreml":  # float32 NCHW graph output, no (de)quantisation
            from rawpipe.export.host_reference import (
                colour_params,
                depth_to_space,
                floor_params,
                inverse_vst,
            )

            a, b = colour_params(*floor_params(e["shot"], e["read"], steps.shot_floor))
            rgb = inverse_vst(depth_to_space(np.asarray(y, np.float32)[0]), a, b, steps.table)
        else:
            rgb = steps.postprocess(y, e["shot"], e["read"])
        ref = np.load(pkg_dir / f"{e['stem']}.ref.npy")
        mse = float(np.mean((_render(ref, e["wb"]) - _render(rgb, e["wb"])) ** 2))
        per.setdefault(e["level"], []).append(mse)
    levels = {
        lvl: (math.inf if np.mean(m) == 0 else 10 * math.log10(1 / float(np.mean(m))))
        for lvl, m in per.items()
    }
    res: dict[str, Any] = {
        "psnr_db": levels,
        "threshold": pkg["psnr_min_db"],
        "passed": all(v >= pkg["psnr_min_db"] for v in levels.values()),
    }
    lat = outs / "latency.json"
    if lat.is_file():
        ms = list(json.loads(lat.read_text()).values())
        res["latency_ms"] = {
            "median": float(np.median(ms)),
            "min": float(np.min(ms)),
            "tiles": len(ms),
        }
    return res


def run_package_locally(
    package_dir: str | os.PathLike[str], outputs_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Play the phone on this machine: run every tile of an android package with the LiteRT
    interpreter (the runtime the phone runs) and write outputs like the device runner does."""
    import time

    from ai_edge_litert.interpreter import Interpreter

    pkg_dir = Path(package_dir)
    outs = Path(outputs_dir) if outputs_dir is not None else pkg_dir / "outputs"
    outs.mkdir(parents=True, exist_ok=True)
    pkg = json.loads((pkg_dir / PACKAGE_FILE).read_text())
    if pkg["format"] != "tflite":
        raise ValueError("only android (tflite) packages run locally; ios needs a Mac")
    interp = Interpreter(model_path=str(pkg_dir / pkg["model"]), num_threads=2)
    latency = {}
    for e in pkg["tiles"]:
        x = np.fromfile(pkg_dir / f"{e['stem']}.in.bin", dtype=np.dtype(e["input_dtype"]))
        x = x.reshape(e["input_shape"])
        runner = interp.get_signature_runner(e["graph"])
        t0 = time.perf_counter()
        y = runner(**{e["input_name"]: x})[e["output_name"]]
        latency[e["stem"]] = 1e3 * (time.perf_counter() - t0)
        np.ascontiguousarray(y).tofile(outs / f"{e['stem']}.out.bin")
    (outs / "latency.json").write_text(json.dumps(latency, indent=2) + "\n")
    return outs


# ----------------------------------------------------------------------------------------------
# adb
# ----------------------------------------------------------------------------------------------


def _default_run(cmd: list[str]) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@dataclass
class Adb:
    """A phone over adb: push a package, run the minimal runner on it, pull the outputs.

    ``runner``: path of the ``rawpipe_runner`` binary on the device (built from
    ``export/device/android/runner``; see its README). ``run``: executes an argv and returns
    stdout (injectable for tests)."""

    serial: str | None = None
    remote_dir: str = "/data/local/tmp/rawpipe"
    runner: str = "/data/local/tmp/rawpipe_runner"
    threads: int = 4
    repeats: int = 10
    ld_library_path: str | None = "/data/local/tmp"
    run: Callable[[list[str]], str] = field(default=_default_run, repr=False)

    def _adb(self, *args: str) -> list[str]:
        return ["adb", *(("-s", self.serial) if self.serial else ()), *args]

    def shell(self, command: str) -> str:
        return self.run(self._adb("shell", command))

    def push_package(self, package_dir: str | os.PathLike[str]) -> None:
        pkg_dir = Path(package_dir)
        pkg = json.loads((pkg_dir / PACKAGE_FILE).read_text())
        self.shell(
            f"rm -rf {shlex.quote(self.remote_dir)} && "
            f"mkdir -p {shlex.quote(self.remote_dir)}/outputs"
        )
        files = [pkg["model"], PACKAGE_FILE] + [f"{e['stem']}.in.bin" for e in pkg["tiles"]]
        for f in files:
            self.run(self._adb("push", str(pkg_dir / f), f"{self.remote_dir}/{f}"))

    def run_package(self, package_dir: str | os.PathLike[str]) -> dict[str, float]:
        """Run every tile on the phone; returns ``{stem: median milliseconds}`` and writes
        ``outputs/`` on the phone (one ``.out.bin`` per tile)."""
        pkg = json.loads((Path(package_dir) / PACKAGE_FILE).read_text())
        latency = {}
        for e in pkg["tiles"]:
            cmd = " ".join(
                shlex.quote(v)
                for v in (
                    self.runner,
                    f"{self.remote_dir}/{pkg['model']}",
                    e["graph"],
                    f"{self.remote_dir}/{e['stem']}.in.bin",
                    f"{self.remote_dir}/outputs/{e['stem']}.out.bin",
                    str(self.threads),
                    str(self.repeats),
                )
            )
            if self.ld_library_path:
                cmd = f"LD_LIBRARY_PATH={shlex.quote(self.ld_library_path)} {cmd}"
            latency[e["stem"]] = parse_runner_latency(self.shell(cmd))
        return latency

    def pull_outputs(self, package_dir: str | os.PathLike[str], latency: dict[str, float]) -> Path:
        pkg_dir = Path(package_dir)
        outs = pkg_dir / "outputs"
        outs.mkdir(exist_ok=True)
        pkg = json.loads((pkg_dir / PACKAGE_FILE).read_text())
        for e in pkg["tiles"]:
            f = f"{e['stem']}.out.bin"
            self.run(self._adb("pull", f"{self.remote_dir}/outputs/{f}", str(outs / f)))
        (outs / "latency.json").write_text(json.dumps(latency, indent=2) + "\n")
        return outs

    def benchmark(
        self, package_dir: str | os.PathLike[str], binary: str = "/data/local/tmp/benchmark_model"
    ) -> str:
        """LiteRT's ``benchmark_model`` on the first tile's signature with its real input
        (latency statistics only; outputs come from the runner)."""
        pkg = json.loads((Path(package_dir) / PACKAGE_FILE).read_text())
        e = pkg["tiles"][0]
        return self.shell(
            " ".join(
                shlex.quote(v)
                for v in (
                    binary,
                    f"--graph={self.remote_dir}/{pkg['model']}",
                    f"--signature_to_run_for_benchmark={e['graph']}",
                    f"--input_layer={e['input_name']}",
                    f"--input_layer_value_files={e['input_name']}:{self.remote_dir}/{e['stem']}.in.bin",
                    f"--num_threads={self.threads}",
                )
            )
        )


def parse_runner_latency(stdout: str) -> float:
    """The runner prints ``latency_ms_median=<float>``; return it."""
    for line in stdout.splitlines():
        if line.startswith("latency_ms_median="):
            return float(line.split("=", 1)[1])
    raise ValueError(f"no latency in runner output: {stdout[-500:]!r}")
