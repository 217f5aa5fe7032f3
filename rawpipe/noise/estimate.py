"""Estimate Poisson–Gaussian noise parameters from raw data.

Single image: our implementation of Foi, Trimeche, Katkovnik, Egiazarian, "Practical
Poissonian-Gaussian noise modeling and fitting for single-image raw-data", IEEE TIP 17(10), 2008:

1. Noise samples: detail coefficients ``w = (u ⊗ u) ⊛ z`` of k×k windows (k = 4) with the
   alternating ``u = [1, −1, 1, −1]/2``: unit norm with *equal* squared weights, so
   ``Var(w) = a·mean(y) + b`` over the window, exactly the expectation of the window mean used as
   the sample's signal (orthogonal to ``w``); zero on anything that varies along one axis only;
   pass-band at the Nyquist frequency, where scenes hold the least energy. For Bayer data the
   pooled estimate takes ``w`` on the green difference ``(G1 − G2)/√2`` (two neighbouring pixels of
   one colour: most structure cancels before the high-pass) with the mean of ``(G1 + G2)/2`` as
   signal; per-channel estimates use each CFA plane.
2. Smoothness mask: texture raises the mean squared detail over a neighbourhood (25×25 windows,
   leaving out every window that shares a pixel with the sample, so the selection does not bias
   the sample). Per signal band the 30 % smoothest samples are kept; after a first fit, also every
   sample whose neighbourhood is no rougher than the model's noise.
3. Level sets: kept samples grouped by signal into bins of equal count; per bin the mean signal and
   the variance of ``w`` with outliers beyond 6 robust σ trimmed (divided by the truncated-normal
   factor to stay unbiased), with sampling variance ``2σ⁴/n``.
4. Fit: maximum likelihood of ``(a, b)`` over the bins with the *clipped* model (Foi 2009): the
   observation is ``clip(z, low, high)``; its mean and variance (censored moments; an exact Poisson
   sum below 40 photo-electrons, where a Gaussian would put mass below 0) replace ``y`` and
   ``a·y + b``; a Cauchy-robust loss limits bins still polluted by texture.

Two frames of a static scene: ``(z₁ − z₂)/√2`` at every pixel (scene cancels, no mask), binned
by the 4×4 block mean of ``(z₁ + z₂)/2``, then steps 3–4. Dark frames: read variance ``b`` from
frame differences (fixed pattern cancels), clipping-aware.

Measured (tests/noise/test_estimate.py): on raws synthesised from the scikit-image photos over 12
``(a, b)`` pairs the single-image std curve is within ~7 % (median) / ~15 % (worst) for
x ∈ [0.01, 0.9], the two-frame one within 2 %. Limits: a single image cannot tell fine scene
texture from noise; where a frame has no smooth regions at some signal level (e.g. sunlit stone
at a long exposure) the curve there comes out high.

All functions work on normalised arrays (``x = (DN − black)/(white − black)``): a mosaic ``(H, W)``
with its CFA pattern, or packed RGGB planes ``(4, h, w)``. ``estimate_noise(raw)`` and friends are
thin wrappers over ``RawImage``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rawpipe.noise.params import NoiseParams, _rggb_order

__all__ = [
    "LevelSets",
    "estimate_noise",
    "estimate_noise_mosaic",
    "estimate_noise_two_frames",
    "estimate_noise_two_frames_mosaic",
    "estimate_read_noise",
    "fit_noise_curve",
    "level_sets_single",
    "level_sets_two_frames",
    "pack_sites",
]

_TRIM = 6.0
_TRIM_FACTOR = 1.0 - 2.0 * _TRIM * math.exp(-0.5 * _TRIM**2) / math.sqrt(2 * math.pi) / math.erf(
    _TRIM / math.sqrt(2)
)  # variance of N(0,1) truncated at ±3: 0.97334


@dataclass(frozen=True)
class LevelSets:
    """Per-level statistics: mean signal, unbiased variance of the noise samples, sample count."""

    mean: np.ndarray
    var: np.ndarray
    count: np.ndarray

    def __len__(self) -> int:
        return len(self.mean)

    @staticmethod
    def concat(items: Sequence[LevelSets]) -> LevelSets:
        return LevelSets(
            np.concatenate([i.mean for i in items]),
            np.concatenate([i.var for i in items]),
            np.concatenate([i.count for i in items]),
        )


# ---------------------------------------------------------------------------------------------
# layout helpers
# ---------------------------------------------------------------------------------------------
def _pattern_str(pattern: Any) -> str:
    for attr in ("name", "value"):
        v = getattr(pattern, attr, None)
        if isinstance(v, str) and len(v) == 4:
            return v.upper()
    return str(pattern).upper()


def pack_sites(x: np.ndarray, cfa_pattern: Any = "RGGB") -> np.ndarray:
    """``(H, W)`` mosaic → ``(4, H/2, W/2)`` planes in RGGB order (G1 on the red row).

    Odd trailing rows/columns are dropped. ``(4, h, w)`` input is returned unchanged.
    """
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[0] == 4:
        return x
    if x.ndim != 2:
        raise ValueError(f"expected a mosaic (H, W) or packed (4, h, w), got {x.shape}")
    h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
    sites = [x[0:h:2, 0:w:2], x[0:h:2, 1:w:2], x[1:h:2, 0:w:2], x[1:h:2, 1:w:2]]
    order = _rggb_order(_pattern_str(cfa_pattern))
    return np.stack([sites[i] for i in order])


# ---------------------------------------------------------------------------------------------
# samples and level sets
# ---------------------------------------------------------------------------------------------
_WIN = 4  # window size K of the detail kernel / signal mean
_RING = 12  # half-size (in window anchors) of the neighbourhood whose detail energy gauges texture


def _sep_filter(p: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Valid 2-D correlation with ``taps ⊗ taps``: ``out[i, j] = Σ taps[u]·taps[v]·p[i+u, j+v]``."""
    k = len(taps)
    h, w = p.shape[0] - k + 1, p.shape[1] - k + 1
    r = sum(t * p[u : u + h] for u, t in enumerate(taps))
    return sum(t * r[:, v : v + w] for v, t in enumerate(taps))


