"""Variance-stabilizing transforms for Poisson–Gaussian raw data, each next to its inverse.

Every function takes numpy arrays or torch tensors and returns the same kind; the two paths run the
same operations in the same order (numpy and torch agree to ~1e-15 relative in float64 and to
float32 rounding in float32), and the torch path is differentiable (no clamp on the data path of
the inverses; see ``inverse_generalized_anscombe``).

Units: ``x`` is the normalised signal with ``Var(z | x) = a·x + b`` (``params``: ``NoiseParams``
or a pair ``(a, b)`` broadcastable to the data, e.g. per batch element ``(N, 1, 1, 1)``; per-channel
``NoiseParams`` broadcast over packed RGGB data ``(*, 4, H/2, W/2)``). In *shot-noise units* the
same quantities are ``y = x / a`` (counts) and ``s = sqrt(b) / a`` (read-noise std in counts).

References
----------
- F. J. Anscombe, "The transformation of Poisson, binomial and negative-binomial data",
  Biometrika 35, 1948 (the ``3/8``).
- J.-L. Starck, F. Murtagh, A. Bijaoui, "Image Processing and Data Analysis", 1998 (the generalized
  Anscombe transform).
- M. Mäkitalo, A. Foi, "Optimal inversion of the Anscombe transformation in low-count Poisson image
  denoising", IEEE TIP 20(1), 2011, and "A closed-form approximation of the exact unbiased
  inverse of the Anscombe variance-stabilizing transformation", IEEE TIP 20(9), 2011.
- M. Mäkitalo, A. Foi, "Optimal inversion of the generalized Anscombe transformation for
  Poisson-Gaussian noise", IEEE TIP 22(1), 2013 (exact unbiased inverse ``E[f(z) | y] ↦ y``).
- A. Foi et al., "Practical Poissonian-Gaussian noise modeling and fitting for single-image
  raw-data", IEEE TIP 17(10), 2008; A. Foi, "Clipped noisy images: heteroskedastic modeling and
  practical
  denoising", Signal Processing 89(12), 2009.
- Y. Wang et al., "Practical Deep Raw Image Denoising on Mobile Devices" (PMRID), ECCV 2020
  (k-Sigma transform).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from rawpipe.noise._backend import backend, coerce_params
from rawpipe.noise._gat_table import gat_tables
from rawpipe.noise.params import ParamsLike

__all__ = [
    "INVERSE_METHODS",
    "exact_inverse_fixed",
    "expected_vst",
    "generalized_anscombe",
    "inverse_generalized_anscombe",
    "inverse_k_sigma",
    "k_sigma",
]

InverseMethod = Literal["exact_unbiased", "closed_form", "asymptotic", "algebraic"]
INVERSE_METHODS: tuple[str, ...] = ("exact_unbiased", "closed_form", "asymptotic", "algebraic")
_SQRT_3_2 = math.sqrt(1.5)


def generalized_anscombe(x: Any, params: ParamsLike) -> Any:
    """Generalized Anscombe transform (GAT) ``f(x) = (2/a)·sqrt(max(0, a·x + (3/8)·a² + b))``.

    The GAT for ``z = α·Poisson(y) + N(μ, σ²)`` is ``(2/α)·sqrt(max(0, α·z + (3/8)·α² + σ² − α·μ))``
    (Starck et al. 1998; Mäkitalo & Foi 2013, eq. 4); here ``α = a``, ``σ² = b``, ``μ = 0`` (black
    level removed). In counts it is ``2·sqrt(max(0, y + 3/8 + s²))``. The output has unit variance
    where the signal is not too small (measured: std within 1 ± 0.05 for y ≥ 3 counts over
    a ∈ [1e-4, 1e-2], b ∈ [1e-7, 1e-4]); below ~2–3 counts it is not stabilised.

    Args:
        x: noisy normalised data, any shape (packed ``(*, 4, h, w)`` for per-channel params).
        params: ``NoiseParams`` or ``(a, b)`` broadcastable to ``x``.

    Returns:
        Same shape and kind as ``x``. Exports to ONNX (``GeneralizedAnscombe`` module).
    """
    xp = backend(x)
    x = xp.float_input(x)
    a, b = coerce_params(params, x, xp)
    if xp.name == "torch" and not _grad_enabled():
        # Inference (a whole frame on the host): the same operations in the same order, in place
        # on one temporary instead of five.
        t = a * x
        t.add_(0.375 * a * a).add_(b).clamp_(min=0.0).sqrt_()
        return t.mul_(2.0 / a)
    return (2.0 / a) * xp.sqrt(xp.maximum(a * x + 0.375 * a * a + b, 0.0))


def _grad_enabled() -> bool:
    import torch

    return torch.is_grad_enabled()


def _lookup(tab: Any, fi: Any, fj: Any, xp: Any, like: Any) -> Any:
    """Bilinear lookup in an evenly spaced table at fractional indices ``(fi, fj)``.

    Index by arithmetic only (floor + gather): exports to ONNX, no searchsorted. Along ``i`` the
    weight is not clamped, so outside the table the first/last cell continues linearly (with a
    gradient); along ``j`` the coordinate is clamped to the table.
    """
    n_i, n_j = tab.shape
    i0 = xp.clip(xp.floor(fi), 0.0, float(n_i - 2))
    wi = fi - i0
    j0 = xp.clip(xp.floor(fj), 0.0, float(n_j - 2))
    wj = xp.clip(fj - j0, 0.0, 1.0)
    flat = xp.table(tab, like)  # flattened, cached per dtype/device
    base = i0 * float(n_j) + j0
    v00 = xp.gather(flat, base)
    v01 = xp.gather(flat, base + 1.0)
    v10 = xp.gather(flat, base + float(n_j))
    v11 = xp.gather(flat, base + float(n_j + 1))
    return (1.0 - wi) * ((1.0 - wj) * v00 + wj * v01) + wi * ((1.0 - wj) * v10 + wj * v11)


def _read_counts(a: Any, b: Any, xp: Any) -> Any:
    return xp.sqrt(b) / a


def inverse_generalized_anscombe(
    d: Any, params: ParamsLike, method: InverseMethod = "exact_unbiased"
) -> Any:
    """Inverse of the GAT: from a VST-domain estimate ``D`` back to the normalised signal ``x``.

    A denoiser in the VST domain estimates ``E[f(z) | y]``, not ``f(y)``, and ``E[sqrt(·)] <
    sqrt(E[·])``: the right inverse is the one of ``y ↦ E[f(z) | y]``. Methods (counts; result × a):

    - ``"exact_unbiased"`` (default; Mäkitalo & Foi 2011, 2013): ``I(D, s)`` with
      ``E[f(z) | I(D, s), s] = D``, where
      ``E[f | y, s] = Σ_k Poisson(k; y)·E_ξ[2·sqrt(max(0, k + 3/8 + s² + s·ξ))]`` is computed
      exactly (Poisson sum; Gaussian part in closed form / Gauss–Hermite)
      and inverted by monotone interpolation, stored as a residual over the asymptotic inverse on an
      evenly spaced ``(D − D_A(s), log1p(s / 0.5))`` grid (``rawpipe.noise._gat_table``). Error
      against the exact map < 1e-3 counts for y ≥ 0, s ≥ 0 (measured in the tests). Below
      ``E[f | 0, s]`` it continues *linearly* (negative x) with the slope at y = 0 — no clamp, so
      gradients flow for training; clip the result yourself if you need x ≥ 0.
    - ``"closed_form"`` (Mäkitalo & Foi 2011, 2013): ``(1/4)D² + (1/4)·sqrt(3/2)·D⁻¹ − (11/8)·D⁻² +
      (5/8)·sqrt(3/2)·D⁻³ − 1/8 − s²``, clipped at 0 (and evaluated at ``max(D, sqrt(3/2))``, where
      it is 0 for s = 0). Off by up to ~0.04 counts at y ≤ 1 once read noise is present.
    - ``"asymptotic"``: ``(D/2)² − 1/8 − s²`` (unbiased for large counts only).
    - ``"algebraic"``: ``(D/2)² − 3/8 − s²`` (biased ~0.25 counts low even at large counts).

    Args:
        d: VST-domain values (e.g. a denoiser's output), any shape.
        params: ``NoiseParams`` or ``(a, b)`` broadcastable to ``d``.
        method: see above.

    Returns:
        Normalised signal, same shape and kind as ``d``. Not clipped (see ``"exact_unbiased"``).
    """
    xp = backend(d)
    d = xp.float_input(d)
    a, b = coerce_params(params, d, xp)
    s = _read_counts(a, b, xp)
    half = 0.5 * d
    if method == "exact_unbiased":
        y = _exact_inverse_counts(d, s, xp)
    elif method == "closed_form":
        dc = xp.maximum(d, _SQRT_3_2)
        inv = 1.0 / dc
        y = (
            0.25 * dc * dc
            + 0.25 * _SQRT_3_2 * inv
            - 1.375 * inv * inv
            + 0.625 * _SQRT_3_2 * inv * inv * inv
            - 0.125
            - s * s
        )
        y = xp.maximum(y, 0.0)
    elif method == "asymptotic":
        y = (half - s) * (half + s) - 0.125
    elif method == "algebraic":
        y = (half - s) * (half + s) - 0.375
    else:
        raise ValueError(f"method must be one of {INVERSE_METHODS}, got {method!r}")
    return a * y


def _asymptotic_base(d: Any, s: Any, da: Any, xp: Any) -> Any:
    """What the exact inverse's table is a residual over: the asymptotic inverse
    ``(D/2)² − s² − 1/8`` above its zero ``da = 2·sqrt(s² + 1/8)``, continued linearly below."""
    half = 0.5 * d
    return xp.where(d >= da, (half - s) * (half + s) - 0.125, (0.5 * da) * (d - da))


def _exact_inverse_counts(d: Any, s: Any, xp: Any) -> Any:
    tab = gat_tables()
    da = 2.0 * xp.sqrt(s * s + 0.125)
    fi = (d - da - tab.d_lo) / tab.hd
    fj = xp.log1p(s / tab.s0) / tab.hr
    return _asymptotic_base(d, s, da, xp) + _lookup(tab.inv, fi, fj, xp, d)


def exact_inverse_fixed(d: Any, a: float, b: float) -> Any:
    """The ``"exact_unbiased"`` inverse for one scalar ``(a, b)`` (one colour of one image).

    With the read noise fixed, the 2-D table of :func:`inverse_generalized_anscombe` is cut once
    at this ``s`` (float64), leaving a 1-D linear lookup: two gathers per value instead of four and
    no per-value logarithm. Same values as ``inverse_generalized_anscombe(d, (a, b))`` up to
    float32 rounding (the tests bound it); this is what inference runs on every output pixel.
    """
    import numpy as np

    xp = backend(d)
    d = xp.float_input(d)
    a, b = float(a), max(float(b), 0.0)
    if not a > 0.0:
        raise ValueError(f"the shot-noise gain a must be > 0, got {a}")
    tab = gat_tables()
    s = math.sqrt(b) / a
    n_i, n_j = tab.inv.shape
    fj = math.log1p(s / tab.s0) / tab.hr
    j0 = min(max(math.floor(fj), 0), n_j - 2)
    wj = min(max(fj - j0, 0.0), 1.0)
    column = (1.0 - wj) * tab.inv[:, j0] + wj * tab.inv[:, j0 + 1]
    step = np.diff(column, append=column[-1:])  # column[i + 1] - column[i]; unused at the end
    col, slope = (xp.asarray(np.ascontiguousarray(c), d) for c in (column, step))
    da = 2.0 * math.sqrt(s * s + 0.125)
    fi = (d - (da + tab.d_lo)) * (1.0 / tab.hd)
    i0 = xp.clip(xp.floor(fi), 0.0, float(n_i - 2))
    k = xp.index(i0)
    base = _asymptotic_base(d, s, da, xp)
    return a * (base + xp.take(col, k) + (fi - i0) * xp.take(slope, k))


def expected_vst(x: Any, params: ParamsLike) -> Any:
    """``T(x) = E[f(z) | x]``: the expected GAT of the noisy observation of clean signal ``x``.

    This is the VST-domain training target of the ARCHITECTURE contract and exactly what the
    ``"exact_unbiased"`` inverse inverts:
    ``inverse_generalized_anscombe(expected_vst(x, p), p) ≈ x`` (to < 2e-3 counts). Computed from
    a table of ``Q = E[f | y, s] − (2·sqrt(u) − 1/(4·sqrt(u)))``, ``u = y + 3/8 + s²``, over
    ``sqrt(y + 1/4) − 1/2`` and ``log1p(s / 0.5)`` (Mäkitalo & Foi 2013: exact Poisson sum with the
    Gaussian part; error < 3e-4 against the exact sum). For ``x < 0`` it continues linearly with
    the slope at 0. numpy and torch
    (differentiable) give the same values.

    Args:
        x: clean normalised signal, any shape.
        params: ``NoiseParams`` or ``(a, b)`` broadcastable to ``x``.
    """
    xp = backend(x)
    x = xp.float_input(x)
    a, b = coerce_params(params, x, xp)
    s = _read_counts(a, b, xp)
    y = x / a
    tab = gat_tables()
    yp = xp.maximum(y, 0.0)
    fi = (xp.sqrt(yp + tab.tc * tab.tc) - tab.tc) / tab.ht
    fj = xp.log1p(s / tab.s0) / tab.hr
    q = _lookup(tab.fwd, fi, fj, xp, x)
    slope = _lookup(tab.slope0_2d, 0.0 * fj, fj, xp, x)
    r = xp.sqrt(yp + 0.375 + s * s)
    return (2.0 * r - 0.25 / r) + q + xp.minimum(y, 0.0) * slope


def k_sigma(x: Any, params: ParamsLike, anchor: ParamsLike) -> Any:
    """k-Sigma transform (PMRID, Wang et al. ECCV 2020): map data at any gain onto an anchor's.

    With ``params = (k, s)`` (``Var = k·x + s``) and ``anchor = (k_a, s_a)``:
    ``x' = x·k_a/k + (s/k² − s_a/k_a²)·k_a``, so that ``Var(x') = k_a·E[x'] + s_a``: every noise
    level looks like the anchor's (a network trained at the anchor serves all). Linear, so its
    inverse
    (``inverse_k_sigma``) adds no bias.
    """
    xp = backend(x)
    x = xp.float_input(x)
    k, s = coerce_params(params, x, xp)
    ka, sa = coerce_params(anchor, x, xp)
    return x * (ka / k) + (s / (k * k) - sa / (ka * ka)) * ka


def inverse_k_sigma(xk: Any, params: ParamsLike, anchor: ParamsLike) -> Any:
    """Inverse of ``k_sigma``: ``x = (x' − (s/k² − s_a/k_a²)·k_a)·k/k_a``."""
    xp = backend(xk)
    xk = xp.float_input(xk)
    k, s = coerce_params(params, xk, xp)
    ka, sa = coerce_params(anchor, xk, xp)
    return (xk - (s / (k * k) - sa / (ka * ka)) * ka) * (k / ka)
