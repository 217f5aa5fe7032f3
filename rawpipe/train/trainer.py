"""The training loop: schedule, loss-spike guard, logs, atomic checkpoints with full resume, DDP.

One :class:`Trainer` runs a :class:`~rawpipe.train.config.TrainConfig`:

- **data**: a map-style dataset whose item ``i`` is a deterministic function of ``(seed, i)``
  (:class:`rawpipe.data.SyntheticPairs`). Step ``s`` of process ``r`` of ``W`` reads the samples
  ``pos + r·batch … pos + (r+1)·batch − 1`` where ``pos`` is the global data position (advanced by
  ``batch·W`` per step and stored in checkpoints), so a resumed run reads exactly the batches an
  uninterrupted run would, whatever the number of loader workers.
- **optimiser**: AdamW; learning rate by :class:`WarmupCosine` (linear warm-up, cosine decay to
  ``min_lr``), gradient-norm clipping.
- **spike guard** (:class:`SpikeGuard`): a step whose loss or gradient norm is not finite, or
  whose loss exceeds ``spike_factor`` × the median of recent accepted losses, is skipped (no
  update); after ``max_consecutive_skips`` in a row the weights and optimiser roll back to the last
  checkpoint and the learning rate is halved. In DDP the decision is taken on the all-reduced loss,
  so every process agrees.
- **checkpoints** (:mod:`rawpipe.train.checkpoint`): every ``checkpoint_every`` steps and at the
  end; safetensors + JSON, atomic; a new Trainer on the same ``out_dir`` resumes from the latest
  one: weights, optimiser, schedule, guard, RNG, step and data position. The result is
  bit-identical to an uninterrupted run (same device, same thread count).
- **logs**: ``train.csv``/``train.jsonl`` every ``log_every`` steps, ``val.csv``/``val.jsonl`` at
  each validation (CPSNR per level), ``config.json``; rows beyond a resumed step are dropped.
- **DDP**: under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the process group is
  initialised with gloo on CPU or NCCL on CUDA; process 0 logs, validates and writes files.
- **export**: ``<out_dir>/final.safetensors`` (the network's weights, via
  :func:`rawpipe.models.save_weights`) and, with ``export_name``, the package weights file and
  its model card (:mod:`rawpipe.train.export`).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import random
import statistics
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rawpipe._atomic import atomic_write_bytes
from rawpipe.models.jdd import JDDNet, pad_to_multiple
from rawpipe.train import checkpoint as ckpt
from rawpipe.train.config import TrainConfig
from rawpipe.train.tasks import BATCH_KEYS, DistillationTask, JDDTask

__all__ = ["DistInfo", "SpikeGuard", "Trainer", "WarmupCosine", "evaluate", "train"]

TRAIN_FIELDS = (
    "step", "loss", "task_loss", "kd_loss", "lr", "grad_norm", "skipped", "rollbacks",
    "steps_per_s", "data_s", "elapsed_s",
)  # fmt: skip
VAL_FIELDS = ("step", "level", "cpsnr", "images")


# ------------------------------------------------------------------------------------------------
# schedule and guard


class WarmupCosine:
    """Learning rate at step ``s``: linear warm-up over ``warmup`` steps to ``lr``, then cosine
    decay to ``min_lr`` at ``total``; everything times ``scale`` (halved by each rollback)."""

    def __init__(self, lr: float, min_lr: float, warmup: int, total: int) -> None:
        self.lr, self.min_lr, self.warmup, self.total = lr, min_lr, warmup, total
        self.scale = 1.0

    def lr_at(self, step: int) -> float:
        if step < self.warmup:
            lr = self.lr * (step + 1) / self.warmup
        else:
            t = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
            lr = self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))
        return lr * self.scale

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        lr = self.lr_at(step)
        for g in optimizer.param_groups:
            g["lr"] = lr
        return lr

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.scale = float(state["scale"])


class SpikeGuard:
    """Decides per step: ``"ok"`` (update), ``"skip"`` (drop this update) or ``"rollback"``.

    A loss is a spike if it is not finite, or if at least ``min_history`` accepted losses are known
    and it exceeds ``factor`` × their median over the last ``window``.
    """

    def __init__(
        self, factor: float = 4.0, window: int = 50, min_history: int = 20, max_skips: int = 5
    ) -> None:
        self.factor, self.window, self.min_history, self.max_skips = (
            factor, window, min_history, max_skips,
        )  # fmt: skip
        self.history: list[float] = []
        self.consecutive = 0
        self.skipped = 0
        self.rollbacks = 0

    def is_spike(self, loss: float) -> bool:
        if not math.isfinite(loss):
            return True
        if len(self.history) < self.min_history:
            return False
        return loss > self.factor * statistics.median(self.history)

    def check(self, loss: float, grad_finite: bool = True) -> str:
        if grad_finite and not self.is_spike(loss):
            self.history = [*self.history, float(loss)][-self.window :]
            self.consecutive = 0
            return "ok"
        self.skipped += 1
        self.consecutive += 1
        if self.consecutive >= self.max_skips:
            self.consecutive = 0
            self.rollbacks += 1
            return "rollback"
        return "skip"

    def state_dict(self) -> dict[str, Any]:
        return {
            "history": list(self.history),
            "consecutive": self.consecutive,
            "skipped": self.skipped,
            "rollbacks": self.rollbacks,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.history = [float(v) for v in state["history"]]
        self.consecutive = int(state["consecutive"])
        self.skipped = int(state["skipped"])
        self.rollbacks = int(state["rollbacks"])


# ------------------------------------------------------------------------------------------------
# distributed


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    initialised_here: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device_kind: str) -> DistInfo:
    """Initialise the process group from torchrun's environment variables, if there are several
    processes (gloo on CPU, NCCL on CUDA)."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    here = False
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        if device_kind == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world)
        here = True
    return DistInfo(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local,
                    initialised_here=here)  # fmt: skip


