"""Noise synthesis: Poisson–Gaussian sensor noise with clipping, and random noise levels.

``add_poisson_gaussian_noise`` draws ``z = a·Poisson(x/a) + N(0, b)`` (true Poisson shot noise,
Gaussian read noise), optionally quantised to the ADC step and clipped where the sensor clips
(Foi et al., IEEE TIP 17(10), 2008; Foi, Signal Processing 89(12), 2009). ``sample_noise_params``
draws training noise levels (Brooks et al., "Unprocessing Images for Learned Raw Denoising",
CVPR 2019, and the packaged profiles).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from rawpipe.noise._backend import backend, coerce_params, is_torch
from rawpipe.noise.params import NoiseParams, ParamsLike

__all__ = [
    "BROOKS_LOG_READ",
    "BROOKS_SHOT_RANGE",
    "add_poisson_gaussian_noise",
    "sample_noise_params",
    "variance_map",
]

#: Brooks et al. 2019: log(shot) ~ U(log 1e-4, log 1.2e-2) ...
BROOKS_SHOT_RANGE = (1e-4, 1.2e-2)
#: ... and log(read) = 2.18·log(shot) + 1.20 + N(0, 0.26²).
BROOKS_LOG_READ = (2.18, 1.20, 0.26)
#: Shot range of source="mixed": down to the PMRID phone at ISO 100 (a ≈ 7e-5).
MIXED_SHOT_RANGE = (5e-5, 1.2e-2)


def add_poisson_gaussian_noise(
    x: Any,
    params: ParamsLike,
    rng: Any = None,
    *,
    white: float = 1.0,
    low: float = 0.0,
    clip: bool = True,
    method: Literal["poisson", "gaussian"] = "poisson",
    quantization_step: float | None = None,
) -> Any:
    """Noisy observation of the clean normalised signal ``x``.

    ``method="poisson"``: ``z = a·Poisson(max(x, 0)/a) + sqrt(b)·N(0, 1)`` (exact shot noise).
    ``method="gaussian"``: ``z = x + sqrt(a·max(x, 0) + b)·N(0, 1)`` (fast heteroscedastic Gaussian;
    same mean and variance, wrong shape at a few counts).
    Then, if ``quantization_step`` (normalised ADC step ``1/(white − black)`` in DN terms) is given,
    ``z`` is rounded to that grid (adds ``Δ²/12`` to ``b``), and with ``clip`` it is clipped to
    ``[low, white]`` — the sensor's own clipping: ``low`` is where DN 0 lands in normalised units,
    ``−black/(white − black)`` (0 when the camera subtracts its black level), ``white`` the
    saturation level (1.0).

    Args:
        x: clean signal, numpy array or torch tensor (packed ``(*, 4, h, w)`` for per-channel).
        params: ``NoiseParams`` or ``(a, b)`` broadcastable to ``x``.
        rng: ``numpy.random.Generator`` / seed for numpy input, ``torch.Generator`` for torch.
    """
    xp = backend(x)
    x = xp.float_input(x)
    a, b = coerce_params(params, x, xp)
    if is_torch(x):
        import torch

        gen = rng if isinstance(rng, torch.Generator) else None
        xpos = torch.clamp(x, min=0.0)
        if method == "poisson":
            z = a * torch.poisson((xpos / a).expand(x.shape).contiguous(), generator=gen)
            z = z + torch.sqrt(b) * torch.randn(
                x.shape, generator=gen, dtype=x.dtype, device=x.device
            )
        elif method == "gaussian":
            std = torch.sqrt(torch.clamp(a * xpos + b, min=0.0))
            z = x + std * torch.randn(x.shape, generator=gen, dtype=x.dtype, device=x.device)
        else:
            raise ValueError(f"method must be 'poisson' or 'gaussian', got {method!r}")
        if quantization_step:
            z = torch.round(z / quantization_step) * quantization_step
        return torch.clamp(z, low, white) if clip else z
    gen = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    xpos = np.maximum(x, 0.0)
    if method == "poisson":
        z = a * gen.poisson(np.broadcast_to(xpos / a, x.shape)) + np.sqrt(b) * gen.standard_normal(
            x.shape
        )
    elif method == "gaussian":
        z = x + np.sqrt(np.maximum(a * xpos + b, 0.0)) * gen.standard_normal(x.shape)
    else:
        raise ValueError(f"method must be 'poisson' or 'gaussian', got {method!r}")
    z = z.astype(x.dtype, copy=False)
    if quantization_step:
        z = np.round(z / quantization_step) * quantization_step
    return np.clip(z, low, white) if clip else z


def variance_map(x: Any, params: ParamsLike) -> Any:
    """``a·max(x, 0) + b``: the per-pixel noise variance (Brooks 2019's network conditioning)."""
    xp = backend(x)
    x = xp.float_input(x)
    a, b = coerce_params(params, x, xp)
    return a * xp.maximum(x, 0.0) + b


def _draw(rng: Any, kind: str, n: int) -> np.ndarray:
    """``n`` uniform(0,1) or standard-normal draws from a numpy or torch generator (float64)."""
    if is_torch(rng):
        import torch

        fn = torch.rand if kind == "uniform" else torch.randn
        return fn(n, generator=rng, dtype=torch.float64).numpy()
    gen = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    return gen.random(n) if kind == "uniform" else gen.standard_normal(n)


def _pmrid_log_offset(log_a: np.ndarray) -> np.ndarray:
    """``ln b_PMRID(a) − (2.18·ln a + 1.20)``: how far the PMRID phone's read variance sits above
    the Brooks line at the same shot level (≈ 4.2 at ISO 100, 2.4 at ISO 400, 0.6 at ISO 6400)."""
    from rawpipe.noise.profiles import pmrid_phone_model

    model = pmrid_phone_model()
    isos = np.geomspace(10.0, 51200.0, 512)
    pts = [model.params_at(i) for i in isos]
    la = np.log([p.shot for p in pts])
    lb = np.log([p.read for p in pts])
    slope, icpt, _ = BROOKS_LOG_READ
    return np.interp(log_a, la, lb) - (slope * log_a + icpt)


def sample_noise_params(
    rng: Any = None,
    *,
    source: Literal["brooks", "profiles", "mixed"] = "mixed",
    n: int | None = None,
    profiles: list[str] | None = None,
) -> NoiseParams | list[NoiseParams]:
    """Random noise levels for training (normalised units).

    - ``"brooks"`` (Brooks et al. 2019): ``ln a ~ U(ln 1e-4, ln 1.2e-2)``,
      ``ln b = 2.18·ln a + 1.20 + N(0, 0.26²)``.
    - ``"profiles"``: a packaged profile (``profiles``, default all) at a log-uniform ISO in its
      ``iso_range`` widened ×2 each way (PMRID phone: ISO 50–12800), channel-averaged.
    - ``"mixed"`` (default): ``ln a ~ U(ln 5e-5, ln 1.2e-2)`` and
      ``ln b = 2.18·ln a + 1.20 + δ`` with ``δ ~ U(−0.52, max(0, Δ(a)) + 0.52)``, ``Δ(a)`` the
      PMRID phone's offset above the Brooks
      line at that ``a`` (0.6–2.3 over ISO 400–6400, ≈ 4.2 at ISO 100): covers both the Brooks
      relation (±2σ) and the phone, so a net trained on it serves both.

    Args:
        rng: ``numpy.random.Generator``, seed, or ``torch.Generator``.
        n: number of draws; ``None`` returns one ``NoiseParams``, an int a list.
    """
    m = 1 if n is None else int(n)
    lo, hi = BROOKS_SHOT_RANGE
    slope, icpt, sd = BROOKS_LOG_READ
    if source == "brooks":
        la = math.log(lo) + (math.log(hi) - math.log(lo)) * _draw(rng, "uniform", m)
        lb = slope * la + icpt + sd * _draw(rng, "normal", m)
        out = [NoiseParams(float(np.exp(u)), float(np.exp(v))) for u, v in zip(la, lb)]
    elif source == "mixed":
        lo, hi = MIXED_SHOT_RANGE
        la = math.log(lo) + (math.log(hi) - math.log(lo)) * _draw(rng, "uniform", m)
        top = np.maximum(_pmrid_log_offset(la), 0.0) + 2 * sd
        delta = -2 * sd + (top + 2 * sd) * _draw(rng, "uniform", m)
        lb = slope * la + icpt + delta
        out = [NoiseParams(float(np.exp(u)), float(np.exp(v))) for u, v in zip(la, lb)]
    elif source == "profiles":
        from rawpipe.noise.profiles import list_profiles, load_profile

        names = profiles or list_profiles()
        if not names:
            raise ValueError("no noise profiles to sample from")
        models = [load_profile(nm) for nm in names]
        pick = np.minimum((_draw(rng, "uniform", m) * len(models)).astype(int), len(models) - 1)
        u = _draw(rng, "uniform", m)
        out = []
        for k, uu in zip(pick, u):
            mdl = models[k]
            ilo, ihi = math.log(mdl.iso_range[0] / 2), math.log(mdl.iso_range[1] * 2)
            out.append(mdl.params_at(math.exp(ilo + (ihi - ilo) * uu)).mean())
    else:
        raise ValueError(f"source must be 'brooks', 'profiles' or 'mixed', got {source!r}")
    return out[0] if n is None else out
