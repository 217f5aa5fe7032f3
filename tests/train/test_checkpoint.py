"""Checkpoints: no pickle, exact round trips, atomic writes, corrupt files detected."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from rawpipe.train import checkpoint as ckpt


def _adam_with_state() -> torch.optim.AdamW:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.Conv2d(3, 1, 1))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-4, betas=(0.9, 0.99), weight_decay=0.01)
    for _ in range(2):
        net(torch.randn(1, 2, 5, 5)).square().mean().backward()
        opt.step()
    return opt


def _save(directory: Path, step: int, value: float = 1.0, **kw) -> Path:
    tensors = {"model": {"w": torch.full((3,), value)}, "optim": {}, "rng": {}}
    return ckpt.save_checkpoint(directory, step, tensors, {"note": f"step {step}"}, **kw)


def test_optimizer_state_round_trip():
    opt = _adam_with_state()
    tensors, index = ckpt.optimizer_to_tensors(opt.state_dict())
    index = json.loads(json.dumps(index))  # what the checkpoint stores
    back = ckpt.optimizer_from_tensors(tensors, index)
    ref = opt.state_dict()
    assert back["param_groups"] == ref["param_groups"]
    assert back["state"].keys() == ref["state"].keys()
    for pid, s in ref["state"].items():
        for k, v in s.items():
            assert torch.equal(back["state"][pid][k], v)
    opt.load_state_dict(back)  # accepted by the optimiser


def test_rng_round_trip():
    torch.manual_seed(1)
    np.random.seed(2)  # noqa: NPY002
    random.seed(3)
    tensors, extra = ckpt.capture_rng()
    extra = json.loads(json.dumps(extra))
    want = (torch.rand(4), np.random.rand(4), random.random())  # noqa: NPY002
    torch.manual_seed(9)
    np.random.seed(9)  # noqa: NPY002
    random.seed(9)
    ckpt.restore_rng(tensors, extra)
    got = (torch.rand(4), np.random.rand(4), random.random())  # noqa: NPY002
    assert torch.equal(want[0], got[0]) and np.array_equal(want[1], got[1]) and want[2] == got[2]


def test_save_load_and_latest(tmp_path):
    p1 = _save(tmp_path, 1, 1.0)
    p2 = _save(tmp_path, 2, 2.0)
    assert ckpt.find_latest_checkpoint(tmp_path) == p2
    c = ckpt.load_checkpoint(p1)
    assert c.step == 1 and c.state["note"] == "step 1"
    assert torch.equal(c.group("model")["w"], torch.full((3,), 1.0))
    assert json.loads((tmp_path / "latest.json").read_text())["file"] == p2.name
    _save(tmp_path, 3, keep=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == [
        "step_0000002.safetensors",
        "step_0000003.safetensors",
    ]


def test_crash_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    import safetensors.torch

    good = _save(tmp_path, 1, 1.0)

    def crash(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\x00" * 100)  # half-written file, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        _save(tmp_path, 2, 2.0)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", good.name]
    assert ckpt.find_latest_checkpoint(tmp_path) == good
    assert torch.equal(ckpt.load_checkpoint(good).group("model")["w"], torch.ones(3))


def test_killed_writer_leftovers_and_corruption_are_ignored(tmp_path):
    good = _save(tmp_path, 1, 1.0)
    # a SIGKILL during the write leaves a hidden temporary file, never a step_* file
    (tmp_path / ".step_0000002.abc.tmp.safetensors").write_bytes(b"partial")
    assert ckpt.find_latest_checkpoint(tmp_path) == good
    # a newer checkpoint damaged later (flipped bytes in tensor data) is rejected by its digest
    bad = _save(tmp_path, 2, 2.0)
    data = bytearray(bad.read_bytes())
    data[-1] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(ckpt.CheckpointError, match="corrupt"):
        ckpt.load_checkpoint(bad)
    assert ckpt.find_latest_checkpoint(tmp_path) == good
    # a truncated one too
    bad.write_bytes(b"\x10\x00")
    with pytest.raises(ckpt.CheckpointError):
        ckpt.load_checkpoint(bad)
    assert ckpt.find_latest_checkpoint(tmp_path) == good


def test_package_never_unpickles():
    root = Path(__file__).resolve().parents[2] / "rawpipe"
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "torch.load(" in p.read_text() or "import pickle" in p.read_text()
    ]
    assert offenders == []
