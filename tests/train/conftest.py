"""Fixtures for training tests: a tiny network config and a tiny run config on toy data."""

from __future__ import annotations

import pytest

TINY = {"widths": [4, 8], "block": "conv", "enc_blocks": 1, "dec_blocks": 1, "mid_blocks": 1}


@pytest.fixture
def tiny_kwargs() -> dict:
    return dict(TINY)


@pytest.fixture
def tiny_config(tmp_path):
    """``tiny_config(**changes)`` → a 6-step TrainConfig of a 2-level, width-4/8 student on
    32² toy patches, no validation, no progress bar, one torch thread."""
    from rawpipe.train import TrainConfig

    def make(**changes):
        base = dict(
            model="student",
            model_kwargs=dict(TINY),
            dataset="toy",
            steps=6,
            batch=2,
            patch=32,
            lr=5e-4,
            warmup=2,
            checkpoint_every=3,
            log_every=1,
            val_every=1000,
            val_levels=(),
            out_dir=str(tmp_path / "run"),
            progress=False,
            threads=1,
        )
        base.update(changes)
        return TrainConfig(**base)

    return make


@pytest.fixture
def tiny_teacher_weights(tmp_path):
    """A randomly initialised tiny teacher saved as a weights file (path, model kwargs)."""
    import torch

    from rawpipe.models import create_model, save_weights

    torch.manual_seed(123)
    kwargs = {"widths": [8, 16], "block": "conv", "enc_blocks": 1, "dec_blocks": 1,
              "mid_blocks": 1}  # fmt: skip
    net = create_model("teacher", pretrained=False, **kwargs)
    path = save_weights(net, tmp_path / "teacher.safetensors")
    return path, kwargs
