"""The standard training runs of rawpipe, one recipe each (what ``make train-teacher`` and
``make distill`` run).

    python scripts/train_recipes.py teacher                 # rawpipe/weights/teacher.safetensors
    python scripts/train_recipes.py student                 # distilled from the shipped teacher
    python scripts/train_recipes.py student-scratch --seed 1 --steps 3000  # no-teacher baseline
    python scripts/train_recipes.py teacher --nproc 2       # torchrun DDP (gloo CPU, NCCL CUDA)
    python scripts/train_recipes.py teacher --print         # show the TrainConfig JSON only

Any ``TrainConfig`` field can be overridden with ``--set field=JSON`` (e.g. ``--set lr=3e-4``).
A run resumes from its latest checkpoint in ``out_dir`` when started again.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

COMMON = {
    "batch": 16,
    "patch": 128,
    "lr": 5e-4,
    "min_lr": 1e-5,
    "warmup": 500,
    "w_vst": 1.0,
    "w_rgb": 0.5,
    "checkpoint_every": 500,
    "log_every": 50,
    "val_every": 2000,
    "val_images": 8,
}
RECIPES = {
    "teacher": {**COMMON, "model": "teacher", "steps": 20_000, "out_dir": "runs/teacher",
                "export_name": "teacher"},
    "student": {**COMMON, "model": "student", "teacher": "teacher", "steps": 20_000,
                "w_kd_out": 1.0, "w_kd_feat": 0.1, "kd_features": ["dec1", "dec0"],
                "out_dir": "runs/student",
                "export_name": "student"},
    "student-scratch": {**COMMON, "model": "student", "steps": 20_000,
                        "out_dir": "runs/student-scratch"},
}  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("recipe", choices=sorted(RECIPES))
    p.add_argument("--steps", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--out-dir")
    p.add_argument("--device", help="auto (default), cpu, cuda")
    p.add_argument("--nproc", type=int, default=1, help="processes (torchrun) on this machine")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=JSON")
    p.add_argument("--print", action="store_true", help="print the config and exit")
    args = p.parse_args()

    cfg = dict(RECIPES[args.recipe])
    if args.seed is not None:
        cfg["seed"] = args.seed
        cfg["out_dir"] = f"{cfg['out_dir']}-seed{args.seed}"
        cfg.pop("export_name", None)  # seed sweeps never overwrite the shipped weights
    for key in ("steps", "out_dir", "device"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    for item in args.set:
        field, _, value = item.partition("=")
        try:
            cfg[field] = json.loads(value)
        except json.JSONDecodeError:
            cfg[field] = value

    from rawpipe.train import TrainConfig

    config = TrainConfig.from_dict(cfg)
    if args.print:
        print(config.to_json())
        return 0
    command = "distill" if config.distill else "train"
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(config.to_json())
    try:
        cli = ["-m", "rawpipe.train.cli", command, "--config", f.name]
        if args.nproc > 1:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc_per_node={args.nproc}", *cli]  # fmt: skip
        else:
            cmd = [sys.executable, *cli]
        print(" ".join(cmd), file=sys.stderr)
        return subprocess.call(cmd, cwd=Path(__file__).resolve().parents[1], env=os.environ)
    finally:
        os.unlink(f.name)


if __name__ == "__main__":
    sys.exit(main())
