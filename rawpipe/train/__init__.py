"""Training and distillation of the JDD networks (issue 4).

>>> from rawpipe.train import TrainConfig
>>> TrainConfig(model="student", steps=10).lr <= 1e-3
True

- :class:`TrainConfig` (``config``): one frozen dataclass per run, JSON and CLI round trip;
- ``losses``: VST-domain L1 to T(y) = E[f(z) | y], L1 after the inverse, the CPSNR metric;
- ``tasks``: :class:`JDDTask`, :class:`DistillationTask` (forward returns a dict of losses);
- ``trainer``: :class:`Trainer` / :func:`train` (atomic checkpoints, resume, spike guard, DDP);
- ``cli``: ``train_main`` / ``distill_main`` behind ``rawpipe train`` / ``rawpipe distill``.
"""

from __future__ import annotations

from rawpipe.train.config import TrainConfig
from rawpipe.train.tasks import DistillationTask, JDDTask
from rawpipe.train.trainer import SpikeGuard, Trainer, WarmupCosine, evaluate, train

__all__ = [
    "DistillationTask",
    "JDDTask",
    "SpikeGuard",
    "TrainConfig",
    "Trainer",
    "WarmupCosine",
    "evaluate",
    "train",
]
