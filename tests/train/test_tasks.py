"""Tasks: the dict they return, the frozen teacher, feature adapters, the NaN path."""

from __future__ import annotations

import copy

import pytest
import torch

from rawpipe.models import create_model
from rawpipe.models.jdd import JDDNet
from rawpipe.train import DistillationTask, JDDTask
from rawpipe.train.toy import ToyPairs


def _batch(n=2, patch=32):
    items = [ToyPairs(patch=patch, seed=5)[i] for i in range(n)]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def _jdd(name, kwargs, seed=0):
    torch.manual_seed(seed)
    return JDDNet(create_model(name, pretrained=False, **kwargs))


def test_jdd_task_dict_and_backward(tiny_kwargs):
    task = JDDTask(_jdd("student", tiny_kwargs), w_vst=1.0, w_rgb=0.5)
    out = task(_batch())
    assert {"loss", "output", "task_loss", "kd_loss"} <= out.keys()
    assert out["output"].shape == (2, 3, 32, 32) and out["output_vst"].shape == (2, 12, 16, 16)
    assert (
        float(out["kd_loss"]) == 0.0 and float(out["loss"].detach()) == float(out["task_loss"]) > 0
    )
    out["loss"].backward()
    grads = [p.grad for p in task.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_weights_select_terms(tiny_kwargs):
    b = _batch()
    m = _jdd("student", tiny_kwargs)
    with torch.no_grad():
        vst_only = float(JDDTask(m, w_vst=1.0, w_rgb=0.0)(b)["loss"])
        rgb_only = float(JDDTask(m, w_vst=0.0, w_rgb=1.0)(b)["loss"])
        both = float(JDDTask(m, w_vst=1.0, w_rgb=1.0)(b)["loss"])
    assert both == pytest.approx(vst_only + rgb_only, rel=1e-5)


def test_distillation_teacher_frozen_and_adapters(tiny_kwargs):
    teacher_kwargs = {**tiny_kwargs, "widths": [8, 16]}
    teacher = _jdd("teacher", teacher_kwargs, seed=1)
    before = copy.deepcopy(teacher.state_dict())
    task = DistillationTask(_jdd("student", tiny_kwargs), teacher, w_kd_out=1.0, w_kd_feat=0.1)
    task.train()
    assert not task.teacher.training and task.model.training
    assert set(task.adapters) == {"bottleneck", "dec0"}
    assert task.adapters["dec0"].in_channels == 4 and task.adapters["dec0"].out_channels == 8
    out = task(_batch())
    assert {"loss", "output", "task_loss", "kd_loss", "kd_out", "kd_feat"} <= out.keys()
    total = float(out["loss"].detach())
    assert total == pytest.approx(float(out["task_loss"] + out["kd_loss"]), rel=1e-5)
    out["loss"].backward()
    assert all(p.grad is None for p in task.teacher.parameters())
    assert all(p.grad is not None for p in task.adapters.parameters())
    for k, v in task.teacher.state_dict().items():
        assert torch.equal(v, before[k])
    assert not any(k.startswith("teacher.") for k in task.trainable_state_dict())


def test_default_taps_pair_equal_strides_only(tiny_kwargs):
    """A 3-level student under a 4-level teacher: the decoder taps pair, the bottlenecks (at
    strides 4 and 8) do not; naming the bottleneck explicitly fails on the size mismatch."""
    s_kw = {**tiny_kwargs, "widths": [4, 8, 16], "enc_blocks": 1, "dec_blocks": 1}
    t_kw = {**tiny_kwargs, "widths": [8, 16, 16, 16], "enc_blocks": 1, "dec_blocks": 1}
    student, teacher = _jdd("student", s_kw), _jdd("teacher", t_kw, seed=1)
    task = DistillationTask(student, teacher, w_kd_feat=0.1)
    assert set(task.adapters) == {"dec1", "dec0"}
    out = task(_batch())
    assert torch.isfinite(out["loss"]) and float(out["kd_feat"]) > 0
    bad = DistillationTask(student, teacher, w_kd_feat=0.1, features=["bottleneck"])
    with pytest.raises(ValueError, match="spatial size"):
        bad(_batch())


def test_output_kd_is_zero_for_an_identical_student(tiny_kwargs):
    student = _jdd("student", tiny_kwargs)
    task = DistillationTask(student, copy.deepcopy(student), w_kd_feat=0.0)
    out = task(_batch())
    assert float(out["kd_out"]) == 0.0 and len(task.adapters) == 0


def test_non_finite_output_gives_nan_loss_with_gradients(tiny_kwargs):
    m = _jdd("student", tiny_kwargs)
    with torch.no_grad():
        m.net.head.bias.fill_(float("nan"))
    out = JDDTask(m)(_batch())
    assert torch.isnan(out["loss"])
    out["loss"].backward()  # still a graph over the parameters (DDP needs the backward)
    assert m.net.stem[0].weight.grad is not None
