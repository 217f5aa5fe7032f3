"""Build one export target end to end: convert → op lint → parity → manifest.

``export_target("android")`` writes into ``export/build/android/``:

- ``rawpipe_student_int8.tflite`` (one int8 signature per noise bucket) — or, for ``"ios"``,
  ``rawpipe_student_w8a8.mlpackage`` (one W8A8 function per bucket);
- ``rawpipe_student_fp32.onnx`` — the ONNX Runtime fp32 reference (dynamic H/W);
- ``rawpipe_student_fp32.tflite`` (android) — the fp32 twin, for timings;
- ``manifest.json`` — I/O names, shapes, layout, dtypes, quantisation scale/zero point per bucket,
  the host steps before and after the graph with their parameters (VST, inverse-VST table,
  depth-to-space, tiling overlap), the op list, sha256 of every file, calibration and parity;
- ``host_reference.py`` + ``inverse_vst_table.npy`` — the dependency-free numpy reference of the
  host steps (:mod:`rawpipe.export.host_reference`).

The export fails (:class:`~rawpipe.export.lint.OpLintError`, :class:`ParityError`) when the
artifact uses an op outside the target's allowlist or misses a parity threshold; the manifest is
still written, with ``"passed": false``, so the numbers can be inspected.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rawpipe.errors import RawpipeError
from rawpipe.export.targets import ExportTarget, load_target, repo_root

__all__ = [
    "ExportResult",
    "ParityError",
    "build_dir",
    "export_target",
    "file_sha256",
    "host_steps",
    "load_export_model",
    "write_inverse_table",
]

INVERSE_TABLE_FILE = "inverse_vst_table.npy"
HOST_REFERENCE_FILE = "host_reference.py"
MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1


class ParityError(RawpipeError):
    """An exported artifact misses a parity threshold (numbers in the manifest's ``parity``)."""


@dataclass(frozen=True)
class ExportResult:
    """Paths and the manifest of one built target."""

    target: ExportTarget
    out_dir: Path
    artifact: Path
    manifest_path: Path
    manifest: dict[str, Any]


def build_dir(target: ExportTarget | str) -> Path:
    name = target if isinstance(target, str) else target.name
    return repo_root() / "export" / "build" / name


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, or of a directory (an ``.mlpackage``): over its files' relative paths and
    contents in sorted order."""
    p = Path(path)
    h = hashlib.sha256()
    if p.is_dir():
        for f in sorted(q for q in p.rglob("*") if q.is_file()):
            h.update(f.relative_to(p).as_posix().encode())
            h.update(b"\0")
            h.update(hashlib.sha256(f.read_bytes()).digest())
    else:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _log(msg: str) -> None:
    print(f"[rawpipe export] {msg}", file=sys.stderr, flush=True)


def load_export_model(
    name: str, *, pretrained: Any = "if_available", weights: Any = None
) -> torch.nn.Module:
    """The registered model to export (must be ``exportable`` and ``packed_io``), in eval mode."""
    from rawpipe.models import create_model, get_model_spec

    spec = get_model_spec(name)
    missing = {"exportable", "packed_io"} - set(spec.capabilities)
    if missing:
        raise ValueError(
            f"model {name!r} cannot be exported (lacks capabilities {sorted(missing)})"
        )
    return create_model(name, pretrained=pretrained, weights=weights).eval()


def write_inverse_table(out_dir: Path) -> dict[str, Any]:
    """Write the exact-unbiased-inverse table (float32 ``.npy``) and return its manifest entry."""
    from rawpipe.noise._gat_table import gat_tables

    tab = gat_tables()
    arr = np.ascontiguousarray(tab.inv, dtype=np.float32)
    path = out_dir / INVERSE_TABLE_FILE
    np.save(path, arr, allow_pickle=False)
    return {
        "method": "exact_unbiased",
        "reference": "Mäkitalo & Foi, IEEE TIP 20(9) 2011 and 22(1) 2013",
        "table": INVERSE_TABLE_FILE,
        "table_sha256": file_sha256(path),
        "shape": list(arr.shape),
        "dtype": "float32",
        "d_lo": float(tab.d_lo),
        "hd": float(tab.hd),
        "hr": float(tab.hr),
        "s0": float(tab.s0),
        "formula": (
            "per colour c with (a, b) = (a_c, b_c): s = sqrt(b)/a; D_A = 2*sqrt(s^2 + 1/8); "
            "A = (D/2 - s)*(D/2 + s) - 1/8 if D >= D_A else (D_A/2)*(D - D_A); "
            "fi = (D - D_A - d_lo)/hd; fj = log1p(s/s0)/hr; "
            "R = bilinear(table, fi, fj) with i0 = clip(floor(fi), 0, n_i-2), wi = fi - i0 "
            "(not clamped: linear continuation), j0 = clip(floor(fj), 0, n_j-2), "
            "wj = clip(fj - j0, 0, 1); x = a*(A + R). Not clipped."
        ),
        "colour_params": "R: (a_R, b_R); G: mean of (a_Gr, a_Gb) and of (b_Gr, b_Gb); "
        "B: (a_B, b_B), "
        "each after flooring a at shot_floor and b at 0",
    }


def host_steps(
    net: torch.nn.Module, target: ExportTarget, inverse: dict[str, Any]
) -> dict[str, Any]:
    """The manifest's ``host`` section: what runs before and after the graph, with parameters."""
    from rawpipe.models.jdd import SHOT_FLOOR

    align = 2 * int(net.total_stride)
    margin = -(-2 * int(net.halo) // align) * align
    tile = target.raw_tile[0]
    quantised_io = target.io_dtype in ("int8", "uint8")
    before = [
        {
            "step": "normalize",
            "what": "(DN - black)/(white - black) per CFA site, unclipped "
            "(negatives kept); CFA phase normalised to RGGB (crop/pad so the top-left is R)",
        },
        {
            "step": "pad",
            "what": "mirror (reflect) padding at bottom/right to a multiple of "
            f"{align} raw px and at least one tile ({tile} px); even amounts keep the CFA phase",
        },
        {
            "step": "tile",
            "tile": tile,
            "margin": margin,
            "align": align,
            "what": "tiles of tile×tile raw px, origins multiples of align, neighbours "
            "overlapping; "
            "each tile keeps its interior beyond `margin` px on sides shared with a neighbour",
        },
        {
            "step": "pack_rggb",
            "channels": ["R", "Gr", "Gb", "B"],
            "what": "(h, w) -> (4, h/2, w/2): R=(0,0), Gr=(0,1), Gb=(1,0), B=(1,1) of each "
            "2x2 cell",
        },
        {
            "step": "generalized_anscombe",
            "shot_floor": SHOT_FLOOR,
            "read_floor": 0.0,
            "formula": "f = (2/a)*sqrt(max(0, a*x + 3/8*a^2 + b)) per channel with that channel's "
            "(a, b) = (max(shot, shot_floor), max(read, 0)); Var(x) = shot*x + read, "
            "normalised units",
        },
        {
            "step": "select_bucket",
            "what": "graph (signature/function) of the bucket lo <= a < hi "
            "containing min(a_R, a_Gr, a_Gb, a_B) after flooring",
        },
    ]
    if quantised_io:
        before.append(
            {
                "step": "quantize",
                "dtype": target.io_dtype,
                "formula": "q = clip(round_half_even(f/scale) + zero_point) with the bucket's "
                "input "
                "scale/zero_point",
            }
        )
    if target.layout == "NHWC":
        before.append({"step": "layout", "from": "NCHW", "to": "NHWC"})
    after = []
    if quantised_io:
        after.append(
            {
                "step": "dequantize",
                "formula": "y = (q - zero_point)*scale with the bucket's output scale/zero_point",
            }
        )
    if target.layout == "NHWC":
        after.append({"step": "layout", "from": "NHWC", "to": "NCHW"})
    after += [
        {
            "step": "depth_to_space",
            "block": 2,
            "mode": "CRD",
            "what": "(12, h, w) -> (3, 2h, 2w): channel 4c + 2dy + dx -> colour c (R, G, B) at "
            "pixel (2i+dy, 2j+dx) (torch pixel_shuffle; ONNX DepthToSpace mode=CRD, "
            "not the DCR default)",
        },
        {"step": "inverse_vst", "method": "exact_unbiased", "table": INVERSE_TABLE_FILE},
        {"step": "stitch", "what": "write each tile's kept interior; crop the padding"},
        {
            "step": "render (app)",
            "what": "white balance, camera->sRGB matrix, clip, sRGB curve "
            "(not part of the contract; linear output is unclipped camera RGB)",
        },
    ]
    return {
        "before": before,
        "after": after,
        "vst": {
            "name": "generalized_anscombe",
            "shot_floor": SHOT_FLOOR,
            "read_floor": 0.0,
            "per_channel": ["R", "Gr", "Gb", "B"],
        },
        "inverse_vst": inverse,
        "tiling": {
            "tile": tile,
            "margin": margin,
            "align": align,
            "receptive_field_raw": 2 * (2 * int(net.halo) + 1),
            "note": "margin >= the network's halo (2*halo raw px): tiled == un-tiled",
        },
        "output": "linear camera RGB (3, H, W), black removed, / (white - black), no white "
        "balance, no colour matrix, not clipped",
        "reference": HOST_REFERENCE_FILE,
    }


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for pkg in (
        "rawpipe",
        "torch",
        "torchao",
        "litert-torch",
        "ai-edge-litert",
        "coremltools",
        "onnx",
        "onnxruntime",
        "numpy",
    ):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _model_info(name: str, net: torch.nn.Module) -> dict[str, Any]:
    from rawpipe.export.runtime import weights_digest
    from rawpipe.models import count_parameters, macs_per_output_megapixel

    meta = getattr(net, "weights_metadata", None)
    return {
        "name": name,
        "config": {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in (getattr(net, "model_config", {}) or {}).items()
        },
        "weights": "loaded" if meta is not None else "random initialisation (untrained)",
        "weights_metadata": dict(meta) if meta else None,
        "weights_sha256": weights_digest(net),
        "parameters": count_parameters(net),
        "gmac_per_output_mp": round(macs_per_output_megapixel(net) / 1e9, 3),
        "total_stride": int(net.total_stride),
        "halo_packed": int(net.halo),
        "receptive_field_packed": int(net.receptive_field),
    }


def _bucket_entries(target: ExportTarget, io: dict[str, Any]) -> list[dict[str, Any]]:
    key = "signature" if target.format == "tflite" else "function"
    out = []
    names = list(io)
    for b in target.buckets:
        name = b.name if b.name in io else names[0]
        entry = io[name]
        get = (lambda t: t.as_dict()) if target.format == "tflite" else dict
        out.append(
            {
                "name": b.name,
                key: name,
                "lo": b.lo,
                "hi": None if b.hi == float("inf") else b.hi,
                "input": get(entry["input"]),
                "output": get(entry["output"]),
            }
        )
    return out


def export_target(
    target: ExportTarget | str,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    net: torch.nn.Module | None = None,
    pretrained: Any = "if_available",
    weights: Any = None,
    parity: bool = True,
    tiles_per_level: int | None = None,
    levels: Sequence[str] | None = None,
    calibration_tiles: int | None = None,
    calibration_paths: Sequence[str | os.PathLike[str]] | None = None,
    fp32_twin: bool | None = None,
    reference_onnx: str | os.PathLike[str] | None = None,
    log: Callable[[str], None] = _log,
) -> ExportResult:
    """Build ``target`` (an :class:`ExportTarget` or ``"android"`` / ``"ios"``); see the module
    docstring. ``net`` overrides the registered model (then ``target.model`` only names it);
    ``tiles_per_level``, ``levels``, ``calibration_tiles`` and ``calibration_paths`` shrink the
    parity and calibration sets (tests); ``fp32_twin``: also build the fp32 .tflite (default:
    android); ``reference_onnx``: copy this already exported ONNX reference of the same network
    instead of exporting it again."""
    from rawpipe.export.calibration import calibration_batches, load_recipe
    from rawpipe.export.lint import OpLintError, lint_coreml, lint_tflite
    from rawpipe.export.onnx import list_onnx_ops, to_onnx
    from rawpipe.export.parity import json_safe

    if isinstance(target, str):
        target = load_target(target)
    out = Path(out_dir) if out_dir is not None else build_dir(target)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)  # a random-init export is reproducible (check_built rebuilds it)
    if net is None:
        net = load_export_model(target.model, pretrained=pretrained, weights=weights)
    net = net.eval()
    stride = int(net.total_stride)
    if any(t % stride for t in target.tile):
        raise ValueError(f"tile {target.tile} is not a multiple of the total stride {stride}")

    log(
        f"{target.name}: model {target.model!r}, tile {target.tile} packed, "
        f"{len(target.buckets)} noise bucket(s)"
    )
    onnx_path = out / f"rawpipe_{target.model}_fp32.onnx"
    if reference_onnx is not None:
        if Path(reference_onnx).resolve() != onnx_path.resolve():
            shutil.copyfile(reference_onnx, onnx_path)
    else:
        to_onnx(net, onnx_path, tile=target.tile, dynamic=True)
    log(f"ONNX reference: {onnx_path.name}")

    recipe = load_recipe(target.calibration_path())
    if calibration_tiles is not None:
        recipe = recipe.replace(tiles_per_bucket=int(calibration_tiles))
    calib = calibration_batches(recipe, target.buckets, target.tile, paths=calibration_paths)
    log(f"calibration: {recipe.tiles_per_bucket} tiles × {len(calib)} buckets")

    artifact = out / target.artifact_name
    extra_files: dict[str, Path] = {onnx_path.name: onnx_path}
    if target.format == "tflite":
        from rawpipe.export.tflite import tflite_io, to_tflite

        to_tflite(
            net,
            artifact,
            tile=target.tile,
            int8=target.quantize,
            calibration=calib,
            nhwc=target.layout == "NHWC",
        )
        io = tflite_io(artifact)
        report = lint_tflite(artifact, target)
        if fp32_twin is None or fp32_twin:  # the fp32 graph, for timings
            twin = to_tflite(
                net,
                out / f"rawpipe_{target.model}_fp32.tflite",
                tile=target.tile,
                int8=False,
                nhwc=target.layout == "NHWC",
            )
            extra_files[twin.name] = twin
    elif target.format == "coreml":
        from rawpipe.export.coreml import coreml_io, to_coreml

        to_coreml(
            net,
            artifact,
            tile=target.tile,
            w8a8=target.quantize,
            calibration=calib,
            minimum_deployment_target=target.minimum_deployment_target or "iOS18",
            activation_scheme=target.activation_scheme,
            activation_observer=target.activation_observer,
        )
        io = coreml_io(artifact)
        report = lint_coreml(artifact, target)
    else:
        raise ValueError(f"unknown format {target.format!r}")
    log(
        f"{artifact.name}: ops {report.ops[next(iter(report.ops))] if report.ops else {}}; "
        f"lint {'passed' if report.ok else 'FAILED'}"
    )

    inverse = write_inverse_table(out)
    ref_src = Path(__file__).with_name(HOST_REFERENCE_FILE)
    shutil.copyfile(ref_src, out / HOST_REFERENCE_FILE)

    manifest: dict[str, Any] = {
        "format_version": MANIFEST_VERSION,
        "target": target.name,
        "target_file": os.path.relpath(target.source, repo_root()) if target.source else None,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "toolchain": _versions(),
        "artifact": {
            "file": artifact.name,
            "format": target.format,
            "sha256": file_sha256(artifact),
            "bytes": _size(artifact),
        },
        "model": _model_info(target.model, net),
        "graph": {
            "layout": target.layout,
            "domain": "generalized Anscombe (VST) of packed RGGB; see host",
            "input": {
                "packed_tile": list(target.tile),
                "raw_tile": list(target.raw_tile),
                "dtype": target.io_dtype,
                "channels": ["R", "Gr", "Gb", "B"],
            },
            "output": {
                "packed_tile": list(target.tile),
                "dtype": target.io_dtype,
                "channels": "12 = 3 colours (R, G, B) x 2x2 phases, CRD: 4c + 2dy + dx",
            },
            "minimum_deployment_target": target.minimum_deployment_target,
            "quantization": {
                "recipe": target.recipe,
                "int8": target.quantize,
                "weights": target.raw.get("quantization", {}).get("weights"),
                "activations": target.raw.get("quantization", {}).get("activations"),
                "activation_scheme": target.activation_scheme
                if target.format == "coreml"
                else None,
                "activation_observer": target.activation_observer
                if target.format == "coreml"
                else None,
            },
        },
        "buckets": _bucket_entries(target, io),
        "host": host_steps(net, target, inverse),
        "ops": report.ops,
        "float_ops": report.float_ops,
        "lint": {
            "passed": report.ok,
            "problems": report.problems,
            "allowed": sorted(target.allowed_ops),
        },
        "reference_onnx": {
            "file": onnx_path.name,
            "ops": list_onnx_ops(onnx_path),
            "input": f"packed_vst (1, 4, h, w) float32, h and w multiples of {stride}",
            "output": "vst_out (1, 12, h, w) float32",
        },
        "calibration": {
            "recipe": os.path.relpath(recipe.source, repo_root()) if recipe.source else None,
            "recipe_sha256": file_sha256(recipe.source) if recipe.source else None,
            "tiles_per_bucket": recipe.tiles_per_bucket,
            "seed": recipe.seed,
            "photos": recipe.photos if calibration_paths is None else "custom",
        },
        "files": {},
    }
    for fname in (INVERSE_TABLE_FILE, HOST_REFERENCE_FILE):
        manifest["files"][fname] = file_sha256(out / fname)
    for fname, p in extra_files.items():
        manifest["files"][fname] = file_sha256(p)

    failure: Exception | None = None if report.ok else OpLintError(report)
    if parity and report.ok:
        from rawpipe.export.parity import parity_tiles

        tiles = parity_tiles(
            target.raw_tile[0],
            levels=levels,
            per_level=target.tiles_per_level if tiles_per_level is None else tiles_per_level,
        )
        manifest["parity"] = run_parity(target, net, onnx_path, artifact, tiles, log=log)
        if not manifest["parity"]["passed"]:
            failure = ParityError(
                f"{artifact.name} missed a parity threshold: "
                + json.dumps(json_safe(_summary(manifest["parity"])))
            )
    else:
        manifest["parity"] = {"skipped": "parity=False" if not parity else "op lint failed"}

    manifest_path = out / MANIFEST_FILE
    manifest_path.write_text(json.dumps(json_safe(manifest), indent=2, ensure_ascii=False) + "\n")
    log(f"wrote {manifest_path}")
    if failure is not None:
        raise failure
    return ExportResult(target, out, artifact, manifest_path, manifest)


def _size(p: Path) -> int:
    return (
        sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        if p.is_dir()
        else p.stat().st_size
    )


def _summary(parity: dict[str, Any]) -> dict[str, Any]:
    return {
        k: {"worst": v.get("worst"), "threshold": v.get("threshold"), "passed": v.get("passed")}
        for k, v in parity.items()
        if isinstance(v, dict) and "passed" in v
    }


def run_parity(
    target: ExportTarget,
    net: torch.nn.Module,
    onnx_path: Path,
    artifact: Path,
    tiles: Sequence[Any],
    *,
    log: Callable[[str], None] = _log,
) -> dict[str, Any]:
    """The manifest's ``parity`` section for a built artifact (see :mod:`rawpipe.export.parity`)."""
    from rawpipe.export.parity import score_engines
    from rawpipe.export.runtime import MilEngine, OnnxEngine, TfliteEngine
    from rawpipe.models.engine import NetworkEngine

    torch_engine = NetworkEngine(net)
    ort_engine = OnnxEngine(onnx_path, halo=net.halo, total_stride=net.total_stride)
    res: dict[str, Any] = {
        "tiles": {
            "raw_tile": target.raw_tile[0],
            "count": len(tiles),
            "source": "rawpipe.data.validation_set (validation photos), centre tiles",
            "levels": sorted({t.level for t in tiles}),
        }
    }
    res["torch_vs_onnxruntime"] = score_engines(
        tiles, torch_engine, ort_engine, metric="max_abs", threshold=target.ort_max_abs
    )
    log(f"parity torch vs ORT: max abs {res['torch_vs_onnxruntime']['worst']:.3g}")
    if target.format == "tflite":
        eng = TfliteEngine(
            artifact,
            halo=net.halo,
            total_stride=net.total_stride,
            buckets=target.buckets,
            delegates=False,
        )
        key = "tflite_int8_vs_onnxruntime" if target.quantize else "tflite_vs_onnxruntime"
        res[key] = score_engines(
            tiles, ort_engine, eng, metric="psnr_wb_srgb", threshold=target.psnr_min_db
        )
        res[key]["runtime"] = "ai_edge_litert.interpreter (BUILTIN_WITHOUT_DEFAULT_DELEGATES)"
        log(
            f"parity {key}: "
            + ", ".join(f"{k} {v['psnr_db']:.2f} dB" for k, v in res[key]["per_level"].items())
        )
    else:
        from rawpipe.export.coreml import coreml_predict, predict_available

        eng = MilEngine(
            artifact, halo=net.halo, total_stride=net.total_stride, buckets=target.buckets
        )
        key = "coreml_mil_numpy_vs_onnxruntime"
        res[key] = score_engines(
            tiles, ort_engine, eng, metric="psnr_wb_srgb", threshold=target.psnr_min_db
        )
        res[key]["runtime"] = "the .mlpackage's MIL program executed by rawpipe.export.mil (numpy)"
        log(
            f"parity {key}: "
            + ", ".join(f"{k} {v['psnr_db']:.2f} dB" for k, v in res[key]["per_level"].items())
        )
        ok, why = predict_available()
        if ok:  # pragma: no cover - macOS only

            class _Predict(MilEngine):
                def run_packed(self, x: np.ndarray, function: str) -> np.ndarray:
                    fn = None if len(self.functions) == 1 else function
                    return coreml_predict(artifact, x, function=fn)

            pe = _Predict(
                artifact, halo=net.halo, total_stride=net.total_stride, buckets=target.buckets
            )
            res["coreml_predict_vs_onnxruntime"] = score_engines(
                tiles, ort_engine, pe, metric="psnr_wb_srgb", threshold=target.psnr_min_db
            )
        else:
            res["coreml_predict_vs_onnxruntime"] = {"skipped": why}
    res["passed"] = all(v["passed"] for v in res.values() if isinstance(v, dict) and "passed" in v)
    return res
