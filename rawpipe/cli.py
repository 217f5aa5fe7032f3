"""``rawpipe`` command line: the Python API, one subcommand per task.

    rawpipe process IN... -o OUTDIR [--output srgb|linear|dng] [--model ...] [--jobs N]
    rawpipe info FILE...
    rawpipe calibrate FRAMES... -o calibration/profiles/NAME.json
    rawpipe fetch raw|photos|all

The CLI only parses arguments and calls the library.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _cmd_process(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from rawpipe.batch import FileResult, process_files

    inputs = [Path(p) for p in args.inputs]
    kwargs = {
        "output": args.output,
        "model": args.model,
        "backend": args.backend,
        "overwrite": args.overwrite,
        "bit_depth": args.bit_depth,
        "tone": args.tone,
    }
    if args.tile_size:
        kwargs["tile_size"] = args.tile_size
    bar = tqdm(total=len(inputs), desc="files", unit="file", disable=args.quiet)

    def report(res: FileResult) -> None:
        bar.update(1)
        if res.ok:
            if not args.quiet:
                bar.write(f"{res.path} -> {res.out_path}")
        else:
            bar.write(f"FAILED {res.path}: {res.error}", file=sys.stderr)

    results = process_files(
        inputs,
        args.out_dir,
        jobs=args.jobs,
        timeout=args.timeout,
        isolate=not args.no_isolate,
        fmt=args.format,
        on_result=report,
        **kwargs,
    )
    bar.close()
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"{len(failed)} of {len(results)} files failed", file=sys.stderr)
        return 1
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import dataclasses

    from rawpipe.errors import RawpipeError
    from rawpipe.raw import read_raw

    status = 0
    for p in args.inputs:
        try:
            raw = read_raw(p)
        except RawpipeError as err:
            print(f"{p}: {type(err).__name__}: {err}", file=sys.stderr)
            status = 1
            continue
        meta = dataclasses.asdict(raw.metadata)
        meta["visible_size"] = [int(raw.mosaic.shape[1]), int(raw.mosaic.shape[0])]
        print(json.dumps({"path": str(p), **meta}, indent=1, default=str))
    return status


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from rawpipe.noise import calibrate_command

    calibrate_command(args.frames, args.out)
    print(args.out)
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from rawpipe.data.fetch import main as fetch_main

    return fetch_main([args.what])


def _forward(module: str, func: str, argv: list[str]) -> int:
    import importlib

    return int(getattr(importlib.import_module(module), func)(argv))


# Subcommands whose own parsers live beside their code: `rawpipe train --help` etc.
_FORWARDED = {
    "train": ("rawpipe.train.cli", "train_main", "train a model (teacher or student)"),
    "distill": ("rawpipe.train.cli", "distill_main", "distil a student from a teacher"),
    "export": ("rawpipe.export.cli", "export_main", "export to ONNX / TFLite / CoreML"),
}


def build_parser() -> argparse.ArgumentParser:
    from rawpipe import __version__

    parser = argparse.ArgumentParser(prog="rawpipe", description="RAW files to clean images.")
    parser.add_argument("--version", action="version", version=f"rawpipe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("process", help="process RAW files into images")
    p.add_argument("inputs", nargs="+", help="RAW files (DNG, NEF, CR2, ARW, ...)")
    p.add_argument("-o", "--out-dir", required=True, help="output directory")
    p.add_argument("--output", choices=["srgb", "linear", "dng"], default="srgb")
    p.add_argument("--format", choices=["png", "jpg", "tif"], default="png", help="sRGB format")
    p.add_argument("--model", default=None, help="student | teacher | classical[:method]")
    p.add_argument("--backend", choices=["torch", "onnx", "tflite"], default="torch")
    p.add_argument("--bit-depth", type=int, choices=[8, 16], default=8)
    p.add_argument("--tone", action="store_true", help="apply the tone curve (sRGB output)")
    p.add_argument("--tile-size", type=int, default=None)
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per file")
    p.add_argument("--no-isolate", action="store_true", help="decode in this process (debugging)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_process)

    p = sub.add_parser("info", help="print a RAW file's metadata as JSON")
    p.add_argument("inputs", nargs="+")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("calibrate", help="fit a noise profile from raw frames")
    p.add_argument("frames", nargs="+")
    p.add_argument("-o", "--out", required=True, help="profile JSON to write")
    p.set_defaults(func=_cmd_calibrate)

    for name, (_module, _func, help_text) in _FORWARDED.items():
        sub.add_parser(name, help=help_text, add_help=False)

    p = sub.add_parser("fetch", help="fetch and cache the project's data")
    p.add_argument("what", choices=["raw", "photos", "all"])
    p.set_defaults(func=_cmd_fetch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _FORWARDED:
        module, func, _ = _FORWARDED[argv[0]]
        return _forward(module, func, argv[1:])
    args = build_parser().parse_args(argv)
    if getattr(args, "model", "x") is None:
        from rawpipe.pipeline import DEFAULT_MODEL

        args.model = DEFAULT_MODEL
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
