"""``JDDNet``: a packed-I/O network inside the host-side steps that every backend runs around it.

The recipe (ARCHITECTURE.md, "Data flow (inference)"), one function each, in this order::

    jdd_preprocess      mosaic (N,1,H,W) ──pack_rggb──▶ (N,4,h,w)
                        ──generalized Anscombe, per RGGB channel with its own (a, b)──▶ VST domain
    network             (N,4,h,w) ──▶ (N,12,h,w), VST domain        ◀ the only part on the NPU
    jdd_postprocess     ──depth_to_space (CRD)──▶ (N,3,H,W)
                        ──exact unbiased inverse per output colour──▶ linear camera RGB
                          (R with the R parameters, G with the mean of the G1/G2 parameters,
                          B with the B parameters)

An exported model (ONNX, TFLite, Core ML) contains only ``network``; its manifest describes
:func:`jdd_preprocess` and :func:`jdd_postprocess`, which are exactly what :class:`JDDNet` runs.

Noise-free input: the generalized Anscombe transform divides by the shot-noise gain ``a``, so
``a`` is floored at :data:`SHOT_FLOOR` (1e-5 in normalised units, ~100× below the quietest phone
ISO of the training range) for the VST and its inverse only; the read variance is floored at 0.
A clean image then maps to values up to ~2·sqrt(1/1e-5) ≈ 630 instead of infinity, and the same
floored parameters are used by the training target, so the pair stays consistent.

Training target (ARCHITECTURE.md contract): the network output in the VST domain is trained
towards T(y) = E[f(z) | y] of the clean target y (:func:`vst_target`), which is exactly what the
exact unbiased inverse inverts; :mod:`rawpipe.train.losses` adds an L1 loss after the inverse
(sRGB-curve domain). Both are stated in every model card.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rawpipe._check import check_shape
from rawpipe.models.layers import depth_to_space, space_to_depth

__all__ = [
    "SHOT_FLOOR",
    "JDDNet",
    "colour_noise",
    "floor_noise",
    "jdd_postprocess",
    "jdd_preprocess",
    "noise_tensors",
    "pad_to_multiple",
    "vst_target",
]

SHOT_FLOOR = 1e-5
"""Lower bound on the shot-noise gain ``a`` used by the VST pair (noise-free input works)."""
INVERSE_METHOD = "exact_unbiased"


def noise_tensors(
    shot: Any, read: Any, n: int, *, device: Any = None, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor]:
    """Noise parameters as ``(n, 4)`` tensors (R, G1, G2, B) from a float, a 4-sequence,
    a ``(4,)``/``(1, 4)``/``(n, 4)`` tensor or a ``(n,)`` tensor (one value per image)."""

    def one(v: Any, what: str) -> Tensor:
        t = torch.as_tensor(v, dtype=dtype, device=device)
        if t.dim() == 0:
            return t.expand(n, 4)
        if t.dim() == 1 and t.shape[0] == 4:
            return t[None].expand(n, 4)
        if t.dim() == 1 and t.shape[0] == n:
            return t[:, None].expand(n, 4)
        if t.dim() == 2 and t.shape[1] == 4 and t.shape[0] in (1, n):
            return t.expand(n, 4)
        raise ValueError(f"{what}: expected a float, (4,), (N,) or (N, 4), got {list(t.shape)}")

    return one(shot, "shot"), one(read, "read")


def floor_noise(shot: Tensor, read: Tensor) -> tuple[Tensor, Tensor]:
    """``(max(a, SHOT_FLOOR), max(b, 0))``: the parameters the VST pair actually uses."""
    return shot.clamp(min=SHOT_FLOOR), read.clamp(min=0.0)


def colour_noise(shot: Tensor, read: Tensor) -> tuple[Tensor, Tensor]:
    """Per-RGGB ``(N, 4)`` parameters → per-output-colour ``(N, 3)``: R, mean(G1, G2), B."""
    check_shape(shot, ["N", "4"], "shot")
    check_shape(read, ["N", "4"], "read")

    def rgb(p: Tensor) -> Tensor:
        return torch.stack([p[:, 0], 0.5 * (p[:, 1] + p[:, 2]), p[:, 3]], dim=1)

    return rgb(shot), rgb(read)


def _params(shot: Tensor, read: Tensor) -> tuple[Tensor, Tensor]:
    """Per-image, per-channel ``(a, b)`` shaped ``(N, C, 1, 1)`` to broadcast over (N, C, H, W)."""
    return shot[:, :, None, None], read[:, :, None, None]


def jdd_preprocess(mosaic: Tensor, shot: Tensor, read: Tensor) -> Tensor:
    """Host step before the network: RGGB mosaic ``(N,1,H,W)`` → packed VST ``(N,4,H/2,W/2)``.

    ``shot``/``read``: ``(N, 4)`` per RGGB channel, normalised units (floored here)."""
    from rawpipe.noise import generalized_anscombe
    from rawpipe.raw import pack_rggb

    check_shape(mosaic, ["N", "1", "H", "W"], "mosaic")
    shot, read = floor_noise(shot, read)
    packed = pack_rggb(mosaic)
    return generalized_anscombe(packed, _params(shot, read))


def jdd_postprocess(
    out: Tensor, shot: Tensor, read: Tensor, *, inverse: str = INVERSE_METHOD
) -> Tensor:
    """Host step after the network: VST ``(N,12,h,w)`` → linear camera RGB ``(N,3,2h,2w)``.

    Depth-to-space (CRD), then the exact unbiased inverse (Mäkitalo & Foi 2013) per colour with
    :func:`colour_noise` parameters. ``inverse`` picks another inverse of
    :func:`rawpipe.noise.inverse_generalized_anscombe` (for comparisons only: the networks are
    trained for the exact unbiased one). Notes: not clipped; the inverse is extended linearly
    below its domain, so its gradients never vanish."""
    from rawpipe.noise import inverse_generalized_anscombe

    check_shape(out, ["N", "12", "h", "w"], "network output")
    shot, read = colour_noise(*floor_noise(shot, read))
    rgb_vst = depth_to_space(out.float())
    return inverse_generalized_anscombe(rgb_vst, _params(shot, read), method=inverse)


def vst_target(target: Tensor, shot: Tensor, read: Tensor) -> Tensor:
    """The VST-domain training target T(y) = E[f(z) | y] of clean linear RGB ``(N,3,H,W)``,
    per colour with the :func:`colour_noise` parameters, as ``(N,12,H/2,W/2)`` (CRD phases).

    It is what :func:`jdd_postprocess`'s exact unbiased inverse maps back to ``y``."""
    from rawpipe.noise import expected_vst

    check_shape(target, ["N", "3", "H", "W"], "target")
    shot, read = colour_noise(*floor_noise(shot, read))
    return space_to_depth(expected_vst(target, _params(shot, read)))