def _window_mean(p: np.ndarray, k: int = _WIN) -> np.ndarray:
    """k×k means, valid part, anchored at the window's top-left pixel."""
    return _sep_filter(p, np.full(k, 1.0 / k))


def _window_detail(p: np.ndarray, k: int = _WIN) -> np.ndarray:
    """``(u ⊗ u) ⊛ p``, alternating ``u = [1, −1, 1, −1, ...]/√k`` (anchored like the mean).

    Unit norm and *equal* squared weights (1/k²): ``Var = a·mean_{k×k}(y) + b`` exactly, matching
    the expectation of the k×k mean used as its signal (a kernel with unequal weights, e.g.
    ``[1, −2, 1]⊗[1, −2, 1]``, weights the centre and biases the curve where the scene varies).
    Orthogonal to the mean; zero on anything that depends on one axis only (gradients, ramps);
    its pass-band sits at the Nyquist frequency, where natural images hold the least energy.
    """
    u = np.array([(-1.0) ** i for i in range(k)]) / math.sqrt(k)
    return _sep_filter(p, u)


def _box_sums(a: np.ndarray, r: int) -> np.ndarray:
    """Sums over ``(2r+1)×(2r+1)`` blocks centred on every position with a full block."""
    c = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    c[1:, 1:] = a.cumsum(0).cumsum(1)
    k = 2 * r + 1
    return c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]