def _resolve_device(name: str) -> torch.device:
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local}"
    return torch.device(name)


def _barrier(dist_info: DistInfo) -> None:
    if dist_info.world > 1:
        import torch.distributed as dist

        dist.barrier()


def _all_mean(t: Tensor, dist_info: DistInfo) -> Tensor:
    if dist_info.world > 1:
        import torch.distributed as dist

        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t = t / dist_info.world
    return t


# ------------------------------------------------------------------------------------------------
# data


class _PositionSampler(torch.utils.data.Sampler[int]):
    """Endless sample indices: step k (from 0) of process ``rank`` reads
    ``start + k·batch·world + rank·batch + j`` for ``j < batch``."""

    def __init__(self, start: int, batch: int, rank: int, world: int) -> None:
        self.start, self.batch, self.rank, self.world = start, batch, rank, world

    def __iter__(self) -> Iterator[int]:
        pos = self.start + self.rank * self.batch
        while True:
            yield from range(pos, pos + self.batch)
            pos += self.batch * self.world


def _default_dataset(config: TrainConfig) -> Any:
    if config.dataset == "toy":
        from rawpipe.train.toy import ToyPairs

        return ToyPairs(**{"patch": config.patch, "seed": config.seed, **dict(config.data)})
    from rawpipe.data import SyntheticPairs

    # Decode the photos once before DataLoader workers fork (they then share the cache).
    kwargs = {"patch_size": config.patch, "seed": config.seed, "preload": True}
    return SyntheticPairs(**{**kwargs, **dict(config.data)})


def _default_val_sets(config: TrainConfig) -> dict[str, Any]:
    if not config.val_levels:
        return {}
    if config.dataset == "toy":
        from rawpipe.train.toy import toy_validation_sets

        return toy_validation_sets(config.val_levels)
    from rawpipe.data import validation_set

    # The validation images do not depend on the run's seed: every run is scored on the same set.
    return {
        level: validation_set(level, max_size=config.val_max_size) for level in config.val_levels
    }


def _to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Tensor]:
    out = {}
    for k in BATCH_KEYS:
        if k not in batch:
            raise KeyError(f"batch has no {k!r} (keys: {sorted(batch)})")
        out[k] = torch.as_tensor(batch[k]).to(device, torch.float32, non_blocking=True)
    return out


# ------------------------------------------------------------------------------------------------
# logs


