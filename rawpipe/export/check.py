"""Checks on *built* exports (``export/build/<target>``): re-verification, quality, timings.

- :func:`check_built` — what ``make parity`` runs after the builds: the manifest's sha256 match
  the files, the artifact passes its op lint again, the model's current weights are the ones it was
  built from, and parity is recomputed at full size from the files on disk.
- :func:`evaluate_quantized` — the numbers that need trained weights, one command
  (``rawpipe export evaluate --target android``): validation CPSNR of the quantised artifact vs the
  fp32 torch model at every acceptance level (drop ≤ 0.15 dB noisy, ≤ 0.3 dB noise-free) and the
  dark-level accuracy on flat dark patches (issue 4's criterion: mean within 2 % or 0.05
  shot-noise units of the truth), written into the manifest under ``"quality"``.
- :func:`bench_built` — CPU timings of TFLite int8 vs TFLite fp32 vs ONNX Runtime on the same tiles.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rawpipe.export.targets import ExportTarget

__all__ = ["bench_built", "check_built", "evaluate_quantized", "load_built"]

CPSNR_DROP_LIMITS = {"clean": 0.3}
CPSNR_DROP_NOISY = 0.15
DARK_REL, DARK_ABS_COUNTS = 0.02, 0.05


def load_built(target: ExportTarget, out_dir: str | os.PathLike[str] | None = None):
    """``(directory, manifest, target)`` of a built target; the returned target takes the tile
    and noise buckets of the build (the artifact is the truth, not the toml)."""
    from rawpipe.export.build import MANIFEST_FILE, build_dir
    from rawpipe.export.targets import make_buckets

    d = Path(out_dir) if out_dir is not None else build_dir(target)
    p = d / MANIFEST_FILE
    if not p.is_file():
        raise FileNotFoundError(
            f"no build at {d}: run `rawpipe export --target {target.name}` first"
        )
    manifest = json.loads(p.read_text())
    built = target.replace(
        tile=tuple(manifest["graph"]["input"]["packed_tile"]),
        buckets=make_buckets([b["hi"] for b in manifest["buckets"][:-1]]),
    )
    return d, manifest, built


def _net_for(manifest: dict[str, Any], pretrained: Any = "if_available", weights: Any = None):
    """The model the artifact was built from (same weights digest), or ``ValueError``."""
    from rawpipe.export.build import load_export_model
    from rawpipe.export.runtime import weights_digest

    name = manifest["model"]["name"]
    if manifest["model"]["weights"] != "loaded" and weights is None:
        pretrained = False  # a random-init export: the seeded init is rebuilt exactly
    torch.manual_seed(0)
    net = load_export_model(name, pretrained=pretrained, weights=weights)
    if weights_digest(net) != manifest["model"]["weights_sha256"]:
        raise ValueError(
            f"the {name!r} weights differ from those the artifact was built from; rebuild it"
        )
    return net


def check_built(
    target: ExportTarget,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    tiles_per_level: int | None = None,
    levels: Sequence[str] | None = None,
    parity: bool = True,
) -> dict[str, Any]:
    """Re-verify a built target (see the module docstring). Returns ``{"passed", "problems",
    "parity"}``; nothing is written."""
    from rawpipe.export.build import file_sha256, run_parity
    from rawpipe.export.lint import lint_coreml, lint_tflite
    from rawpipe.export.parity import parity_tiles

    d, manifest, target = load_built(target, out_dir)
    problems: list[str] = []
    artifact = d / manifest["artifact"]["file"]
    if file_sha256(artifact) != manifest["artifact"]["sha256"]:
        problems.append(f"{artifact.name}: sha256 differs from the manifest")
    for fname, sha in manifest.get("files", {}).items():
        if not (d / fname).exists() or file_sha256(d / fname) != sha:
            problems.append(f"{fname}: missing or sha256 differs from the manifest")
    lint = (lint_tflite if target.format == "tflite" else lint_coreml)(artifact, target)
    problems += lint.problems
    res: dict[str, Any] = {"problems": problems}
    if parity and not problems:
        try:
            net = _net_for(manifest)
        except ValueError as e:
            problems.append(str(e))
        else:
            tiles = parity_tiles(
                target.raw_tile[0],
                levels=levels,
                per_level=target.tiles_per_level if tiles_per_level is None else tiles_per_level,
            )
            onnx_path = d / manifest["reference_onnx"]["file"]
            res["parity"] = run_parity(target, net, onnx_path, artifact, tiles)
            if not res["parity"]["passed"]:
                problems.append("parity threshold missed")
    res["passed"] = not problems
    return res


def _engine(target: ExportTarget, d: Path, manifest: dict[str, Any], net: torch.nn.Module):
    from rawpipe.export.runtime import MilEngine, TfliteEngine

    artifact = d / manifest["artifact"]["file"]
    if target.format == "tflite":
        return TfliteEngine(
            artifact,
            halo=net.halo,
            total_stride=net.total_stride,
            buckets=target.buckets,
            threads=2,
            delegates=True,
        )
    return MilEngine(artifact, halo=net.halo, total_stride=net.total_stride, buckets=target.buckets)


class _Noise:
    def __init__(self, shot: torch.Tensor, read: torch.Tensor) -> None:
        self.shot, self.read = shot, read


def evaluate_quantized(
    target: ExportTarget,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    pretrained: Any = "if_available",
    weights: Any = None,
    levels: Sequence[str] | None = None,
    max_size: int | None = None,
    dark: dict[str, Any] | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Quantised artifact vs fp32 torch on the validation set (see the module docstring).

    ``dark``: keyword arguments of :func:`rawpipe.data.datasets.flat_dark_patches` (default: its
    full set, 3 levels × 6 counts × 3 colours)."""
    from rawpipe.data.datasets import VALIDATION_LEVELS, flat_dark_patches, validation_set
    from rawpipe.models.engine import NetworkEngine
    from rawpipe.train.losses import cpsnr

    dark_kwargs = dict(dark or {})
    d, manifest, target = load_built(target, out_dir)
    net = _net_for(manifest, pretrained, weights)
    fp32 = NetworkEngine(net)
    q = _engine(target, d, manifest, net)
    names = list(VALIDATION_LEVELS) if levels is None else list(levels)
    table: dict[str, Any] = {}
    for level in names:
        scores: dict[str, list[float]] = {"fp32": [], "quantised": []}
        for it in validation_set(level, max_size=max_size):
            m = it["mosaic"][None].float()
            noise = _Noise(it["shot"].float(), it["read"].float())
            tgt = it["target"][None].float()
            for key, eng in (("fp32", fp32), ("quantised", q)):
                with torch.no_grad():
                    y = eng(m, wb_gains=it["wb"], noise=noise)
                scores[key].append(float(cpsnr(y, tgt, it["wb"], it["cam_to_srgb"])[0]))
        a, b = float(np.mean(scores["fp32"])), float(np.mean(scores["quantised"]))
        limit = CPSNR_DROP_LIMITS.get(level, CPSNR_DROP_NOISY)
        table[level] = {
            "fp32": a,
            "quantised": b,
            "drop": a - b,
            "limit": limit,
            "passed": a - b <= limit,
            "images": len(scores["fp32"]),
        }
    dark = {
        "fp32": {"passed": 0, "worst_excess": -math.inf},
        "quantised": {"passed": 0, "worst_excess": -math.inf},
        "count": 0,
    }
    both_ok = True
    for p in flat_dark_patches(**dark_kwargs):
        m = p["mosaic"][None].float()
        noise = _Noise(p["shot"].float(), p["read"].float())
        truth = p["target"].float().mean(dim=(-2, -1))
        a = p["shot"].float().mean()
        limit = torch.maximum(DARK_REL * truth, DARK_ABS_COUNTS * a)
        ok = {}
        for key, eng in (("fp32", fp32), ("quantised", q)):
            with torch.no_grad():
                y = eng(m, wb_gains=p["wb"], noise=noise)[0]
            err = (y[:, 4:-4, 4:-4].mean(dim=(-2, -1)) - truth).abs()
            excess = float(((err - limit) / a).max())  # shot-noise units over the limit
            ok[key] = bool((err <= limit).all())
            dark[key]["passed"] += int(ok[key])
            dark[key]["worst_excess"] = max(dark[key]["worst_excess"], excess)
        dark["count"] += 1
        both_ok &= ok["quantised"] or not ok["fp32"]
    dark["passed"] = both_ok
    res = {
        "cpsnr": table,
        "dark_level": dark,
        "max_size": max_size,
        "passed": all(v["passed"] for v in table.values()) and both_ok,
        "runtime": q.name,
    }
    if write:
        from rawpipe.export.build import MANIFEST_FILE
        from rawpipe.export.parity import json_safe

        manifest["quality"] = res
        (d / MANIFEST_FILE).write_text(
            json.dumps(json_safe(manifest), indent=2, ensure_ascii=False) + "\n"
        )
    return res


