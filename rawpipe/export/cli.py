"""``rawpipe export``: build, check, evaluate and time the phone exports.

    rawpipe export --target android|ios [--model NAME] [--weights FILE | --random-init]
                   [--out DIR] [--tile H W] [--no-parity]
        build (make export-android / make export-ios)
    rawpipe export check --target android [--target ios]
        re-verify built artifacts from disk: sha256, op lint, weights, parity (make parity)
    rawpipe export evaluate --target android [--levels ...]
        int8 vs fp32 validation CPSNR and dark-level accuracy (make export-quality)
    rawpipe export bench [--threads 2] [--tiles 4]
        CPU timings: TFLite int8 vs TFLite fp32 vs ONNX Runtime (make export-bench)

``export_main(argv)`` is the entry point (``rawpipe.cli`` wires the ``export`` subcommand to it;
``python -m rawpipe.export.cli`` runs it directly). Exit status 0 on success, 1 when an artifact
fails its op lint (or check/evaluate finds a miss), 2 on usage errors, 3 when a build wrote its
artifact and manifest but missed a parity threshold (the numbers are in the manifest; the
artifact still runs, so ``make bench`` and ``make notebooks`` go on with it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["export_main"]


def _weights_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--weights", help="safetensors file to export instead of the shipped weights")
    g.add_argument(
        "--random-init",
        action="store_true",
        help="export an untrained (randomly initialised) model (toolchain checks)",
    )
    p.add_argument(
        "--require-weights",
        action="store_true",
        help="fail if the model has no shipped weights (default: fall back to a random init)",
    )


def _pretrained(args: argparse.Namespace) -> Any:
    if args.random_init:
        return False
    return True if args.require_weights else "if_available"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rawpipe export",
        description="Export the JDD network to int8 TFLite (android) / W8A8 Core ML (ios).",
    )
    p.add_argument(
        "command",
        nargs="?",
        default="build",
        choices=["build", "check", "evaluate", "bench"],
        help="build (default), check, evaluate or bench",
    )
    p.add_argument(
        "--target",
        action="append",
        help="android, ios or a target .toml (build: one; check/evaluate: repeatable)",
    )
    p.add_argument("--model", help="registered model to export (default: the target's)")
    _weights_args(p)
    p.add_argument("--out", help="output directory (default export/build/<target>)")
    p.add_argument("--tile", nargs=2, type=int, metavar=("H", "W"), help="packed tile size")
    p.add_argument("--no-parity", action="store_true", help="skip the parity checks")
    p.add_argument("--tiles-per-level", type=int, help="parity tiles per noise level")
    p.add_argument("--calibration-tiles", type=int, help="calibration tiles per noise bucket")
    p.add_argument("--levels", nargs="+", help="noise levels (default: all acceptance levels)")
    p.add_argument("--max-size", type=int, help="evaluate: centre-crop validation photos to this")
    p.add_argument("--threads", type=int, default=2, help="bench: CPU threads")
    p.add_argument("--tiles", type=int, default=4, help="bench: tiles to time")
    p.add_argument("--json", help="also write the result (check/evaluate/bench) to this file")
    return p


def _load(target_arg: str, args: argparse.Namespace) -> Any:
    from rawpipe.export.targets import load_target

    t = load_target(target_arg)
    changes: dict[str, Any] = {}
    if args.model:
        changes["model"] = args.model
    if args.tile:
        changes["tile"] = tuple(args.tile)
    return t.replace(**changes) if changes else t


def _cmd_build(args: argparse.Namespace) -> int:
    from rawpipe.export.build import ParityError, export_target
    from rawpipe.export.lint import OpLintError

    if not args.target or len(args.target) != 1:
        print("rawpipe export: give exactly one --target for build", file=sys.stderr)
        return 2
    target = _load(args.target[0], args)
    try:
        res = export_target(
            target,
            out_dir=args.out,
            pretrained=_pretrained(args),
            weights=args.weights,
            parity=not args.no_parity,
            tiles_per_level=args.tiles_per_level,
            levels=args.levels,
            calibration_tiles=args.calibration_tiles,
        )
    except (OpLintError, ParityError) as e:
        print(f"rawpipe export: {e}", file=sys.stderr)
        return 3 if isinstance(e, ParityError) else 1
    print(res.artifact)
    print(res.manifest_path)
    _print_parity(res.manifest.get("parity", {}))
    return 0


def _print_parity(parity: dict[str, Any]) -> None:
    for key, v in parity.items():
        if not isinstance(v, dict):
            continue
        if "skipped" in v:
            print(f"  {key}: skipped ({v['skipped']})")
        elif "per_level" in v:
            unit = "dB" if v["metric"] == "psnr_wb_srgb" else ""
            per = ", ".join(
                f"{lvl} {d['psnr_db'] if unit else d['max_abs']:.4g}{unit}"
                for lvl, d in v["per_level"].items()
            )
            verdict = "ok" if v["passed"] else "FAILED"
            print(f"  {key}: {per} (threshold {v['threshold']}{unit}) {verdict}")


def _cmd_check(args: argparse.Namespace) -> int:
    from rawpipe.export.check import check_built

    status = 0
    results = {}
    for t in args.target or ["android", "ios"]:
        target = _load(t, args)
        res = check_built(
            target, out_dir=args.out, tiles_per_level=args.tiles_per_level, levels=args.levels
        )
        results[target.name] = res
        print(f"{target.name}: {'ok' if res['passed'] else 'FAILED'}")
        for p in res.get("problems", []):
            print(f"  {p}")
        _print_parity(res.get("parity", {}))
        status |= 0 if res["passed"] else 1
    _dump(args, results)
    return status


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from rawpipe.export.check import evaluate_quantized

    status = 0
    results = {}
    for t in args.target or ["android"]:
        target = _load(t, args)
        res = evaluate_quantized(
            target,
            out_dir=args.out,
            pretrained=_pretrained(args),
            weights=args.weights,
            levels=args.levels,
            max_size=args.max_size,
        )
        results[target.name] = res
        print(f"{target.name}: validation CPSNR (dB), fp32 vs quantised (limit):")
        for lvl, d in res["cpsnr"].items():
            mark = "ok" if d["passed"] else "FAILED"
            print(
                f"  {lvl:8s} fp32 {d['fp32']:.3f}  quantised {d['quantised']:.3f}  "
                f"drop {d['drop']:+.3f} (≤ {d['limit']}) {mark}"
            )
        dk = res["dark_level"]
        print(
            f"  dark flat patches: fp32 {dk['fp32']['passed']}/{dk['count']} within limits, "
            f"quantised {dk['quantised']['passed']}/{dk['count']} "
            f"(worst error {dk['quantised']['worst_excess']:+.3f} over the limit)"
        )
        status |= 0 if res["passed"] else 1
    _dump(args, results)
    return status


def _cmd_bench(args: argparse.Namespace) -> int:
    from rawpipe.export.check import bench_built

    target = _load((args.target or ["android"])[0], args)
    res = bench_built(target, out_dir=args.out, threads=args.threads, n_tiles=args.tiles)
    print(
        f"CPU, {res['threads']} threads, tile {res['tile_packed']} packed "
        f"({2 * res['tile_packed'][0]}×{2 * res['tile_packed'][1]} RGB out), graph only:"
    )
    for key in ("tflite_int8", "tflite_fp32", "onnxruntime_fp32"):
        if key in res:
            r = res[key]
            print(f"  {key:18s} {1e3 * r['s_per_tile']:8.1f} ms/tile  {r['ms_per_mp']:8.1f} ms/MP")
    _dump(args, res)
    return 0


def _dump(args: argparse.Namespace, obj: Any) -> None:
    if args.json:
        from rawpipe.export.parity import json_safe

        Path(args.json).write_text(json.dumps(json_safe(obj), indent=2) + "\n")


def export_main(argv: Sequence[str] | None = None) -> int:
    """``rawpipe export ...`` (see the module docstring); returns the exit status."""
    args = _parser().parse_args(None if argv is None else list(argv))
    if args.command == "build" and args.target is None:
        print("rawpipe export: --target android|ios is required", file=sys.stderr)
        return 2
    return {
        "build": _cmd_build,
        "check": _cmd_check,
        "evaluate": _cmd_evaluate,
        "bench": _cmd_bench,
    }[args.command](args)


if __name__ == "__main__":
    sys.exit(export_main())
