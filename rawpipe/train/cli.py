"""Command lines of training: ``rawpipe train`` → :func:`train_main`, ``rawpipe distill`` →
:func:`distill_main`. They only parse arguments into a :class:`TrainConfig` and call
:func:`rawpipe.train.trainer.train`.

Every ``TrainConfig`` field is an option (``--field-name``; mappings and lists as JSON, booleans as
``--flag/--no-flag``); ``--config run.json`` loads a base config that the other options override.
Under ``torchrun --nproc_per_node=N -m rawpipe train ...`` the run is distributed (DDP).

    rawpipe train --model teacher --steps 20000 --out-dir runs/teacher --export-name teacher
    rawpipe distill --teacher teacher --student student --steps 20000 --export-name student
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from collections.abc import Sequence
from typing import Any

from rawpipe.train.config import TrainConfig

__all__ = ["build_parser", "config_from_args", "distill_main", "train_main"]


def _parse_json(s: str) -> Any:
    try:
        return json.loads(s)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON: {s!r} ({e})") from e


def _optional(conv: Any) -> Any:
    def f(s: str) -> Any:
        return None if s.lower() in ("none", "null") else conv(s)

    f.__name__ = getattr(conv, "__name__", "value")
    return f


def _add_field_options(p: argparse.ArgumentParser, skip: Sequence[str] = ()) -> None:
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if f.name in skip:
            continue
        opt = "--" + f.name.replace("_", "-")
        hint = hints[f.name]
        text = str(hint)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_ = f"(default: {json.dumps(default) if not isinstance(default, str) else default})"
        kw: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_}
        if hint is bool:
            p.add_argument(opt, action=argparse.BooleanOptionalAction, **kw)
            continue
        if "Mapping" in text or "tuple" in text:
            conv: Any = _parse_json
            kw["metavar"] = "JSON"
        elif hint in (int, float, str):
            conv = hint
        elif "int" in text:
            conv = int
        elif "float" in text:
            conv = float
        else:
            conv = str
        if "None" in text:
            conv = _optional(conv)
        p.add_argument(opt, type=conv, **kw)


def build_parser(prog: str = "rawpipe train", distill: bool = False) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="JSON file with a TrainConfig (options below override it)")
    p.add_argument("--no-resume", action="store_true", help="ignore existing checkpoints")
    p.add_argument("--print-config", action="store_true", help="print the config and exit")
    if distill:
        p.add_argument("--student", dest="model", default=argparse.SUPPRESS,
                       help="student model (alias of --model; default: student)")  # fmt: skip
    _add_field_options(p)
    return p


def config_from_args(args: argparse.Namespace, *, distill: bool = False) -> TrainConfig:
    base: dict[str, Any] = {}
    if args.config:
        base = TrainConfig.from_json(args.config).to_dict()
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    overrides = {k: v for k, v in vars(args).items() if k in names}
    merged = {**base, **overrides}
    if distill:
        merged.setdefault("model", "student")
        merged.setdefault("teacher", "teacher")
        if not merged.get("teacher"):
            raise SystemExit("rawpipe distill needs a teacher (--teacher NAME)")
        merged.setdefault("out_dir", "runs/distill")
    return TrainConfig.from_dict(merged)


def _main(argv: Sequence[str] | None, distill: bool) -> int:
    prog = "rawpipe distill" if distill else "rawpipe train"
    parser = build_parser(prog, distill)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args, distill=distill)
    except (ValueError, TypeError) as e:
        parser.error(str(e))
    if args.print_config:
        print(config.to_json())
        return 0
    from rawpipe.train.trainer import train

    summary = train(config, resume=not args.no_resume)
    if summary.get("validation") is not None or "final_weights" in summary:
        printable = {k: (str(v) if not isinstance(v, (int, float, dict)) else v)
                     for k, v in summary.items()}  # fmt: skip
        print(json.dumps(printable, indent=2, default=str), file=sys.stderr)
    return 0


def train_main(argv: Sequence[str] | None = None) -> int:
    """``rawpipe train``: supervised training of one model (teacher or student)."""
    return _main(argv, distill=False)


def distill_main(argv: Sequence[str] | None = None) -> int:
    """``rawpipe distill``: distil a trained teacher into a student."""
    return _main(argv, distill=True)


if __name__ == "__main__":  # python -m rawpipe.train.cli [distill] ...
    argv = sys.argv[1:]
    if argv and argv[0] in ("train", "distill"):
        sys.exit(_main(argv[1:], distill=argv[0] == "distill"))
    sys.exit(train_main(argv))