def bench_built(
    target: ExportTarget,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    threads: int = 2,
    n_tiles: int = 4,
    level: str = "iso1600",
) -> dict[str, Any]:
    """CPU timings (graph only) of the built android artifacts on ``n_tiles`` real-photo tiles at
    ``level``: TFLite int8 (the level's bucket) vs TFLite fp32 vs ONNX Runtime fp32."""
    from rawpipe.export.parity import parity_tiles
    from rawpipe.export.runtime import benchmark_backends
    from rawpipe.export.targets import select_bucket
    from rawpipe.models.jdd import jdd_preprocess, noise_tensors

    if target.format != "tflite":
        raise ValueError("bench needs the android (TFLite) build")
    d, manifest, target = load_built(target, out_dir)
    model = manifest["model"]["name"]
    tiles = parity_tiles(target.raw_tile[0], levels=[level], per_level=n_tiles)
    xs = []
    for t in tiles:
        shot, read = noise_tensors(t.shot, t.read, 1)
        mosaic = t.mosaic_at(target.raw_tile[0])  # a photo smaller than the tile is mirrored
        with torch.no_grad():
            xs.append(np.ascontiguousarray(jdd_preprocess(mosaic, shot, read).numpy()))
    bucket = target.buckets[select_bucket(target.buckets, tiles[0].shot.tolist())].name
    fp32 = d / f"rawpipe_{model}_fp32.tflite"
    res = benchmark_backends(
        int8_tflite=d / manifest["artifact"]["file"],
        fp32_tflite=fp32 if fp32.is_file() else None,
        onnx=d / manifest["reference_onnx"]["file"],
        tiles=xs,
        signature=bucket,
        threads=threads,
    )
    res["level"] = level
    return res
