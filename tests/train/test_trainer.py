"""Trainer: bit-identical resume, overfit, spike guard and rollback, logs, export, 2-process DDP."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rawpipe.train import SpikeGuard, Trainer, WarmupCosine, train
from rawpipe.train.toy import ToyPairs

REPO = Path(__file__).resolve().parents[2]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def _assert_bit_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs (max {float((a[k] - b[k]).abs().max())})"


@pytest.mark.parametrize("mode", ["train", "distill"])
def test_resume_is_bit_identical(tmp_path, tiny_config, tiny_teacher_weights, mode):
    extra = {}
    if mode == "distill":
        path, kwargs = tiny_teacher_weights
        extra = {"teacher": "teacher", "teacher_weights": str(path), "teacher_kwargs": kwargs}
    whole = tiny_config(out_dir=str(tmp_path / "whole"), **extra)
    train(whole, val_sets={})

    split = whole.replace(out_dir=str(tmp_path / "split"))
    first = Trainer(split, val_sets={})
    assert first.step == 0
    first.fit(stop_at=3)  # "killed" after step 3 (its checkpoint is on disk)
    assert not (tmp_path / "split" / "final.safetensors").exists()
    del first
    torch.manual_seed(999)  # a resumed process starts from other RNG states
    second = Trainer(split, val_sets={})
    assert second.step == 3 and second.sample_pos == 3 * split.batch
    assert second.resumed_from.name == "step_0000003.safetensors"
    second.fit()

    _assert_bit_identical(
        _weights(tmp_path / "whole" / "final.safetensors"),
        _weights(tmp_path / "split" / "final.safetensors"),
    )
    # the last checkpoints (optimiser state, adapters) agree too
    from rawpipe.train.checkpoint import load_checkpoint

    a = load_checkpoint(tmp_path / "whole" / "checkpoints" / "step_0000006.safetensors")
    b = load_checkpoint(tmp_path / "split" / "checkpoints" / "step_0000006.safetensors")
    _assert_bit_identical(a.group("model"), b.group("model"))
    _assert_bit_identical(a.group("optim"), b.group("optim"))
    if mode == "distill":
        assert any(k.startswith("adapters.") for k in a.group("model"))
    # logs hold each step once, losses equal
    rows_a = [json.loads(x) for x in (tmp_path / "whole" / "train.jsonl").read_text().splitlines()]
    rows_b = [json.loads(x) for x in (tmp_path / "split" / "train.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows_b] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in rows_a] == [r["loss"] for r in rows_b]


def test_resume_drops_log_rows_of_a_crashed_tail(tmp_path, tiny_config):
    cfg = tiny_config(checkpoint_every=2)
    t = Trainer(cfg, val_sets={})
    t.fit(stop_at=3)  # checkpoint at 2, logs up to 3: step 3 is lost with the crash
    t2 = Trainer(cfg, val_sets={})
    assert t2.step == 2
    t2.fit()
    steps = [
        json.loads(x)["step"] for x in (Path(cfg.out_dir) / "train.jsonl").read_text().splitlines()
    ]
    assert steps == [1, 2, 3, 4, 5, 6]
    csv_lines = (Path(cfg.out_dir) / "train.csv").read_text().splitlines()
    assert len(csv_lines) == 7 and csv_lines[0].startswith("step,")


class _OneItem(torch.utils.data.Dataset):
    def __init__(self, item):
        self.item = item

    def __len__(self):
        return 2**62

    def __getitem__(self, i):
        return self.item


def test_loss_decreases_on_trivial_overfit(tiny_config, tiny_kwargs):
    item = ToyPairs(patch=32, seed=3, shot=1e-3, read=1e-6)[0]
    kwargs = {**tiny_kwargs, "widths": [8, 16]}
    cfg = tiny_config(model_kwargs=kwargs, steps=150, lr=1e-3, warmup=5, checkpoint_every=1000,
                      log_every=10)  # fmt: skip
    t = Trainer(cfg, dataset=_OneItem(item), val_sets={})
    t.fit()
    rows = [json.loads(x) for x in (Path(cfg.out_dir) / "train.jsonl").read_text().splitlines()]
    first, last = rows[0]["loss"], rows[-1]["loss"]
    assert last < 0.6 * first, (first, last)  # measured: 1.72 -> 0.70
    assert t.guard.skipped == 0


class _Poisoned(torch.utils.data.Dataset):
    """ToyPairs whose samples at ``bad`` indices have a NaN target."""

    def __init__(self, bad, patch=32):
        self.base, self.bad = ToyPairs(patch=patch, seed=0), set(bad)

    def __len__(self):
        return 2**62

    def __getitem__(self, i):
        item = dict(self.base[i])
        if i in self.bad:
            item["target"] = torch.full_like(item["target"], float("nan"))
        return item


def _net_state(t: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in t.task.model.net.state_dict().items()}


def test_spike_guard_skips_a_nan_step(tiny_config):
    cfg = tiny_config(steps=5, checkpoint_every=1000)
    # step 3 (0-based 2) reads samples 4, 5
    t = Trainer(cfg, dataset=_Poisoned(bad={5}), val_sets={})
    t.fit(stop_at=2)
    before = _net_state(t)
    t.fit(stop_at=3)
    _assert_bit_identical(before, _net_state(t))  # no update from the poisoned batch
    assert t.guard.skipped == 1 and t.step == 3
    t.fit()
    after = _net_state(t)
    assert all(torch.isfinite(v).all() for v in after.values())
    assert not all(torch.equal(before[k], after[k]) for k in before)  # later steps did train
    rows = [json.loads(x) for x in (Path(cfg.out_dir) / "train.jsonl").read_text().splitlines()]
    assert rows[-1]["skipped"] == 1


def test_spike_guard_rolls_back_after_consecutive_skips(tiny_config):
    cfg = tiny_config(steps=8, checkpoint_every=4, max_consecutive_skips=2)
    # steps 6 and 7 (0-based 5, 6) read samples 10..13: both poisoned
    t = Trainer(cfg, dataset=_Poisoned(bad={10, 12}), val_sets={})
    t.fit(stop_at=4)
    at_checkpoint = _net_state(t)
    t.fit(stop_at=5)  # a good step after the checkpoint
    assert not all(torch.equal(at_checkpoint[k], v) for k, v in _net_state(t).items())
    t.fit(stop_at=7)
    assert t.guard.rollbacks == 1 and t.guard.skipped == 2
    _assert_bit_identical(at_checkpoint, _net_state(t))  # rolled back to the step-4 checkpoint
    assert t.schedule.scale == 0.5
    t.fit()
    assert t.step == 8


def test_spike_guard_unit():
    g = SpikeGuard(factor=3.0, window=10, min_history=3, max_skips=2)
    assert g.check(1.0) == "ok" and g.check(100.0) == "ok"  # too little history to judge
    assert g.check(1.0) == "ok"
    assert g.check(50.0) == "skip"  # median of (1, 100, 1) is 1
    assert g.check(float("nan")) == "rollback"
    assert g.check(2.0) == "ok" and g.consecutive == 0
    assert g.check(1.0, grad_finite=False) == "skip"
    state = json.loads(json.dumps(g.state_dict()))
    h = SpikeGuard(factor=3.0, window=10, min_history=3, max_skips=2)
    h.load_state_dict(state)
    assert h.state_dict() == g.state_dict()


def test_warmup_cosine():
    s = WarmupCosine(1e-3, 1e-5, warmup=10, total=110)
    assert s.lr_at(0) == pytest.approx(1e-4)
    assert s.lr_at(9) == pytest.approx(1e-3)
    assert s.lr_at(60) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5)
    assert s.lr_at(110) == pytest.approx(1e-5)
    s.scale = 0.5
    assert s.lr_at(9) == pytest.approx(5e-4)


def test_export_writes_weights_and_model_card(tmp_path, tiny_config):
    from rawpipe.models import create_model
    from rawpipe.train.toy import toy_validation_sets

    cfg = tiny_config(
        export_name="tiny_student", export_dir=str(tmp_path / "weights"), val_levels=("clean",)
    )
    summary = train(cfg, val_sets=toy_validation_sets(("clean", "iso1600"), patch=48))
    w = tmp_path / "weights" / "tiny_student.safetensors"
    assert summary["exported_weights"] == w and w.is_file()
    card = (tmp_path / "weights" / "tiny_student.md").read_text()
    assert "T(y) = E[f(z) | y]" in card and "| clean |" in card and "| iso1600 |" in card
    assert "steps: 6" in card
    net = create_model("student", pretrained=False, weights=w, **cfg.model_kwargs)
    assert net.weights_metadata["steps"] == "6"
    assert math.isfinite(summary["validation"]["iso1600"]["cpsnr"])


def test_ddp_two_processes_match_one_process(tmp_path, tiny_config):
    """torchrun, 2 CPU processes (gloo), 2 steps of batch 2 each == 1 process of batch 4."""
    ddp_cfg = tiny_config(out_dir=str(tmp_path / "ddp"), steps=2, checkpoint_every=1)
    cfg_file = tmp_path / "ddp.json"
    cfg_file.write_text(ddp_cfg.to_json())
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "rawpipe.train.cli", "train", "--config", str(cfg_file), "--no-progress",
    ]  # fmt: skip
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    took = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr[-4000:]
    assert took < 90, f"DDP test took {took:.0f} s"

    single = tiny_config(out_dir=str(tmp_path / "single"), steps=2, batch=4, checkpoint_every=1)
    train(single, val_sets={})
    a = _weights(tmp_path / "ddp" / "final.safetensors")
    b = _weights(tmp_path / "single" / "final.safetensors")
    init = _weights_of_fresh_init(single)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=2e-6)
    assert any(not torch.equal(a[k], init[k]) for k in a)  # it trained
    from rawpipe.train.checkpoint import load_checkpoint

    c = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "step_0000002.safetensors")
    assert c.state["world_size"] == 2 and c.state["sample_pos"] == 2 * 2 * 2


def _weights_of_fresh_init(cfg) -> dict[str, torch.Tensor]:
    from rawpipe.models import create_model

    torch.manual_seed(cfg.seed)
    return create_model(cfg.model, pretrained=False, **cfg.model_kwargs).state_dict()
