"""Training tasks (timm's ``task/`` in spirit): a module whose ``forward(batch)`` returns a dict
``{"loss", "output", "task_loss", "kd_loss", ...}`` so the trainer never needs to know what is
being trained.

A batch is a dict of tensors as :class:`rawpipe.data.SyntheticPairs` gives them, stacked:
``mosaic`` (N,1,H,W) normalised noisy RGGB, ``target`` (N,3,H,W) clean linear camera RGB, ``shot``
and ``read`` (N,4) per RGGB channel, ``wb`` (N,3), ``cam_to_srgb`` (N,3,3).

Loss (see :mod:`rawpipe.train.losses` for the training target)::

    task_loss = w_vst · L1(net VST output, T(y)) + w_rgb · L1 after the inverse (sRGB curve)
    kd_loss   = w_kd_out · L1(student VST output, teacher VST output)
              + w_kd_feat · mean over taps of L1(adapter(student tap), teacher tap) / mean|tap|
    loss      = task_loss + kd_loss
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

from rawpipe.models.jdd import JDDNet, vst_target
from rawpipe.train.losses import rgb_l1, vst_l1

__all__ = ["BATCH_KEYS", "DistillationTask", "JDDTask"]

BATCH_KEYS = ("mosaic", "target", "shot", "read", "wb", "cam_to_srgb")


class JDDTask(nn.Module):
    """Supervised JDD training of ``model`` (a :class:`JDDNet`) on synthetic pairs."""

    def __init__(self, model: JDDNet, *, w_vst: float = 1.0, w_rgb: float = 0.5) -> None:
        super().__init__()
        self.model = model
        self.w_vst = float(w_vst)
        self.w_rgb = float(w_rgb)

    def task_loss(self, out_vst: Tensor, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``(task_loss, linear RGB output)`` for a VST-domain network output."""
        shot, read = batch["shot"], batch["read"]
        if not bool(torch.isfinite(out_vst).all() & torch.isfinite(batch["target"]).all()):
            # A diverged network (or a broken sample): return a NaN loss still connected to every
            # parameter, so backward runs (DDP) and the trainer's spike guard skips the step.
            # (The table lookups of the VST inverse must not see NaN indices.)
            nan = out_vst.float().sum() * float("nan")
            return nan, torch.full_like(batch["target"], float("nan"))
        output = self.model.postprocess(out_vst, shot, read)
        loss = out_vst.new_zeros((), dtype=torch.float32)
        if self.w_vst:
            loss = loss + self.w_vst * vst_l1(out_vst, vst_target(batch["target"], shot, read))
        if self.w_rgb:
            loss = loss + self.w_rgb * rgb_l1(
                output, batch["target"], batch["wb"], batch["cam_to_srgb"]
            )
        return loss, output

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out_vst = self.model.forward_vst(batch["mosaic"], batch["shot"], batch["read"])
        task, output = self.task_loss(out_vst, batch)
        return {
            "loss": task,
            "output": output,
            "output_vst": out_vst,
            "task_loss": task.detach(),
            "kd_loss": torch.zeros((), device=task.device),
        }

    def trainable_state_dict(self) -> dict[str, Tensor]:
        """What a checkpoint stores: everything but a frozen teacher."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("teacher.")}

    def load_trainable_state_dict(self, state: Mapping[str, Tensor]) -> None:
        missing, unexpected = self.load_state_dict(dict(state), strict=False)
        missing = [k for k in missing if not k.startswith("teacher.")]
        if missing or unexpected:
            raise KeyError(
                f"state does not fit the task: missing {missing}, unexpected {unexpected}"
            )


class DistillationTask(JDDTask):
    """Distil ``teacher`` into ``model``: the supervised task loss plus output and feature KD.

    The teacher is frozen, kept in ``eval()`` and run under ``no_grad``. Feature distillation
    aligns each shared tap (same name and spatial size; default: every tap with the same name
    and the same ``feature_strides`` entry, so a 3-level student and a 4-level teacher pair their
    decoder taps but not their bottlenecks) with a trainable
    1×1 conv adapter from the student's channels to the teacher's; each tap's L1 is divided by the
    teacher tap's mean magnitude so taps of different scale weigh alike. The adapters are trained
    with the student and dropped after training.
    """

    def __init__(
        self,
        model: JDDNet,
        teacher: JDDNet,
        *,
        w_vst: float = 1.0,
        w_rgb: float = 0.5,
        w_kd_out: float = 1.0,
        w_kd_feat: float = 0.1,
        features: Iterable[str] | None = None,
    ) -> None:
        super().__init__(model, w_vst=w_vst, w_rgb=w_rgb)
        self.teacher = teacher
        self.teacher.requires_grad_(False)
        self.teacher.eval()
        self.w_kd_out = float(w_kd_out)
        self.w_kd_feat = float(w_kd_feat)
        self.adapters = nn.ModuleDict()
        if self.w_kd_feat:
            s_ch = dict(getattr(model.net, "feature_channels", {}))
            t_ch = dict(getattr(teacher.net, "feature_channels", {}))
            s_st = dict(getattr(model.net, "feature_strides", {}))
            t_st = dict(getattr(teacher.net, "feature_strides", {}))
            if features is None:
                names = [n for n in s_ch if n in t_ch and s_st.get(n) == t_st.get(n)]
            else:
                names = list(features)
            for n in names:
                if n not in s_ch or n not in t_ch:
                    raise ValueError(f"feature tap {n!r} is not shared by student and teacher")
                self.adapters[n] = nn.Conv2d(s_ch[n], t_ch[n], 1)
            if not self.adapters:
                raise ValueError("w_kd_feat > 0 but student and teacher share no feature taps")

    def train(self, mode: bool = True) -> DistillationTask:
        super().train(mode)
        self.teacher.eval()  # always: a teacher is a fixed function
        return self

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        mosaic, shot, read = batch["mosaic"], batch["shot"], batch["read"]
        with torch.no_grad():
            t_out, t_feats = self.teacher.forward_vst_features(mosaic, shot, read)
        if self.adapters:
            s_out, s_feats = self.model.forward_vst_features(mosaic, shot, read)
        else:
            s_out, s_feats = self.model.forward_vst(mosaic, shot, read), {}
        task, output = self.task_loss(s_out, batch)
        kd_out = (s_out.float() - t_out.float()).abs().mean()
        kd_feat = torch.zeros((), device=kd_out.device)
        for name, adapter in self.adapters.items():
            s, t = s_feats[name], t_feats[name].float()
            if s.shape[-2:] != t.shape[-2:]:
                raise ValueError(
                    f"feature tap {name!r}: student {list(s.shape)} and teacher {list(t.shape)} "
                    "differ in spatial size"
                )
            kd_feat = kd_feat + (adapter(s.float()) - t).abs().mean() / (t.abs().mean() + 1e-6)
        if self.adapters:
            kd_feat = kd_feat / len(self.adapters)
        kd = self.w_kd_out * kd_out + self.w_kd_feat * kd_feat
        return {
            "loss": task + kd,
            "output": output,
            "output_vst": s_out,
            "task_loss": task.detach(),
            "kd_loss": kd.detach(),
            "kd_out": kd_out.detach(),
            "kd_feat": kd_feat.detach(),
        }