def pad_to_multiple(mosaic: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Pad an RGGB mosaic ``(N,1,H,W)`` (H, W even) at the bottom/right to multiples of
    ``multiple`` (even) by mirroring whole 2×2 cells, which keeps the CFA phase. Returns the
    padded mosaic and the original ``(H, W)`` to crop back to."""
    from rawpipe.raw import pack_rggb, unpack_rggb

    h, w = int(mosaic.shape[-2]), int(mosaic.shape[-1])
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return mosaic, (h, w)
    if multiple % 2 or h % 2 or w % 2:
        raise ValueError(f"pad_to_multiple needs even sizes and multiple, got {h}×{w}, {multiple}")
    x = pack_rggb(mosaic)
    ph2, pw2 = ph // 2, pw // 2
    # Mirror (edge cell not repeated) when the image is large enough, else repeat the edge cell.
    mode = "reflect" if ph2 < x.shape[-2] and pw2 < x.shape[-1] else "replicate"
    x = torch.nn.functional.pad(x, (0, pw2, 0, ph2), mode=mode)
    return unpack_rggb(x), (h, w)


class JDDNet(nn.Module):
    """A packed-I/O network (``create_model("student" | "teacher")``) with the host-side steps
    around it: ``forward(mosaic (N,1,H,W), shot (N,4), read (N,4)) -> (N,3,H,W)`` linear camera RGB.

    ``H`` and ``W`` must be multiples of ``alignment`` (= 2·``net.total_stride``); use
    :func:`pad_to_multiple`. ``shot``/``read`` accept anything :func:`noise_tensors` does.

    Attributes (raw pixels): ``alignment``, ``receptive_field`` (2·the network's packed value + 1).
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.total_stride = int(getattr(net, "total_stride", 1))
        self.alignment = 2 * self.total_stride
        self.receptive_field = 2 * int(getattr(net, "receptive_field", 1)) + 1
        # Run the network (only; never the VST pair) under autocast in this dtype (bf16 on CUDA).
        self.autocast_dtype: torch.dtype | None = None
        # Feed the network channels-last input: oneDNN's CPU convolutions run the narrow packed
        # layers ~1.8× faster at inference and ~1.35× in training (measured on the student).
        self.channels_last = True

    def _net(self, x: Tensor, features: bool = False) -> Any:
        fn = self.net.forward_features if features else self.net
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.autocast_dtype is None:
            return fn(x)
        with torch.autocast(device_type=x.device.type, dtype=self.autocast_dtype):
            return fn(x)

    def _noise(self, mosaic: Tensor, shot: Any, read: Any) -> tuple[Tensor, Tensor]:
        return noise_tensors(shot, read, mosaic.shape[0], device=mosaic.device)

    def forward_vst(self, mosaic: Tensor, shot: Any, read: Any) -> Tensor:
        """The network's VST-domain output ``(N, 12, H/2, W/2)`` (for losses against
        :func:`vst_target`)."""
        shot, read = self._noise(mosaic, shot, read)
        return self._net(jdd_preprocess(mosaic, shot, read))

    def forward_vst_features(
        self, mosaic: Tensor, shot: Any, read: Any
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """:meth:`forward_vst` plus the network's ``forward_features`` taps (distillation)."""
        shot, read = self._noise(mosaic, shot, read)
        return self._net(jdd_preprocess(mosaic, shot, read), features=True)

    def postprocess(
        self, out: Tensor, shot: Any, read: Any, *, inverse: str = INVERSE_METHOD
    ) -> Tensor:
        """:func:`jdd_postprocess` with :func:`noise_tensors` conversion."""
        shot, read = noise_tensors(shot, read, out.shape[0], device=out.device)
        return jdd_postprocess(out, shot, read, inverse=inverse)

    def forward(self, mosaic: Tensor, shot: Any, read: Any) -> Tensor:
        """RGGB mosaic ``(N,1,H,W)`` (normalised) → linear camera RGB ``(N,3,H,W)``, not clipped."""
        return self.postprocess(self.forward_vst(mosaic, shot, read), shot, read)
