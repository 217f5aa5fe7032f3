"""Exact expectations of the generalized Anscombe transform and the tables built from them.

Everything here is in *shot-noise units* (counts): ``y = x / a`` is the clean signal,
``s = sqrt(b) / a`` the read-noise standard deviation, and ``f(c) = 2·sqrt(max(0, c + 3/8 + s²))``
is the GAT of one noisy count ``c = k + s·ξ`` with ``k ~ Poisson(y)`` and ``ξ ~ N(0, 1)``
(Mäkitalo & Foi, IEEE TIP 22(1), 2013, eq. 4 with α = 1, μ = 0).

The exact expectation (the quantity a denoiser estimates in the VST domain) is

    E[f | y, s] = Σ_k  e^{-y} y^k / k!  ·  h(k + 3/8 + s², s),
    h(m, s)     = E_ξ[ 2·sqrt(max(0, m + s·ξ)) ].

``h`` is evaluated in closed form where the clipping point of the square root lies within 20
standard deviations (the half-moment of a censored normal, through the parabolic cylinder function:
``E[X_+^ν] = σ^ν Γ(ν+1) e^{-t²/4} D_{-ν-1}(-t) / sqrt(2π)`` for ``X ~ N(tσ, σ²)``, here
ν = 1/2), and
by 48-point Gauss–Hermite quadrature otherwise (there the integrand is analytic over every node).
Checked against 30-digit adaptive quadrature (mpmath): relative error < 1e-13.

Two tables are built from it, both on grids that are *evenly spaced* in their coordinates, so a
lookup is plain arithmetic (floor, gather, bilinear weights) that exports to ONNX — no searchsorted:

- the inverse table: ``R(d, r) = I(D, s) − A(D, s)`` where ``I`` is the exact unbiased inverse
  (``E[f | I(D, s), s] = D``), ``A`` its asymptotic form ``(D/2)² − 1/8 − s²`` (continued linearly
  below ``D_A = 2·sqrt(1/8 + s²)``), ``d = D − D_A`` and ``r = log1p(s / S0)``. ``R`` is small and
  smooth (|R| < 0.85 everywhere, < 2e-4 where y > 400 or s > 30) and exactly linear in ``d`` below
  the lowest reachable ``D``, so linear extrapolation of the first cell continues ``I`` linearly
  below its domain (no clamp, no dead gradient). ``I`` is obtained per column by monotone (PCHIP)
  interpolation of the exactly computed map ``y ↦ E[f | y, s]``.
- the forward table: ``Q(t, r) = E[f | y, s] − (2·sqrt(u) − 1/(4·sqrt(u)))``, ``u = y + 3/8 + s²``,
  with ``t = sqrt(y + 1/4) − 1/2`` (finite slope at y = 0), plus the
  slope ``E'(0, s) = h(1 + 3/8 + s², s) − h(3/8 + s², s)`` used to continue ``E`` linearly for
  y < 0.

Build time: 0.4–0.9 s on one core (plus the scipy import), done once per process on first use
(``gat_tables()`` is cached; nothing is written to disk); size 2.0 MB in float64 (1201×113
inverse, 1021×113 forward entries).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

__all__ = [
    "GatTables",
    "expected_gat_exact",
    "gat_std_exact",
    "gat_tables",
    "gaussian_sqrt_moment",
]

# Grid constants (counts). Chosen from measured interpolation errors (see tests/noise/test_vst.py).
S0 = 0.5  # read-noise scale of the r = log1p(s / S0) coordinate
S_MAX = 200.0  # last column; beyond it the last column is used (|R| < 2e-5 there)
N_S = 113
D_LO, D_HI, N_D = -1.0, 47.0, 1201  # d = D − D_A, step 0.04
T_C = 0.5
T_HI, N_T = 25.5, 1021  # t = sqrt(y + T_C²) − T_C, step 0.025 (y up to 675)
_Y_BUILD_MAX = 700.0  # y range of the exact computation behind the tables
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(48)
_GH_W = _GH_W / np.sqrt(2.0 * np.pi)


def gaussian_sqrt_moment(m: np.ndarray | float, s: np.ndarray | float) -> np.ndarray:
    """``h(m, s) = E[2·sqrt(max(0, m + s·ξ))]`` for ``ξ ~ N(0, 1)``, elementwise (float64).

    Closed form through the parabolic cylinder function ``D_{-3/2}`` (censored-normal half moment)
    when ``m / s < 20``; Gauss–Hermite quadrature (48 nodes) otherwise; ``2·sqrt(max(m, 0))``
    at s = 0.
    """
    from scipy import special

    m, s = np.broadcast_arrays(np.asarray(m, np.float64), np.asarray(s, np.float64))
    out = np.empty(m.shape)
    zero = s <= 0
    out[zero] = 2.0 * np.sqrt(np.maximum(m[zero], 0.0))
    t = np.where(zero, np.inf, m / np.where(zero, 1.0, s))
    near = ~zero & (t < 20.0)
    tn, sn = t[near], s[near]
    out[near] = (
        2.0
        * np.sqrt(sn)
        * special.gamma(1.5)
        * np.exp(-0.25 * tn * tn)
        * special.pbdv(-1.5, -tn)[0]
        / np.sqrt(2.0 * np.pi)
    )
    far = ~zero & (t >= 20.0)
    mf, sf = m[far][:, None], s[far][:, None]
    out[far] = (2.0 * np.sqrt(np.maximum(mf + sf * _GH_X, 0.0)) * _GH_W).sum(-1)
    return out


def _poisson_window(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-element Poisson support window ``k0 + arange(W)`` holding all but < 1e-16 of the mass."""
    y = np.asarray(y, np.float64)
    lo = np.maximum(np.floor(y - 12.0 * np.sqrt(y) - 20.0), 0.0).astype(np.int64)
    width = int(np.ceil(24.0 * np.sqrt(max(float(y.max(initial=0.0)), 0.0)) + 45.0))
    k = lo[..., None] + np.arange(width)
    return k, lo


