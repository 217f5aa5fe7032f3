"""Image-quality metrics of JDD outputs, overall and in dark regions.

Every metric compares a prediction with the clean target, both linear camera RGB ``(3, H, W)``
(or ``(N, 3, H, W)``) *without* white balance — the ``output="linear"`` contract — and takes the
scene's white-balance gains ``wb`` ``(3,)`` and camera→sRGB matrix ``cam_to_srgb`` ``(3, 3)``
where it scores in a display domain. Conventions (issue 4 acceptance):

- :func:`cpsnr`: colour PSNR after white balance, the colour matrix, clipping to [0, 1] and the
  sRGB curve (peak 1), with a 10-pixel border excluded (``rawpipe.train.losses.cpsnr``);
- *dark region*: the darkest ``fraction`` (20 %) of pixels by true luminance (Rec. 709 Y of the
  white-balanced, colour-corrected target), inside the border (:func:`dark_mask`);
- *bias*: mean of prediction − target per camera channel over a region, in normalised units and
  relative to the target's mean there (:func:`region_bias`): black crush is a negative bias, a
  colour cast a bias that differs between channels;
- *chroma noise*: RMS of the opponent colour differences (R − G, B − G) of the error in linear
  sRGB after white balance (:func:`chroma_noise`);
- *level error* of a flat patch: mean output minus truth in shot-noise units (photo-electrons),
  against the tolerance max(2 %, 0.05 e⁻) (:func:`flat_patch_level_error`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rawpipe._check import check_shape

__all__ = [
    "BORDER",
    "DARK_FRACTION",
    "LUMA",
    "bias_vs_signal",
    "chroma_noise",
    "cpsnr",
    "dark_mask",
    "flat_patch_level_error",
    "luminance",
    "region_bias",
    "region_psnr",
    "srgb_linear",
]

BORDER = 10
"""Pixels excluded on every side (the acceptance metric's border)."""
DARK_FRACTION = 0.2
"""Share of pixels, by true luminance, that make up the dark region."""
LUMA = (0.2126, 0.7152, 0.0722)
"""Rec. 709 luminance weights (linear sRGB)."""


def _batch(x: Any, name: str) -> Tensor:
    t = torch.as_tensor(x).double()
    if t.dim() == 3:
        t = t[None]
    check_shape(t, ["N", "3", "H", "W"], name)
    return t


def _inner(h: int, w: int, border: int) -> tuple[slice, slice]:
    if 2 * border >= min(h, w):
        raise ValueError(f"image {h}×{w} is too small for a {border}-pixel border")
    return slice(border, h - border), slice(border, w - border)


def srgb_linear(linear: Any, wb: Any, cam_to_srgb: Any) -> Tensor:
    """Linear camera RGB → white-balanced linear sRGB ``(N, 3, H, W)`` float64, not clipped."""
    from rawpipe.color import apply_color_matrix, apply_white_balance

    x = _batch(linear, "linear")
    x = apply_white_balance(x, torch.as_tensor(wb, dtype=torch.float64))
    return apply_color_matrix(x, torch.as_tensor(cam_to_srgb, dtype=torch.float64))


def luminance(linear: Any, wb: Any, cam_to_srgb: Any) -> Tensor:
    """Rec. 709 luminance ``(N, H, W)`` of linear camera RGB after white balance and the matrix."""
    x = srgb_linear(linear, wb, cam_to_srgb)
    w = torch.tensor(LUMA, dtype=x.dtype)[None, :, None, None]
    return (x * w).sum(dim=1)


def dark_mask(
    target: Any,
    wb: Any,
    cam_to_srgb: Any,
    *,
    fraction: float = DARK_FRACTION,
    border: int = BORDER,
    valid: Tensor | None = None,
) -> Tensor:
    """Boolean ``(N, H, W)``: the darkest ``fraction`` of each image's pixels by true luminance,
    ``border`` pixels from every side excluded (ties at the threshold included). With ``valid``
    (``(H, W)`` or ``(N, H, W)`` bool), only valid pixels count and are selected."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    y = luminance(target, wb, cam_to_srgb)
    n, h, w = y.shape
    rows, cols = _inner(h, w, border)
    ok = torch.zeros_like(y, dtype=torch.bool)
    ok[:, rows, cols] = True
    if valid is not None:
        ok &= torch.as_tensor(valid, dtype=torch.bool).expand(n, h, w)
    mask = torch.zeros_like(ok)
    for i in range(n):
        if not bool(ok[i].any()):
            raise ValueError("no valid pixels to take a dark region from")
        threshold = torch.quantile(y[i][ok[i]], fraction)
        mask[i] = ok[i] & (y[i] <= threshold)
    return mask


def cpsnr(pred: Any, target: Any, wb: Any, cam_to_srgb: Any, *, border: int = BORDER) -> float:
    """Mean colour PSNR (dB) over the batch; see :func:`rawpipe.train.losses.cpsnr`."""
    from rawpipe.train.losses import cpsnr as _cpsnr

    p, t = _batch(pred, "pred"), _batch(target, "target")
    return float(
        _cpsnr(p, t, torch.as_tensor(wb), torch.as_tensor(cam_to_srgb), border=border).mean()
    )


def region_psnr(pred: Any, target: Any, wb: Any, cam_to_srgb: Any, mask: Tensor) -> float:
    """PSNR (dB, peak 1) in the :func:`cpsnr` domain over the pixels of ``mask`` ``(N, H, W)``."""
    from rawpipe.train.losses import render_for_metric

    wb_t, m_t = torch.as_tensor(wb, dtype=torch.float64), torch.as_tensor(cam_to_srgb).double()
    p = render_for_metric(_batch(pred, "pred"), wb_t, m_t)
    t = render_for_metric(_batch(target, "target"), wb_t, m_t)
    sel = mask[:, None].expand_as(p)
    if not bool(sel.any()):
        raise ValueError("empty mask")
    mse = float((p - t)[sel].pow(2).mean())
    return float("inf") if mse == 0 else -10.0 * float(np.log10(mse))


def region_bias(pred: Any, target: Any, mask: Tensor) -> dict[str, Any]:
    """Mean error per camera channel over ``mask``: ``{"abs": (3,), "rel": (3,), "target": (3,)}``
    — prediction − target in normalised units, the same divided by the target's mean there, and
    that mean. Linear camera RGB, no white balance (the level a raw pipeline must keep)."""
    p, t = _batch(pred, "pred"), _batch(target, "target")
    if not bool(mask.any()):
        raise ValueError("empty mask")
    mean_err = torch.stack([(p - t)[:, c][mask].mean() for c in range(3)])
    mean_ref = torch.stack([t[:, c][mask].mean() for c in range(3)])
    return {
        "abs": mean_err.tolist(),
        "rel": (mean_err / mean_ref.clamp(min=1e-12)).tolist(),
        "target": mean_ref.tolist(),
    }


def chroma_noise(pred: Any, target: Any, wb: Any, cam_to_srgb: Any, mask: Tensor) -> float:
    """RMS of the error's opponent colours ``(R − G, B − G)`` in white-balanced linear sRGB over
    ``mask``, relative to the target's mean luminance there (so dark and bright regions compare)."""
    e = srgb_linear(pred, wb, cam_to_srgb) - srgb_linear(target, wb, cam_to_srgb)
    rg, bg = e[:, 0] - e[:, 1], e[:, 2] - e[:, 1]
    if not bool(mask.any()):
        raise ValueError("empty mask")
    rms = float(torch.sqrt(0.5 * (rg[mask].pow(2) + bg[mask].pow(2)).mean()))
    y = float(luminance(target, wb, cam_to_srgb)[mask].mean())
    return rms / max(y, 1e-12)


def bias_vs_signal(
    pred: Any,
    target: Any,
    wb: Any,
    cam_to_srgb: Any,
    *,
    edges: Sequence[float] | None = None,
    border: int = BORDER,
) -> dict[str, list[float]]:
    """Relative luminance bias per bin of true luminance: ``{"signal", "bias", "pixels"}``.

    ``edges``: bin edges in linear luminance (default: 12 log-spaced bins from 1e-4 to 1). Each
    bin reports the mean true luminance, (mean predicted − mean true) / mean true, and its pixel
    count; empty bins are left out."""
    yp = luminance(pred, wb, cam_to_srgb)
    yt = luminance(target, wb, cam_to_srgb)
    rows, cols = _inner(yt.shape[-2], yt.shape[-1], border)
    yp, yt = yp[:, rows, cols].flatten(), yt[:, rows, cols].flatten()
    edges = np.geomspace(1e-4, 1.0, 13) if edges is None else np.asarray(edges, dtype=np.float64)
    out: dict[str, list[float]] = {"signal": [], "bias": [], "pixels": []}
    for lo, hi in itertools.pairwise(edges):
        sel = (yt >= lo) & (yt < hi)
        n = int(sel.sum())
        if n == 0:
            continue
        mt = float(yt[sel].mean())
        out["signal"].append(mt)
        out["bias"].append((float(yp[sel].mean()) - mt) / mt)
        out["pixels"].append(float(n))
    return out


def flat_patch_level_error(
    pred: Any, truth: Any, shot: float, *, border: int = 4, rel_tol: float = 0.02,
    abs_tol: float = 0.05,
) -> dict[str, Any]:  # fmt: skip
    """Level accuracy of a flat patch: per channel, the mean output minus the true level in
    shot-noise units (photo-electrons: normalised value / ``shot``), and whether it is within
    ``max(rel_tol · level, abs_tol)`` (2 % or 0.05 e⁻, issue 4).

    ``pred``/``truth``: ``(3, H, W)`` linear camera RGB (truth flat); ``border`` pixels skipped.
    Returns ``{"level", "error", "tolerance", "ratio", "ok"}`` (per channel lists; ``ratio`` is
    |error| / tolerance, ``ok`` all channels within)."""
    p, t = _batch(pred, "pred")[0], _batch(truth, "truth")[0]
    sl = (slice(None), slice(border, p.shape[-2] - border), slice(border, p.shape[-1] - border))
    level = t[sl].mean(dim=(1, 2)) / shot
    error = p[sl].mean(dim=(1, 2)) / shot - level
    tol = torch.clamp(rel_tol * level, min=abs_tol)
    ratio = error.abs() / tol
    return {
        "level": level.tolist(),
        "error": error.tolist(),
        "tolerance": tol.tolist(),
        "ratio": ratio.tolist(),
        "ok": bool((ratio <= 1).all()),
    }