class _Table:
    """One CSV and one JSONL file with the same rows (appended; process 0 only)."""

    def __init__(self, out_dir: Path, name: str, fields: tuple[str, ...]) -> None:
        self.csv, self.jsonl, self.fields = (
            out_dir / f"{name}.csv",
            out_dir / f"{name}.jsonl",
            fields,
        )

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after ``step`` (a crashed run's tail, before resuming at ``step``)."""
        if not self.jsonl.exists():
            return
        rows = [json.loads(line) for line in self.jsonl.read_text().splitlines() if line.strip()]
        rows = [r for r in rows if int(r["step"]) <= step]
        atomic_write_bytes(self.jsonl, "".join(json.dumps(r) + "\n" for r in rows).encode())
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
        atomic_write_bytes(self.csv, buf.getvalue().encode())

    def write(self, row: Mapping[str, Any]) -> None:
        new = not self.csv.exists()
        with open(self.csv, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(dict(row)) + "\n")


# ------------------------------------------------------------------------------------------------
# evaluation


def evaluate(
    model: JDDNet, dataset: Any, *, limit: int | None = None, device: torch.device | None = None
) -> dict[str, float]:
    """Mean CPSNR (:func:`rawpipe.train.losses.cpsnr`, 10 px border) of ``model`` over the items
    of ``dataset`` (dicts with unbatched ``mosaic``, ``target``, ``shot``, ``read``, ``wb``,
    ``cam_to_srgb``), each image padded to the model's alignment and cropped back."""
    from rawpipe.train.losses import cpsnr

    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    scores = []
    n = len(dataset) if limit is None else min(limit, len(dataset))
    try:
        with torch.inference_mode():
            for i in range(n):
                item = dataset[i]
                b = {
                    k: torch.as_tensor(item[k])[None].to(device, torch.float32) for k in BATCH_KEYS
                }
                x, (h, w) = pad_to_multiple(b["mosaic"], model.alignment)
                y = model(x, b["shot"], b["read"])[..., :h, :w]
                scores.append(float(cpsnr(y, b["target"], b["wb"], b["cam_to_srgb"])[0]))
    finally:
        model.train(was_training)
    return {"cpsnr": float(np.mean(scores)) if scores else float("nan"), "images": len(scores)}


# ------------------------------------------------------------------------------------------------
# the trainer


def _build_net(
    name: str, kwargs: Mapping[str, Any], weights: str | None, pretrained: Any
) -> nn.Module:
    from rawpipe.models import create_model

    return create_model(name, pretrained=pretrained, weights=weights, **dict(kwargs))


class Trainer:
    """Runs a :class:`TrainConfig`. ``dataset``/``val_sets`` override the synthetic data (tests);
    ``val_sets={}`` disables validation. ``resume=True`` continues from the latest checkpoint in
    ``<out_dir>/checkpoints`` if there is one."""

    def __init__(
        self,
        config: TrainConfig,
        *,
        dataset: Any = None,
        val_sets: Mapping[str, Any] | None = None,
        resume: bool = True,
    ) -> None:
        self.config = config
        if config.threads:
            torch.set_num_threads(int(config.threads))
        self.device = _resolve_device(config.device)
        self.dist = _init_distributed(self.device.type)
        self.out_dir = Path(config.out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"

        # Same seed on every process: identical initial weights (DDP also broadcasts them).
        _seed_everything(config.seed)
        net = _build_net(config.model, config.model_kwargs, config.init_weights, False)
        model = JDDNet(net)
        if config.distill:
            t_net = _build_net(
                config.teacher,
                config.teacher_kwargs,
                config.teacher_weights,
                True if config.teacher_weights is None else False,
            )
            self.task: JDDTask = DistillationTask(
                model,
                JDDNet(t_net),
                w_vst=config.w_vst,
                w_rgb=config.w_rgb,
                w_kd_out=config.w_kd_out,
                w_kd_feat=config.w_kd_feat,
                features=config.kd_features,
            )
        else:
            self.task = JDDTask(model, w_vst=config.w_vst, w_rgb=config.w_rgb)
        if config.amp and self.device.type == "cuda":
            model.autocast_dtype = torch.bfloat16
            if isinstance(self.task, DistillationTask):
                self.task.teacher.autocast_dtype = torch.bfloat16
        self.task.to(self.device)
        self.params = [p for p in self.task.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            self.params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
        )
        self.schedule = WarmupCosine(config.lr, config.min_lr, config.warmup, config.steps)
        self.guard = SpikeGuard(
            config.spike_factor, config.spike_window, config.spike_min_history,
            config.max_consecutive_skips,
        )  # fmt: skip
        self.step = 0
        self.sample_pos = 0
        self.elapsed = 0.0  # training seconds over all sessions of this run
        self.resumed_from: Path | None = None
        if resume:
            latest = ckpt.find_latest_checkpoint(self.ckpt_dir)
            if latest is not None:
                self._restore(ckpt.load_checkpoint(latest))
                self.resumed_from = latest
        self._snapshot()

        self.module: nn.Module = self.task
        if self.dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.module = DDP(self.task, device_ids=ids, broadcast_buffers=False)

        self._dataset = dataset
        self._val_sets = val_sets
        self.train_log = _Table(self.out_dir, "train", TRAIN_FIELDS)
        self.val_log = _Table(self.out_dir, "val", VAL_FIELDS)
        self.last_val: dict[str, dict[str, float]] = {}

    # -- state ------------------------------------------------------------------------------

    def _state(self) -> tuple[dict[str, dict[str, Tensor]], dict[str, Any]]:
        optim_t, optim_index = ckpt.optimizer_to_tensors(self.optimizer.state_dict())
        rng_t, rng_extra = ckpt.capture_rng()
        tensors = {"model": self.task.trainable_state_dict(), "optim": optim_t, "rng": rng_t}
        state = {
            "optimizer": optim_index,
            "schedule": self.schedule.state_dict(),
            "guard": self.guard.state_dict(),
            "rng": rng_extra,
            "sample_pos": self.sample_pos,
            "elapsed_s": self.elapsed,
            "world_size": self.dist.world,
            "config": self.config.to_dict(),
        }
        return tensors, state

    def _restore(self, c: ckpt.Checkpoint) -> None:
        saved = dict(c.state.get("config", {}))
        for key in ("model", "model_kwargs", "teacher", "seed", "batch", "patch", "data"):
            if key in saved and saved[key] != self.config.to_dict()[key]:
                raise ckpt.CheckpointError(
                    f"checkpoint {c.path} was written with {key}={saved[key]!r}, this run has "
                    f"{self.config.to_dict()[key]!r}; use another out_dir or resume=False"
                )
        self.task.load_trainable_state_dict(c.group("model"))
        self.optimizer.load_state_dict(
            ckpt.optimizer_from_tensors(c.group("optim"), c.state["optimizer"])
        )
        self.schedule.load_state_dict(c.state["schedule"])
        self.guard.load_state_dict(c.state["guard"])
        ckpt.restore_rng(c.group("rng"), c.state["rng"])
        self.step = c.step
        self.sample_pos = int(c.state["sample_pos"])
        self.elapsed = float(c.state.get("elapsed_s", 0.0))

    def _snapshot(self) -> None:
        """In-memory copy of the last checkpointed weights and optimiser (for rollbacks)."""
        self._good = (
            {k: v.detach().clone() for k, v in self.task.trainable_state_dict().items()},
            copy.deepcopy(self.optimizer.state_dict()),
        )

    def _rollback(self) -> None:
        weights, optim = self._good
        self.task.load_trainable_state_dict(weights)
        self.optimizer.load_state_dict(copy.deepcopy(optim))
        self.schedule.scale *= 0.5

    def save_checkpoint(self) -> Path | None:
        path = None
        if self.dist.main:
            tensors, state = self._state()
            path = ckpt.save_checkpoint(
                self.ckpt_dir, self.step, tensors, state, keep=self.config.keep_checkpoints
            )
        self._snapshot()
        _barrier(self.dist)
        return path

    # -- data -------------------------------------------------------------------------------

    @property
    def dataset(self) -> Any:
        if self._dataset is None:
            self._dataset = _default_dataset(self.config)
        return self._dataset

    @property
    def val_sets(self) -> Mapping[str, Any]:
        if self._val_sets is None:
            self._val_sets = _default_val_sets(self.config)
        return self._val_sets

    def _loader(self) -> Iterator[Mapping[str, Any]]:
        sampler = _PositionSampler(
            self.sample_pos, self.config.batch, self.dist.rank, self.dist.world
        )
        loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_size=self.config.batch,
            sampler=sampler,
            num_workers=self.config.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        return iter(loader)

    # -- loop -------------------------------------------------------------------------------

    def train_step(self, batch: Mapping[str, Tensor]) -> dict[str, Any]:
        """One optimiser step (or a skipped one) on a device batch."""
        cfg = self.config
        lr = self.schedule.apply(self.optimizer, self.step)
        self.optimizer.zero_grad(set_to_none=True)
        out = self.module(batch)
        loss = out["loss"]
        # Always backward (DDP's all-reduce must run on every process); a non-finite loss gives
        # non-finite gradients, and the guard below then skips the update.
        loss.backward()
        stats = torch.stack(
            [loss.detach().float(), out["task_loss"].float(), out["kd_loss"].float()]
        )
        stats = _all_mean(stats.to(self.device), self.dist).cpu()
        if cfg.grad_clip > 0:
            gn = float(torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip))
        else:
            gn = float(torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in self.params if p.grad is not None])
            ))  # fmt: skip
        decision = self.guard.check(float(stats[0]), math.isfinite(gn))
        if decision == "ok":
            self.optimizer.step()
        elif decision == "rollback":
            self._rollback()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.sample_pos += cfg.batch * self.dist.world
        return {
            "loss": float(stats[0]),
            "task_loss": float(stats[1]),
            "kd_loss": float(stats[2]),
            "lr": lr,
            "grad_norm": gn,
            "decision": decision,
        }

    def validate(self) -> dict[str, dict[str, float]]:
        """CPSNR per validation level (process 0 computes; everybody waits)."""
        results: dict[str, dict[str, float]] = {}
        if self.dist.main and self.val_sets:
            for level, ds in self.val_sets.items():
                r = evaluate(self.task.model, ds, limit=self.config.val_images, device=self.device)
                results[level] = r
                self.val_log.write({"step": self.step, "level": level, **r})
            self.last_val = results
        _barrier(self.dist)
        return results

    def fit(self, stop_at: int | None = None) -> dict[str, Any]:
        """Train until ``config.steps`` (or until ``stop_at``, to simulate an interruption).

        Returns a summary (steps, seconds, steps/s, last losses, validation, files written)."""
        cfg = self.config
        end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
        if self.dist.main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.out_dir / "config.json", cfg.to_json().encode())
            self.train_log.truncate_after(self.step)
            self.val_log.truncate_after(self.step)
        from tqdm.auto import tqdm

        bar = tqdm(
            total=cfg.steps,
            initial=self.step,
            desc=f"{'distill' if cfg.distill else 'train'} {cfg.model}",
            unit="step",
            disable=not (cfg.progress and self.dist.main),
            dynamic_ncols=True,
        )
        self.task.train()
        window: list[dict[str, Any]] = []
        t_window = time.perf_counter()
        session_start, session_steps, train_time = self.step, 0, 0.0
        it = self._loader() if self.step < end else iter(())
        try:
            while self.step < end:
                t0 = time.perf_counter()
                batch = _to_device(next(it), self.device)
                t_data = time.perf_counter() - t0
                info = self.train_step(batch)
                info["data_s"] = t_data
                dt = time.perf_counter() - t0
                train_time += dt
                self.elapsed += dt
                session_steps += 1
                window.append(info)
                bar.update(1)
                bar.set_postfix(loss=f"{info['loss']:.4f}", lr=f"{info['lr']:.2e}", refresh=False)
                if self.step % cfg.log_every == 0 or self.step == end:
                    ok = [w for w in window if w["decision"] == "ok"] or window
                    now = time.perf_counter()
                    row = {
                        "step": self.step,
                        "loss": float(np.mean([w["loss"] for w in ok])),
                        "task_loss": float(np.mean([w["task_loss"] for w in ok])),
                        "kd_loss": float(np.mean([w["kd_loss"] for w in ok])),
                        "lr": info["lr"],
                        "grad_norm": float(np.mean([w["grad_norm"] for w in ok])),
                        "skipped": self.guard.skipped,
                        "rollbacks": self.guard.rollbacks,
                        "steps_per_s": len(window) / max(now - t_window, 1e-9),
                        "data_s": float(np.mean([w["data_s"] for w in window])),
                        "elapsed_s": self.elapsed,
                    }
                    if self.dist.main:
                        self.train_log.write(row)
                    window, t_window = [], now
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                    self.save_checkpoint()
                if self.step % cfg.val_every == 0 and self.step != cfg.steps:
                    self.validate()
        finally:
            bar.close()
        summary: dict[str, Any] = {
            "step": self.step,
            "session_steps": self.step - session_start,
            "train_seconds": train_time,
            "steps_per_s": session_steps / train_time if train_time > 0 else float("nan"),
            "skipped": self.guard.skipped,
            "rollbacks": self.guard.rollbacks,
            "world_size": self.dist.world,
            "device": str(self.device),
        }
        if self.step >= cfg.steps:
            summary["validation"] = self.validate()
            summary.update(self._finish(summary))
        return summary

    def _finish(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        """Write ``final.safetensors`` (and the package weights + model card with export_name)."""
        out: dict[str, Any] = {}
        if self.dist.main:
            from rawpipe.train.export import export_trained

            out = export_trained(self, summary)
        _barrier(self.dist)
        return out

    def close(self) -> None:
        """Tear down a process group this trainer created."""
        if self.dist.initialised_here:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the legacy global state, for user code)
    torch.manual_seed(seed)


def train(config: TrainConfig, **kwargs: Any) -> dict[str, Any]:
    """Build a :class:`Trainer`, run it to the end, tear down; return its summary."""
    trainer = Trainer(config, **kwargs)
    try:
        return trainer.fit()
    finally:
        trainer.close()