def _poisson_pmf(k: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy import special

    y = np.asarray(y, np.float64)[..., None]
    logy = np.log(np.where(y > 0, y, 1.0))
    logp = k * logy - y - special.gammaln(k + 1.0)
    p = np.exp(logp)
    return np.where(y > 0, p, (k == 0).astype(np.float64))


def expected_gat_exact(y: np.ndarray | float, s: np.ndarray | float) -> np.ndarray:
    """Exact ``E[f(c) | y, s]`` in counts (Poisson sum × Gaussian part), elementwise, float64.

    The reference the tables are judged against; vectorised but not meant for whole images.
    ``y`` must be ≥ 0.
    """
    y, s = np.broadcast_arrays(np.asarray(y, np.float64), np.asarray(s, np.float64))
    if np.any(y < 0):
        raise ValueError("expected_gat_exact: y must be >= 0")
    k, _ = _poisson_window(y)
    p = _poisson_pmf(k, y)
    h = gaussian_sqrt_moment(k + 0.375 + s[..., None] ** 2, s[..., None])
    return (p * h).sum(-1)


def gat_std_exact(y: np.ndarray | float, s: np.ndarray | float) -> np.ndarray:
    """Exact standard deviation of ``f(c)`` given ``(y, s)`` (counts), elementwise, float64.

    ``E[f²] = 4·E[max(0, c + 3/8 + s²)]`` uses the censored-normal first moment
    ``E[X_+] = μ·Φ(μ/σ) + σ·φ(μ/σ)``.
    """
    from scipy import special

    y, s = np.broadcast_arrays(np.asarray(y, np.float64), np.asarray(s, np.float64))
    k, _ = _poisson_window(y)
    p = _poisson_pmf(k, y)
    m = k + 0.375 + s[..., None] ** 2
    sb = s[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(sb > 0, m / np.where(sb > 0, sb, 1.0), np.inf)
        pos = np.where(
            sb > 0, m * special.ndtr(t) + sb * np.exp(-0.5 * t * t) / np.sqrt(2 * np.pi), m
        )
    e2 = 4.0 * (p * pos).sum(-1)
    e1 = expected_gat_exact(y, s)
    return np.sqrt(np.maximum(e2 - e1 * e1, 0.0))


@dataclass(frozen=True)
class GatTables:
    """Evenly spaced lookup tables for the exact unbiased inverse and for ``E[f | y, s]``.

    ``inv[i, j] = R(D_LO + i·hd, r_j)`` and ``fwd[i, j] = Q(t = i·ht, r_j)`` with ``r_j = j·hr``,
    ``slope0[j] = E'(0, s_j)`` (see the module docstring). All float64 numpy arrays.
    """

    inv: np.ndarray
    fwd: np.ndarray
    slope0: np.ndarray
    d_lo: float
    hd: float
    ht: float
    hr: float
    s0: float
    tc: float
    slope0_2d: np.ndarray  # slope0 as a 2-row table, for the shared bilinear lookup

    @property
    def s_grid(self) -> np.ndarray:
        return self.s0 * np.expm1(self.hr * np.arange(self.inv.shape[1]))


def forward_base(y: np.ndarray, s: np.ndarray | float) -> np.ndarray:
    """``2·sqrt(u) − 1/(4·sqrt(u))``, ``u = y + 3/8 + s²``: ``E[f | y, s]`` to O(u^{-3/2})."""
    r = np.sqrt(y + 0.375 + s * s)
    return 2.0 * r - 0.25 / r


def _asymptotic_inverse(D: np.ndarray, s: float) -> np.ndarray:
    da = 2.0 * np.sqrt(0.125 + s * s)
    return np.where(D >= da, (0.5 * D - s) * (0.5 * D + s) - 0.125, 0.5 * da * (D - da))


@functools.lru_cache(maxsize=1)
def gat_tables() -> GatTables:
    """Build (once per process) the inverse and forward tables; about 0.3 s."""
    from scipy import interpolate

    hr = np.log1p(S_MAX / S0) / (N_S - 1)
    s_grid = S0 * np.expm1(hr * np.arange(N_S))
    # One y grid shared by all columns (evenly spaced in sqrt(y)), so the Poisson weights are
    # computed once and every column is a matrix product.
    ty = np.linspace(0.0, np.sqrt(_Y_BUILD_MAX), 2401)
    y = ty * ty
    kmax = int(np.ceil(_Y_BUILD_MAX + 12 * np.sqrt(_Y_BUILD_MAX) + 45))
    k = np.arange(kmax + 1, dtype=np.float64)
    pmf = _poisson_pmf(k[None, :], y)  # (ny, K)
    h = gaussian_sqrt_moment(k[:, None] + 0.375 + s_grid[None, :] ** 2, s_grid[None, :])  # (K, S)
    expect = pmf @ h  # (ny, S)

    d = D_LO + (D_HI - D_LO) / (N_D - 1) * np.arange(N_D)
    t = T_HI / (N_T - 1) * np.arange(N_T)  # t = sqrt(y + T_C²) − T_C
    inv = np.empty((N_D, N_S))
    fwd = np.empty((N_T, N_S))
    slope0 = h[1] - h[0]
    for j, s in enumerate(s_grid):
        e = expect[:, j]
        if not np.all(np.diff(e) > 0):
            raise RuntimeError("E[f | y, s] is not increasing on the build grid")
        da = 2.0 * np.sqrt(0.125 + s * s)
        D = d + da
        inverse = interpolate.PchipInterpolator(e, y, extrapolate=False)
        exact = inverse(np.clip(D, e[0], e[-1]))
        below = D < e[0]
        exact = np.where(below, (D - e[0]) / slope0[j], exact)
        resid = exact - _asymptotic_inverse(D, s)
        above = D > e[-1]
        if np.any(above):  # beyond the computed y range: decay like u⁻² from the last value
            u_edge = y[-1] + 0.375 + s * s
            u = 0.25 * D[above] ** 2 + 0.25
            last = resid[~above][-1]
            resid[above] = last * (u_edge / u) ** 2
        resid[-2:] = resid[-3]  # flat last cell: extrapolation above the table adds nothing
        inv[:, j] = resid
        yt = (t + T_C) ** 2 - T_C * T_C
        forward = interpolate.CubicSpline(ty, e)(np.sqrt(yt))
        fwd[:, j] = forward - forward_base(yt, s)
    fwd[-2:] = fwd[-3]
    slope0_2d = np.stack([slope0, slope0])
    for arr in (inv, fwd, slope0, slope0_2d):
        arr.setflags(write=False)
    return GatTables(
        inv=inv,
        fwd=fwd,
        slope0=slope0,
        d_lo=D_LO,
        hd=(D_HI - D_LO) / (N_D - 1),
        ht=T_HI / (N_T - 1),
        hr=float(hr),
        s0=S0,
        tc=T_C,
        slope0_2d=slope0_2d,
    )