def _plane_samples(
    p: np.ndarray, stride: int = 2, noise_plane: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(signal, detail, texture) samples of one plane.

    ``noise_plane``: take the detail coefficients from this plane instead (e.g. the green
    difference ``(G1 − G2)/√2``, whose variance is that of one pixel at the mean green signal);
    the signal stays the window mean of ``p``.

    ``texture``: the mean squared detail coefficient over the windows within ``_RING`` anchors of
    the sample, leaving out every window that shares a pixel with the sample's own. Under noise
    alone it is ≈ σ² (relative spread ~0.2); texture raises it. It uses only pixels outside the
    sample's window, so selecting on it does not bias the sample's noise.
    """
    p = np.asarray(p, np.float64)
    k = _WIN
    box = _window_mean(p, k)  # anchored at the top-left of each k×k window
    det = _window_detail(p if noise_plane is None else np.asarray(noise_plane, np.float64), k)
    r = max(_RING, 2 * k)
    ov = k - 1  # anchors within ±(k−1) share pixels with the sample's window
    hh, ww = det.shape
    if hh <= 2 * r + 1 or ww <= 2 * r + 1:
        e = np.empty(0)
        return e, e, e
    d2 = det * det
    outer = _box_sums(d2, r)  # centred at (r + i, r + j)
    inner = _box_sums(d2, ov)[r - ov : hh - r - ov, r - ov : ww - r - ov]
    ring = (outer - inner) / float((2 * r + 1) ** 2 - (2 * ov + 1) ** 2)
    m = box[r : hh - r, r : ww - r]
    w = det[r : hh - r, r : ww - r]
    sl = (slice(None, None, stride), slice(None, None, stride))
    return m[sl].ravel(), w[sl].ravel(), ring[sl].ravel()


def _trimmed_var(w: np.ndarray) -> float:
    s = 1.4826 * float(np.median(np.abs(w)))
    if s <= 0:
        return float(np.mean(w * w))
    for _ in range(2):
        keep = np.abs(w) <= _TRIM * s
        v = float(np.mean(w[keep] ** 2)) / _TRIM_FACTOR
        s = math.sqrt(max(v, 1e-30))
    return v


def _bin(m: np.ndarray, w: np.ndarray, *, min_count: int, max_levels: int) -> LevelSets:
    """Group samples into equal-count level sets; outlier-trimmed unbiased variance per level."""
    n = len(m)
    if n < min_count:
        return LevelSets(np.empty(0), np.empty(0), np.empty(0))
    nb = int(max(1, min(max_levels, n // min_count)))
    order = np.argsort(m, kind="stable")
    cuts = np.linspace(0, n, nb + 1).astype(int)
    means = np.empty(nb)
    vars_ = np.empty(nb)
    for i in range(nb):
        idx = order[cuts[i] : cuts[i + 1]]
        means[i] = float(np.mean(m[idx]))
        vars_[i] = _trimmed_var(w[idx])
    return LevelSets(means, vars_, np.diff(cuts).astype(float))


def level_sets_single(
    planes: np.ndarray,
    *,
    params: NoiseParams | None = None,
    source: str = "auto",
    keep_fraction: float = 0.3,
    min_count: int = 400,
    max_levels: int = 120,
    stride: int | None = None,
    max_samples: int = 1_000_000,
    max_signal: float | None = 0.95,
) -> LevelSets:
    """Foi-2008 level sets of one image: packed RGGB ``(4, h, w)``, or ``(C, h, w)``/``(h, w)``.

    Noise samples (``source``): ``"green"`` takes the detail coefficients of the green difference
    ``(G1 − G2)/√2`` (two neighbouring pixels of the same colour: most scene structure cancels
    before the high-pass, and its variance is that of one pixel at the mean green signal), with the
    window mean of ``(G1 + G2)/2`` as signal; ``"planes"`` takes each plane's own detail;
    ``"auto"`` is ``"green"`` for 4 planes, else ``"planes"``.

    Smoothness mask: per signal band (64 bands of equal count), the ``keep_fraction`` of samples
    with the lowest neighbourhood detail energy (relative to the current model's variance when
    ``params`` is given) are kept; the neighbourhood excludes the sample's own pixels, so the
    selection does not bias the noise statistics. With ``params``, level means are also corrected
    for the selection bias of binning on a noisy signal (see ``_bin``).
    """
    planes = np.asarray(planes, np.float64)
    if planes.ndim == 2:
        planes = planes[None]
    if source == "auto":
        source = "green" if planes.shape[0] == 4 else "planes"
    if stride is None:  # stride 2, coarser for big images (enough samples either way)
        stride = max(2, math.ceil(math.sqrt(planes.size / max_samples)))
    if source == "green":
        if planes.shape[0] != 4:
            raise ValueError("source='green' needs packed RGGB planes (4, h, w)")
        g1, g2 = planes[1], planes[2]
        cols = [_plane_samples(0.5 * (g1 + g2), stride, (g1 - g2) / math.sqrt(2.0))]
    elif source == "planes":
        cols = [_plane_samples(p, stride) for p in planes]
    else:
        raise ValueError(f"source must be 'auto', 'green' or 'planes', got {source!r}")
    m, w, e = (np.concatenate([c[i] for c in cols]) for i in range(3))
    if max_signal is not None:  # saturated regions carry no noise information
        sel = m <= max_signal
        m, w, e = m[sel], w[sel], e[sel]
    if params is None:
        keep = _rank_mask(m, e, keep_fraction)
    else:
        a, b = params.mean().shot, params.mean().read
        ratio = e / np.maximum(a * np.maximum(m, 0.0) + b, 1e-20)
        keep = _rank_mask(m, ratio, keep_fraction) | (ratio <= 1.0)
    return _bin(m[keep], w[keep], min_count=min_count, max_levels=max_levels)


def _rank_mask(m: np.ndarray, g: np.ndarray, frac: float, bands: int = 64) -> np.ndarray:
    """Per signal band, keep the samples with the lowest ``g`` (a fraction ``frac``)."""
    keep = np.zeros(len(m), bool)
    order = np.argsort(m, kind="stable")
    for idx in np.array_split(order, bands):
        if len(idx) == 0:
            continue
        thr = np.quantile(g[idx], frac)
        keep[idx[g[idx] <= thr]] = True
    return keep


def level_sets_two_frames(
    planes1: np.ndarray,
    planes2: np.ndarray,
    *,
    min_count: int = 400,
    max_levels: int = 120,
    max_samples: int = 2_000_000,
    max_signal: float | None = 0.95,
) -> LevelSets:
    """Level sets from two registered frames of a static scene (same exposure).

    Noise samples ``(z₁ − z₂)/√2`` (variance σ², scene cancels) at every pixel; each
    non-overlapping 4×4 block's 16 samples are binned by the block mean of ``(z₁ + z₂)/2``
    (uncorrelated with the differences for equal variances; its expectation is the mean signal
    that sets the block's average variance).
    """
    p1 = np.asarray(planes1, np.float64)
    p2 = np.asarray(planes2, np.float64)
    if p1.shape != p2.shape:
        raise ValueError(f"frames differ in shape: {p1.shape} vs {p2.shape}")
    if p1.ndim == 2:
        p1, p2 = p1[None], p2[None]
    ms, ws = [], []
    step = max(1, math.ceil(math.sqrt(p1.size / max_samples)))  # keep every step-th block
    for a, b in zip(p1, p2):
        h, w = (a.shape[0] // 4) * 4, (a.shape[1] // 4) * 4
        avg = 0.5 * (a[:h, :w] + b[:h, :w])
        m = avg.reshape(h // 4, 4, w // 4, 4).mean(axis=(1, 3))
        d = ((a[:h, :w] - b[:h, :w]) / math.sqrt(2.0)).reshape(h // 4, 4, w // 4, 4)
        m = m[::step, ::step]
        d = d[::step, :, ::step, :]
        ms.append(np.repeat(m.reshape(-1), 16))
        ws.append(d.transpose(0, 2, 1, 3).reshape(-1))
    m_all, w_all = np.concatenate(ms), np.concatenate(ws)
    if max_signal is not None:
        sel = m_all <= max_signal
        m_all, w_all = m_all[sel], w_all[sel]
    return _bin(
        m_all,
        w_all,
        min_count=min_count,
        max_levels=max_levels,
    )


# ---------------------------------------------------------------------------------------------
# clipping-aware fit
# ---------------------------------------------------------------------------------------------
def _clipped_moments(
    y: np.ndarray, sigma: np.ndarray, low: float, high: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``clip(N(y, σ²), low, high)`` (censored normal; Foi 2009)."""
    from scipy import special

    sigma = np.maximum(sigma, 1e-30)
    al = (low - y) / sigma
    be = (high - y) / sigma
    cdf_a = special.ndtr(al) if np.isfinite(low) else np.zeros_like(y)
    cdf_b = special.ndtr(be) if np.isfinite(high) else np.ones_like(y)
    pdf_a = np.exp(-0.5 * al * al) / math.sqrt(2 * math.pi) if np.isfinite(low) else 0.0 * y
    pdf_b = np.exp(-0.5 * be * be) / math.sqrt(2 * math.pi) if np.isfinite(high) else 0.0 * y
    mid = cdf_b - cdf_a
    lo_term = low * cdf_a if np.isfinite(low) else 0.0
    hi_term = high * (1.0 - cdf_b) if np.isfinite(high) else 0.0
    mean = lo_term + hi_term + y * mid + sigma * (pdf_a - pdf_b)
    with np.errstate(invalid="ignore"):
        a_pdf = np.where(np.isfinite(al), al * pdf_a, 0.0)
        b_pdf = np.where(np.isfinite(be), be * pdf_b, 0.0)
    ex2 = (
        (low * low * cdf_a if np.isfinite(low) else 0.0)
        + (high * high * (1.0 - cdf_b) if np.isfinite(high) else 0.0)
        + y * y * mid
        + 2.0 * y * sigma * (pdf_a - pdf_b)
        + sigma * sigma * (mid + a_pdf - b_pdf)
    )
    return mean, np.maximum(ex2 - mean * mean, 0.0)


_PG_EXACT_COUNTS = 40.0  # below this many photo-electrons the clipped moments use the Poisson sum


def _pg_clipped_moments(
    y: np.ndarray, a: float, b: float, low: float, high: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``clip(a·Poisson(y/a) + N(0, b), low, high)``.

    Exact Poisson sum of censored-normal moments below ``_PG_EXACT_COUNTS`` counts (where a
    Gaussian ``N(y, a·y + b)`` would wrongly put mass below 0), the censored normal above.
    """
    y = np.asarray(y, np.float64)
    sig = np.sqrt(np.maximum(a * np.maximum(y, 0.0) + b, 1e-30))
    mean, var = _clipped_moments(y, sig, low, high)
    small = (y > 0) & (y / a < _PG_EXACT_COUNTS)
    if np.any(small):
        from scipy import special

        c = y[small] / a
        kmax = int(_PG_EXACT_COUNTS + 12.0 * math.sqrt(_PG_EXACT_COUNTS) + 45.0)
        k = np.arange(kmax + 1, dtype=np.float64)
        logp = k * np.log(c)[:, None] - c[:, None] - special.gammaln(k + 1.0)
        pmf = np.exp(logp)
        sr = math.sqrt(max(b, 1e-30 * a * a))
        mk, vk = _clipped_moments(a * k[None, :], np.full((1, k.size), sr), low, high)
        m1 = (pmf * mk).sum(1)
        m2 = (pmf * (vk + mk * mk)).sum(1)
        mean = mean.copy()
        var = var.copy()
        mean[small] = m1
        var[small] = np.maximum(m2 - m1 * m1, 0.0)
    return mean, var


def _solve_y(
    mu: np.ndarray, a: float, b: float, low: float, high: float, iters: int = 12
) -> np.ndarray:
    """``y`` with clipped mean ``E[clip(z)] = mu``: safeguarded Newton (vectorised).

    The clipped mean is increasing in ``y`` with slope in (0, 1]; Newton steps use a numerical
    slope and stay inside a bracket that shrinks with every evaluation.
    """
    finite_lo = low if np.isfinite(low) else float(mu.min())
    finite_hi = high if np.isfinite(high) else float(mu.max())
    span = max(finite_hi - finite_lo, 1e-6)
    lo = np.full_like(mu, finite_lo - span)
    hi = np.full_like(mu, finite_hi + span)
    y = np.clip(mu, lo, hi)
    tol = 1e-10 * max(float(np.max(np.abs(mu))), 1e-12)
    for _ in range(iters):
        m, _ = _pg_clipped_moments(y, a, b, low, high)
        if float(np.max(np.abs(m - mu))) < tol:
            break
        up = m < mu
        lo = np.where(up, y, lo)
        hi = np.where(up, hi, y)
        h = 1e-4 * np.sqrt(np.maximum(a * np.maximum(y, 0.0) + b, 1e-30)) + 1e-12
        m2, _ = _pg_clipped_moments(y + h, a, b, low, high)
        slope = np.maximum((m2 - m) / h, 1e-6)
        y_new = y + (mu - m) / slope
        bad = ~((y_new >= lo) & (y_new <= hi))
        y = np.where(bad, 0.5 * (lo + hi), y_new)
    return y


def _model_var(mu: np.ndarray, a: float, b: float, low: float, high: float) -> np.ndarray:
    """Predicted variance of the clipped observation at levels with observed mean ``mu``.

    Levels more than 6 std from both clipping points are unaffected (``a·mu + b``); for the rest
    ``y`` is solved from the clipped-mean equation first.
    """
    var = a * np.maximum(mu, 0.0) + b
    sd = np.sqrt(np.maximum(var, 0.0))
    near = (mu - low < 6.0 * sd + 50.0 * a) | (high - mu < 6.0 * sd)
    if np.any(near):
        y = _solve_y(mu[near], a, b, low, high)
        _, v = _pg_clipped_moments(y, a, b, low, high)
        var = var.copy()
        var[near] = v
    return var


def _linear_start(ls: LevelSets, low: float, high: float) -> tuple[float, float]:
    """Weighted linear regression of var on mean, bins away from the clipping points."""
    m, v, n = ls.mean, ls.var, ls.count
    ok = np.ones(len(m), bool)
    if np.isfinite(low):
        ok &= m - low > 3.0 * np.sqrt(v)
    if np.isfinite(high):
        ok &= high - m > 3.0 * np.sqrt(v)
    if ok.sum() < 2:
        ok = np.ones(len(m), bool)
    m, v, n = m[ok], v[ok], n[ok]
    wgt = n / np.maximum(v, 1e-30) ** 2
    for _ in range(3):
        A = np.stack([m, np.ones_like(m)], 1) * np.sqrt(wgt)[:, None]
        coef, *_ = np.linalg.lstsq(A, v * np.sqrt(wgt), rcond=None)
        pred = np.maximum(coef[0] * m + coef[1], 1e-3 * np.median(v))
        wgt = n / pred**2
    return float(coef[0]), float(coef[1])


def fit_noise_curve(
    ls: LevelSets,
    *,
    low: float = -np.inf,
    high: float = np.inf,
    robust: bool = True,
    max_signal: float | None = 0.95,
) -> NoiseParams:
    """Maximum-likelihood ``(a, b)`` over level sets with the clipped Poisson–Gaussian model.

    Each level contributes ``(v̂ − σ̃²(y))/(σ̃²(y)·sqrt(2/n))`` with ``y`` solving the clipped-mean
    equation for the level's mean (Foi 2008, sec. IV; Foi 2009 for the censored moments); the
    residuals go through a Cauchy loss when ``robust``. Levels with mean above ``max_signal``
    (normalised; real sensors saturate unevenly just below white) and levels with zero variance
    are left out. ``b`` may come out slightly negative
    in the fit; the returned ``read`` is clipped at 0 (``NoiseParams`` needs ``b ≥ 0``).
    """
    from scipy import optimize

    ok = (ls.var > 0) & np.isfinite(ls.var) & np.isfinite(ls.mean)
    if max_signal is not None:
        ok &= ls.mean <= max_signal
    ls = LevelSets(ls.mean[ok], ls.var[ok], ls.count[ok])
    if len(ls) < 2:
        raise ValueError("noise estimation: fewer than 2 level sets (image too small or too flat)")
    a0, b0 = _linear_start(ls, low, high)
    a0 = a0 if a0 > 0 else max(float(np.median(ls.var / np.maximum(np.abs(ls.mean), 1e-6))), 1e-8)
    vscale = float(np.median(ls.var))
    b0 = b0 if np.isfinite(b0) else 0.0
    lo_m = float(np.min(ls.mean))

    def model(theta: np.ndarray) -> tuple[np.ndarray, float, float]:
        a = math.exp(theta[0])
        b = theta[1] * vscale
        return _model_var(ls.mean, a, b, low, high), a, b

    def resid(theta: np.ndarray) -> np.ndarray:
        var, _, _ = model(theta)
        var = np.maximum(var, 1e-12 * vscale)
        return (ls.var - var) / (var * np.sqrt(2.0 / ls.count))

    # keep b above −a·(lowest level) so the variance stays positive where there is data
    theta0 = np.array([math.log(a0), max(b0, -0.9 * a0 * max(lo_m, 0.0)) / vscale])
    res = optimize.least_squares(
        resid, theta0, loss="cauchy" if robust else "linear", f_scale=3.0, method="trf"
    )
    _, a, b = model(res.x)
    return NoiseParams(a, max(b, 0.0))


# ---------------------------------------------------------------------------------------------
# public estimators on arrays
# ---------------------------------------------------------------------------------------------
def _auto_clip(planes: np.ndarray, low: float | None, high: float | None) -> tuple[float, float]:
    """Clipping points: given, or detected as data extremes holding ≥ 0.01 % of the pixels."""

    def detect(v: float) -> bool:
        return float(np.mean(planes == v)) >= 1e-4

    if low is None:
        mn = float(planes.min())
        low = mn if detect(mn) else -np.inf
    if high is None:
        mx = float(planes.max())
        high = mx if detect(mx) else np.inf
    return float(low), float(high)


def estimate_noise_mosaic(
    x: np.ndarray,
    *,
    cfa_pattern: Any = "RGGB",
    per_channel: bool = False,
    low: float | None = None,
    high: float | None = None,
    iterations: int = 2,
    return_levels: bool = False,
) -> NoiseParams | tuple[NoiseParams, LevelSets]:
    """Single-image Poisson–Gaussian estimate (Foi et al. 2008) on normalised data.

    Args:
        x: normalised mosaic ``(H, W)`` (with ``cfa_pattern``) or packed RGGB ``(4, h, w)``.
        per_channel: fit each CFA channel separately (4-tuples in the result); default pools the
            four planes (same photodiodes, same analogue gain) for one ``(a, b)``.
        low, high: where the data are clipped (normalised); ``None`` detects them as data
            extremes holding ≥ 0.01 % of the pixels, otherwise treats the data as unclipped.
        iterations: smoothness-mask refinements after the robust first pass.
        return_levels: also return the level sets of the final pass (for plots and pooling).
    """
    planes = pack_sites(np.asarray(x), cfa_pattern).astype(np.float64, copy=False)
    lo, hi = _auto_clip(planes, low, high)
    groups = [planes[i : i + 1] for i in range(4)] if per_channel else [planes]
    results, levels = [], []
    for g in groups:
        ls = level_sets_single(g)
        p = fit_noise_curve(ls, low=lo, high=hi)
        for _ in range(iterations):
            ls = level_sets_single(g, params=p)
            p = fit_noise_curve(ls, low=lo, high=hi)
        results.append(p)
        levels.append(ls)
    out = _combine(results) if per_channel else results[0]
    return (out, LevelSets.concat(levels)) if return_levels else out


def estimate_noise_two_frames_mosaic(
    x1: np.ndarray,
    x2: np.ndarray,
    *,
    cfa_pattern: Any = "RGGB",
    per_channel: bool = False,
    low: float | None = None,
    high: float | None = None,
) -> NoiseParams:
    """Difference method on two registered normalised frames of a static scene (or flat field)."""
    p1 = pack_sites(np.asarray(x1), cfa_pattern).astype(np.float64, copy=False)
    p2 = pack_sites(np.asarray(x2), cfa_pattern).astype(np.float64, copy=False)
    lo, hi = _auto_clip(np.stack([p1, p2]), low, high)
    groups = [(p1[i : i + 1], p2[i : i + 1]) for i in range(4)] if per_channel else [(p1, p2)]
    results = [fit_noise_curve(level_sets_two_frames(g1, g2), low=lo, high=hi) for g1, g2 in groups]
    return _combine(results) if per_channel else results[0]


def _combine(ps: Sequence[NoiseParams]) -> NoiseParams:
    return NoiseParams(tuple(p.shot for p in ps), tuple(p.read for p in ps))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# RawImage wrappers
# ---------------------------------------------------------------------------------------------
def _raw_inputs(raw: Any) -> tuple[np.ndarray, str, float]:
    """Normalised mosaic, CFA pattern and the normalised value of DN 0 from a ``RawImage``."""
    meta = raw.metadata
    x = np.asarray(raw.normalized(), np.float64)
    black = np.asarray(meta.black_level, np.float64).reshape(-1)
    white = float(meta.white_level)
    low = float(np.mean(-black / np.maximum(white - black, 1.0)))
    return x, _pattern_str(meta.cfa_pattern), low


def _load(raw: Any) -> Any:
    if hasattr(raw, "metadata"):
        return raw
    from rawpipe.raw import read_raw

    return read_raw(raw)


def estimate_noise(raw: Any, *, per_channel: bool = False) -> NoiseParams:
    """Single-image noise estimate of a ``RawImage`` (or a path to one), normalised units.

    Thin wrapper over ``estimate_noise_mosaic``: the data are clipped at DN 0 (``low`` =
    −black/(white − black)) when pixels sit there; the upper clipping point is detected.
    """
    raw = _load(raw)
    x, pattern, low = _raw_inputs(raw)
    lo = low if float(np.mean(x <= low + 1e-9)) >= 1e-4 else None
    return estimate_noise_mosaic(x, cfa_pattern=pattern, per_channel=per_channel, low=lo)  # type: ignore[return-value]


def estimate_noise_two_frames(raw1: Any, raw2: Any, *, per_channel: bool = False) -> NoiseParams:
    """Difference-method estimate from two ``RawImage``s (or paths) of a static scene."""
    r1, r2 = _load(raw1), _load(raw2)
    x1, pattern, _ = _raw_inputs(r1)
    x2, pattern2, _ = _raw_inputs(r2)
    if pattern != pattern2:
        raise ValueError(f"frames have different CFA patterns: {pattern} vs {pattern2}")
    return estimate_noise_two_frames_mosaic(x1, x2, cfa_pattern=pattern, per_channel=per_channel)


def estimate_read_noise(
    dark_frames: Sequence[Any],
    *,
    cfa_pattern: Any = "RGGB",
    per_channel: bool = False,
    low: float | None = None,
) -> float | tuple[float, float, float, float]:
    """Read variance ``b`` (normalised units) from dark frames (no light: ``y = 0``).

    Frames are ``RawImage``s, paths, normalised mosaics ``(H, W)`` or packed ``(4, h, w)``. With two
    or more frames, ``b`` comes from consecutive differences ``(f_i − f_{i+1})/√2`` (fixed-pattern
    noise and the dark offset cancel); one frame uses its spread about the per-channel mean. If the
    data are clipped at ``low`` (DN 0 with the black level subtracted in camera; detected when
    ``None``), the censored-normal moments are inverted for the true σ.
    """
    planes = []
    pattern = cfa_pattern
    for f in dark_frames:
        if hasattr(f, "metadata") or isinstance(f, (str, bytes)) or hasattr(f, "__fspath__"):
            r = _load(f)
            x, pattern, _ = _raw_inputs(r)
            planes.append(pack_sites(x, pattern))
        else:
            planes.append(pack_sites(np.asarray(f, np.float64), pattern))
    if not planes:
        raise ValueError("estimate_read_noise: no frames")
    stack = np.stack(planes).astype(np.float64)  # (F, 4, h, w)
    lo, _ = _auto_clip(stack, low, np.inf)
    out = []
    for c in range(4) if per_channel else [None]:
        data = stack if c is None else stack[:, c : c + 1]
        out.append(_dark_variance(data, lo))
    if per_channel:
        return tuple(out)  # type: ignore[return-value]
    return out[0]


def _dark_variance(data: np.ndarray, low: float) -> float:
    """σ² of the dark signal behind possibly clipped data ``(F, C, h, w)``."""
    from scipy import optimize

    if data.shape[0] >= 2:
        diffs = (data[:-1] - data[1:]) / math.sqrt(2.0)
        v = float(np.mean(diffs**2))
    else:
        v = float(np.var(data - data.mean(axis=(-2, -1), keepdims=True)))
    if not np.isfinite(low):
        return v
    frac_clipped = float(np.mean(data <= low))
    if frac_clipped < 1e-3:
        return v
    # Clipped: match the clipped mean and variance of one frame with a censored normal N(μ, σ²).
    flat = data.reshape(-1)
    mean_obs, var_obs = float(flat.mean()), float(flat.var())

    def res(t: np.ndarray) -> np.ndarray:
        m, vv = _clipped_moments(np.array([t[0]]), np.array([math.exp(t[1])]), low, np.inf)
        return np.array([m[0] - mean_obs, math.sqrt(vv[0]) - math.sqrt(var_obs)]) / s0

    s0 = math.sqrt(max(var_obs, 1e-30))
    sol = optimize.least_squares(res, np.array([mean_obs, math.log(s0)]))
    return float(math.exp(2 * sol.x[1]))
