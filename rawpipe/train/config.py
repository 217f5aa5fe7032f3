"""``TrainConfig``: every knob of a training or distillation run in one frozen dataclass.

The CLI (:mod:`rawpipe.train.cli`) only parses arguments into it; a run writes it to
``<out_dir>/config.json`` and a checkpoint carries it, so ``TrainConfig.from_json`` reproduces the
run. Loss weights (see :mod:`rawpipe.train.losses` and :mod:`rawpipe.train.tasks`):

- ``w_vst``: L1 in the VST domain between the network output and T(y) = E[f(z) | y] of the clean
  target (the quantity the exact unbiased inverse inverts; ARCHITECTURE.md contract);
- ``w_rgb``: L1 after the inverse VST, in an unclamped sRGB-curve domain after white balance and
  the camera→sRGB matrix (what the validation CPSNR measures, without its clipping);
- ``w_kd_out``: L1 between student and teacher outputs in the VST domain (distillation only);
- ``w_kd_feat``: feature distillation through 1×1 adapters on matching feature taps.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["TrainConfig"]

# lr 2e-3 collapsed a run to a constant output in TOOLCHAIN.md's measurements.
MAX_SAFE_LR = 1e-3


@dataclass(frozen=True)
class TrainConfig:
    """A training (``teacher`` is None) or distillation run.

    ``steps`` counts optimiser steps (a skipped step still counts: the schedule and the data
    position follow the step counter). ``batch`` is per process; with ``torchrun`` the global
    batch is ``batch × world_size``.
    """

    model: str = "student"
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    teacher: str | None = None
    teacher_weights: str | None = None
    """Weights file of the teacher; ``None`` loads the shipped ``rawpipe/weights/<teacher>``."""
    teacher_kwargs: Mapping[str, Any] = field(default_factory=dict)
    init_weights: str | None = None
    """Start the model from this weights file instead of a random initialisation."""

    # optimisation
    steps: int = 20_000
    batch: int = 16
    patch: int = 128
    lr: float = 5e-4
    min_lr: float = 1e-5
    warmup: int = 500
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    """Clip the global gradient norm to this (0 disables)."""

    # loss weights
    w_vst: float = 1.0
    w_rgb: float = 0.5
    w_kd_out: float = 1.0
    w_kd_feat: float = 0.1
    kd_features: tuple[str, ...] | None = None
    """Feature taps to distil (default: every tap the student and teacher share)."""

    # loss-spike guard
    spike_factor: float = 4.0
    """A step whose loss exceeds ``spike_factor`` × the median of recent losses is skipped."""
    spike_window: int = 50
    spike_min_history: int = 20
    max_consecutive_skips: int = 5
    """After this many skipped steps in a row, roll back to the last checkpoint (weights and
    optimiser; the data position keeps going) and halve the learning rate."""

    # data
    dataset: str = "synthetic"
    """``"synthetic"``: :class:`rawpipe.data.SyntheticPairs` (photos; the real thing);
    ``"toy"``: :class:`rawpipe.train.toy.ToyPairs` (procedural; smoke runs and tests)."""
    data: Mapping[str, Any] = field(default_factory=dict)
    """JSON keyword arguments of :class:`rawpipe.data.SyntheticPairs` (or ``ToyPairs``), e.g.
    ``{"scale_range": [2, 4]}``; ``patch_size`` and ``seed`` come from ``patch`` and ``seed``."""
    val_levels: tuple[str, ...] = ("clean", "iso400", "iso1600", "iso6400", "dark")
    val_images: int | None = None
    """Validate on the first ``val_images`` images of each level (``None``: all)."""
    val_max_size: int | None = None
    """Centre-crop validation photos to at most this many pixels per side (``None``: whole)."""

    # bookkeeping
    seed: int = 0
    out_dir: str = "runs/train"
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 50
    val_every: int = 5000
    num_workers: int = 0
    device: str = "auto"
    """``"auto"``: CUDA when available (``cuda:<LOCAL_RANK>`` under torchrun), else CPU."""
    amp: bool = False
    """bfloat16 autocast for the network on CUDA (the VST and losses stay float32)."""
    threads: int | None = None
    """torch intra-op threads per process (``None``: torch's default)."""
    progress: bool = True
    export_name: str | None = None
    """After training, write the weights to ``rawpipe/weights/<export_name>.safetensors`` with a
    model card beside them (``None``: only ``<out_dir>/final.safetensors``)."""
    export_dir: str | None = None
    """Directory for the exported weights and card (default: the package's ``rawpipe/weights``)."""

    def __post_init__(self) -> None:
        def positive(name: str) -> None:
            if getattr(self, name) <= 0:
                raise ValueError(f"TrainConfig.{name} must be positive, got {getattr(self, name)}")

        for name in ("steps", "batch", "patch", "lr", "checkpoint_every", "log_every", "val_every"):
            positive(name)
        if self.patch % 2:
            raise ValueError(f"TrainConfig.patch must be even (RGGB), got {self.patch}")
        if self.lr > MAX_SAFE_LR:
            raise ValueError(
                f"TrainConfig.lr={self.lr} is above {MAX_SAFE_LR}: at 2e-3 training collapsed to a "
                "constant output (../shared/TOOLCHAIN.md)"
            )
        if self.min_lr > self.lr:
            raise ValueError("TrainConfig.min_lr must not exceed lr")
        if self.warmup < 0 or self.num_workers < 0:
            raise ValueError("TrainConfig.warmup and num_workers must be >= 0")
        for name in ("w_vst", "w_rgb", "w_kd_out", "w_kd_feat"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0")
        if self.w_vst == 0 and self.w_rgb == 0 and (self.teacher is None or self.w_kd_out == 0):
            raise ValueError("every loss weight is zero")
        if self.dataset not in ("synthetic", "toy"):
            raise ValueError(
                f"TrainConfig.dataset must be 'synthetic' or 'toy', got {self.dataset!r}"
            )
        if self.spike_factor <= 1:
            raise ValueError("TrainConfig.spike_factor must be > 1")
        # Normalise containers so that JSON round trips compare equal.
        object.__setattr__(self, "model_kwargs", _plain(self.model_kwargs))
        object.__setattr__(self, "teacher_kwargs", _plain(self.teacher_kwargs))
        object.__setattr__(self, "data", _plain(self.data))
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        object.__setattr__(self, "val_levels", tuple(self.val_levels))
        if self.kd_features is not None:
            object.__setattr__(self, "kd_features", tuple(self.kd_features))

    @property
    def distill(self) -> bool:
        return self.teacher is not None

    # ---------------------------------------------------------------------------------------
    # serialisation

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}")
        return cls(**dict(d))

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike[str]) -> TrainConfig:
        """From a JSON string or a path to a JSON file."""
        s = str(text_or_path)
        if not s.lstrip().startswith("{"):
            s = Path(s).read_text()
        return cls.from_dict(json.loads(s))

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def _plain(m: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-shaped copy (tuples → lists) so that configs equal their JSON round trip."""
    return json.loads(json.dumps(dict(m)))


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return list(v)
    if isinstance(v, Mapping):
        return dict(v)
    return v
