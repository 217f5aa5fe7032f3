"""Curves that show what the VST does, exactly computed (no sampling): for the noise notebook.

All in shot-noise units (counts ``y = x / a``, read-noise std ``s = sqrt(b) / a``):

- :func:`stabilization_curve`: the exact standard deviation of the generalized Anscombe
  transform of Poisson(y) + N(0, s²) — 1 where the variance is stabilised;
- :func:`inverse_bias_curve`: ``inverse(E[f(z) | y]) − y`` for an inverse method — what a
  perfect denoiser (one that outputs E[f(z) | y]) would be left with after that inverse;
- :func:`noise_std_curve`: ``sqrt(a·x + b)`` for a fitted or true model, for comparing fits;
- :func:`estimation_check`: a single-image fit (Foi et al. 2008) on a raw synthesised from a
  clean linear image with known ``(a, b)``, and its std-curve error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["estimation_check", "inverse_bias_curve", "noise_std_curve", "stabilization_curve"]


def stabilization_curve(y: Sequence[float] | np.ndarray, s: float) -> np.ndarray:
    """Exact std of ``f(z)`` for ``z = Poisson(y) + N(0, s²)`` (counts), per ``y``."""
    from rawpipe.noise._gat_table import gat_std_exact

    return gat_std_exact(np.asarray(y, np.float64), float(s))


def inverse_bias_curve(
    y: Sequence[float] | np.ndarray, s: float, method: str = "exact_unbiased"
) -> np.ndarray:
    """``inverse(E[f(z) | y, s]) − y`` in counts for ``method`` of
    :func:`rawpipe.noise.inverse_generalized_anscombe` (evaluated with a = 1, b = s²)."""
    from rawpipe.noise import NoiseParams, inverse_generalized_anscombe
    from rawpipe.noise._gat_table import expected_gat_exact

    y = np.asarray(y, np.float64)
    d = expected_gat_exact(y, float(s))
    # counts are the normalised signal with a = 1; NoiseParams wants a ≤ 1 and b ≥ 0
    p = NoiseParams(1.0, float(s) ** 2) if s > 0 else NoiseParams(1.0, 0.0)
    return np.asarray(inverse_generalized_anscombe(d, p, method=method)) - y


def noise_std_curve(x: Sequence[float] | np.ndarray, params: Any) -> np.ndarray:
    """``sqrt(a·x + b)`` per channel: ``(len(x),)`` for scalar params, ``(C, len(x))`` for
    per-channel :class:`rawpipe.noise.NoiseParams`."""
    x = np.asarray(x, np.float64)
    a = np.atleast_1d(np.asarray(params.shot, np.float64))
    b = np.atleast_1d(np.asarray(params.read, np.float64))
    out = np.sqrt(np.maximum(a[:, None] * x[None] + b[:, None], 0.0))
    return out[0] if out.shape[0] == 1 else out


def estimation_check(
    linear_rgb: Any,
    params: Any,
    *,
    blur: float = 1.0,
    bits: int = 12,
    seed: int = 0,
    x: Sequence[float] | np.ndarray | None = None,
) -> dict[str, Any]:
    """Synthesise an RGGB raw from clean linear RGB ``(3, H, W)`` with noise ``params`` and fit
    it back with :func:`rawpipe.noise.estimate_noise_mosaic`.

    ``blur``: Gaussian σ (px) applied first, the lens/AA-filter MTF of a camera (a downscaled
    photo's pixel-scale grain would otherwise read as noise); ``bits``: ADC quantisation (its
    Δ²/12 counts into the true ``b``). Returns ``{"estimated", "true_read", "x", "error"}`` with
    the relative std-curve error over ``x`` (default 0.01–0.9)."""
    import cv2
    import torch

    from rawpipe.data import mosaic_rggb
    from rawpipe.noise import add_poisson_gaussian_noise, estimate_noise_mosaic

    rgb = np.asarray(torch.as_tensor(linear_rgb, dtype=torch.float64))
    if blur > 0:
        rgb = np.stack([cv2.GaussianBlur(c, (0, 0), blur) for c in rgb])
    h, w = rgb.shape[-2] // 2 * 2, rgb.shape[-1] // 2 * 2
    clean = mosaic_rggb(torch.from_numpy(np.ascontiguousarray(rgb[:, :h, :w])))[0].numpy()
    step = 1.0 / (2**bits - 1)
    noisy = add_poisson_gaussian_noise(clean, params, seed, quantization_step=step)
    est = estimate_noise_mosaic(np.asarray(noisy))
    xs = np.geomspace(0.01, 0.9, 60) if x is None else np.asarray(x, np.float64)
    true = np.sqrt(float(params.shot) * xs + float(params.read) + step**2 / 12.0)
    err = noise_std_curve(xs, est) / true - 1.0
    return {
        "estimated": est,
        "true_read": float(params.read) + step**2 / 12.0,
        "x": xs,
        "error": err,
    }
