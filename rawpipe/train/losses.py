"""Losses and the validation metric of JDD training.

Training target (ARCHITECTURE.md contract), used by :class:`rawpipe.train.tasks.JDDTask`:

1. :func:`vst_l1` — L1 in the VST domain between the network output and T(y) = E[f(z) | y]
   (:func:`rawpipe.models.jdd.vst_target`), the quantity the exact unbiased inverse maps back to
   the clean value y. Regressing towards f(y) instead would bias dark regions after the inverse.
2. :func:`rgb_l1` — L1 after the inverse VST, on white-balanced, colour-corrected values passed
   through the sRGB curve *without clamping* (clamping zeroes gradients; TOOLCHAIN.md), i.e. the
   domain the metric is measured in. It directly penalises any residual level bias.

:func:`cpsnr` is the acceptance metric: CPSNR after white balance, the camera→sRGB matrix, clipping
and the sRGB curve, with a 10-pixel border excluded.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rawpipe._check import check_shape

__all__ = ["BORDER", "cpsnr", "render_for_loss", "render_for_metric", "rgb_l1", "vst_l1"]

BORDER = 10
"""Pixels excluded on every side by :func:`cpsnr`."""


def vst_l1(pred_vst: Tensor, target_vst: Tensor) -> Tensor:
    """Mean absolute difference in the VST domain, ``(N,12,h,w)`` each (target: T(y))."""
    check_shape(pred_vst, ["N", "12", "h", "w"], "pred_vst")
    check_shape(target_vst, ["N", "12", "h", "w"], "target_vst")
    return (pred_vst.float() - target_vst.float()).abs().mean()


def render_for_loss(linear: Tensor, wb: Tensor, cam_to_srgb: Tensor) -> Tensor:
    """Linear camera RGB ``(N,3,H,W)`` → white balance → camera→sRGB → sRGB curve, unclamped
    (odd-symmetric below 0, unbounded above 1), so every pixel keeps a gradient."""
    from rawpipe.color import process

    return process(linear, wb, cam_to_srgb, clip=False)


def render_for_metric(linear: Tensor, wb: Tensor, cam_to_srgb: Tensor) -> Tensor:
    """As :func:`render_for_loss` but clipped to [0, 1] before the sRGB curve (a display)."""
    from rawpipe.color import process

    return process(linear, wb, cam_to_srgb, clip=True)


def rgb_l1(pred: Tensor, target: Tensor, wb: Tensor, cam_to_srgb: Tensor) -> Tensor:
    """L1 between prediction and target (linear camera RGB ``(N,3,H,W)``) after
    :func:`render_for_loss`. ``wb``: (N,3) or (3,); ``cam_to_srgb``: (N,3,3) or (3,3)."""
    check_shape(pred, ["N", "3", "H", "W"], "pred")
    check_shape(target, ["N", "3", "H", "W"], "target")
    p = render_for_loss(pred.float(), wb, cam_to_srgb)
    t = render_for_loss(target.float(), wb, cam_to_srgb)
    return (p - t).abs().mean()


def cpsnr(
    pred: Tensor, target: Tensor, wb: Tensor, cam_to_srgb: Tensor, *, border: int = BORDER
) -> Tensor:
    """Colour PSNR (dB, peak 1) per image ``(N,)`` after :func:`render_for_metric`, over all three
    channels, excluding ``border`` pixels on every side. Identical images give ``inf``."""
    check_shape(pred, ["N", "3", "H", "W"], "pred")
    check_shape(target, ["N", "3", "H", "W"], "target")
    h, w = pred.shape[-2:]
    if 2 * border >= min(h, w):
        raise ValueError(f"image {h}×{w} is too small for a {border}-pixel border")
    with torch.no_grad():
        p = render_for_metric(pred.double(), wb, cam_to_srgb)
        t = render_for_metric(target.double(), wb, cam_to_srgb)
        sl = (..., slice(border, h - border), slice(border, w - border))
        mse = (p[sl] - t[sl]).pow(2).flatten(1).mean(dim=1)
        return (-10.0 * torch.log10(mse)).float()
