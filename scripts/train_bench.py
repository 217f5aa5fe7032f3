"""Training speed of a model on this machine: optimiser steps per second at a given batch and patch.

    python scripts/train_bench.py --model student --batch 16 --patch 128 --steps 10
    python scripts/train_bench.py --model student --teacher teacher --teacher-random  # distillation

Times ``Trainer.train_step`` (forward, VST pair, losses, backward, AdamW) on one pre-made toy batch,
after two warm-up steps, so data generation is excluded (it is reported separately).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="student")
    p.add_argument("--teacher", default=None)
    p.add_argument("--teacher-random", action="store_true", help="random teacher weights")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", action="store_true")
    args = p.parse_args()

    from rawpipe.models import create_model, save_weights
    from rawpipe.train import TrainConfig, Trainer
    from rawpipe.train.trainer import _to_device

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        teacher_weights = None
        if args.teacher and args.teacher_random:
            teacher_weights = f"{tmp}/teacher.safetensors"
            save_weights(create_model(args.teacher, pretrained=False), teacher_weights)
        cfg = TrainConfig(
            model=args.model, teacher=args.teacher, teacher_weights=teacher_weights,
            dataset="toy", steps=args.steps + 2, batch=args.batch, patch=args.patch,
            out_dir=tmp, progress=False, device=args.device, amp=args.amp, val_levels=(),
            warmup=1, checkpoint_every=10**9,
        )  # fmt: skip
        trainer = Trainer(cfg, val_sets={}, resume=False)
        t0 = time.perf_counter()
        items = [trainer.dataset[i] for i in range(args.batch)]
        data_s = time.perf_counter() - t0
        batch = _to_device({k: torch.stack([it[k] for it in items]) for k in items[0]},
                           trainer.device)  # fmt: skip
        trainer.task.train()
        for _ in range(2):
            trainer.train_step(batch)
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step(batch)
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        dt = (time.perf_counter() - t0) / args.steps
        print(json.dumps({
            "model": args.model, "teacher": args.teacher, "batch": args.batch,
            "patch": args.patch, "device": str(trainer.device),
            "threads": torch.get_num_threads(), "s_per_step": round(dt, 4),
            "steps_per_s": round(1 / dt, 3), "toy_data_s_per_batch": round(data_s, 4),
        }))  # fmt: skip


if __name__ == "__main__":
    main()
