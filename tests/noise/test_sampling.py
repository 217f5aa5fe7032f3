"""Noise synthesis: moments, clipping, quantisation, numpy/torch, training noise levels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rawpipe.noise import (
    NoiseParams,
    add_poisson_gaussian_noise,
    pmrid_phone_model,
    sample_noise_params,
    variance_map,
)

LEVELS = np.array([0.0, 0.003, 0.05, 0.3, 0.7])


def _flat(n: int = 40000) -> np.ndarray:
    return np.repeat(LEVELS[:, None], n, axis=1)


@pytest.mark.parametrize("method", ["poisson", "gaussian"])
def test_numpy_moments_unclipped(method):
    p = NoiseParams(2e-3, 1e-5)
    z = add_poisson_gaussian_noise(_flat(), p, np.random.default_rng(0), clip=False, method=method)
    var = p.variance(LEVELS)
    tol = 4 * np.sqrt(var / z.shape[1]) + 1e-12
    assert np.all(np.abs(z.mean(1) - LEVELS) <= tol)
    np.testing.assert_allclose(z.var(1), var, rtol=0.03)


def test_poisson_is_discrete_in_counts():
    a = 0.01
    z = add_poisson_gaussian_noise(np.full(1000, 0.02), (a, 0.0), 1, clip=False)
    k = z / a
    assert np.allclose(k, np.round(k)) and k.min() >= 0  # true Poisson counts, not a Gaussian


def test_torch_moments_and_generator():
    p = NoiseParams((1e-3, 2e-3, 2e-3, 5e-3), (1e-6, 1e-6, 1e-6, 1e-4))
    x = torch.full((8, 4, 64, 64), 0.2, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    z = add_poisson_gaussian_noise(x, p, g, clip=False)
    z2 = add_poisson_gaussian_noise(x, p, torch.Generator().manual_seed(3), clip=False)
    assert torch.equal(z, z2)
    var = z.var(dim=(0, 2, 3)).numpy()
    np.testing.assert_allclose(var, np.array(p.shot4()) * 0.2 + np.array(p.read4()), rtol=0.04)
    assert z.dtype == torch.float64


def test_per_sample_params_in_a_batch():
    a = torch.tensor([1e-4, 1e-2], dtype=torch.float64).view(2, 1, 1, 1)
    b = torch.tensor([1e-7, 1e-4], dtype=torch.float64).view(2, 1, 1, 1)
    x = torch.full((2, 4, 128, 128), 0.5, dtype=torch.float64)
    z = add_poisson_gaussian_noise(x, (a, b), torch.Generator().manual_seed(0), clip=False)
    v = z.var(dim=(1, 2, 3))
    assert float(v[0]) == pytest.approx(1e-4 * 0.5 + 1e-7, rel=0.05)
    assert float(v[1]) == pytest.approx(1e-2 * 0.5 + 1e-4, rel=0.05)


def test_clipping_and_quantisation():
    x = np.linspace(0.0, 1.0, 2001)
    z = add_poisson_gaussian_noise(
        x, (1e-2, 1e-4), 0, low=-0.05, white=1.0, quantization_step=1 / 1023
    )
    assert z.min() >= -0.05 and z.max() <= 1.0
    assert np.allclose(z * 1023, np.round(z * 1023))
    assert np.any(z < 0)  # below black survives down to DN 0
    zt = add_poisson_gaussian_noise(torch.from_numpy(x), (1e-2, 1e-4), None, white=0.9)
    assert float(zt.max()) <= 0.9 and float(zt.min()) >= 0.0


def test_quantisation_adds_delta_squared_over_12():
    d = 1 / 511  # σ ≈ 1.6 Δ: enough for the uniform-error approximation
    z = add_poisson_gaussian_noise(np.full(400000, 0.4), (1e-6, 1e-5), 0, quantization_step=d)
    z0 = add_poisson_gaussian_noise(np.full(400000, 0.4), (1e-6, 1e-5), 0)
    print(f"var {z.var():.4e} unquantised {z0.var():.4e} + Δ²/12 = {z0.var() + d * d / 12:.4e}")
    assert z.var() == pytest.approx(1e-6 * 0.4 + 1e-5 + d * d / 12, rel=0.03)


def test_variance_map():
    np.testing.assert_allclose(variance_map(np.array([-0.1, 0.5]), (1e-3, 1e-6)), [1e-6, 5.01e-4])


def test_brooks_log_linear_relation():
    ps = sample_noise_params(np.random.default_rng(0), source="brooks", n=4000)
    la = np.log([p.shot for p in ps])
    lb = np.log([p.read for p in ps])
    assert la.min() >= math.log(1e-4) - 1e-9 and la.max() <= math.log(1.2e-2) + 1e-9
    slope, icpt = np.polyfit(la, lb, 1)
    resid = lb - (slope * la + icpt)
    print(f"brooks fit: slope {slope:.3f} intercept {icpt:.3f} resid sd {resid.std():.3f}")
    assert slope == pytest.approx(2.18, abs=0.03)
    assert icpt == pytest.approx(1.20, abs=0.25)
    assert resid.std() == pytest.approx(0.26, abs=0.02)


def test_mixed_covers_brooks_and_pmrid():
    ps = sample_noise_params(torch.Generator().manual_seed(0), source="mixed", n=6000)
    la = np.log([p.shot for p in ps])
    lb = np.log([p.read for p in ps])
    off = lb - (2.18 * la + 1.20)
    pm = pmrid_phone_model()
    for iso in (100, 400, 1600, 6400):
        q = pm.params_at(iso)
        pm_off = math.log(q.read) - (2.18 * math.log(q.shot) + 1.20)
        near = np.abs(la - math.log(q.shot)) < 0.15
        lo, hi = np.quantile(off[near], [0.02, 0.98])
        print(f"ISO {iso}: PMRID offset {pm_off:.2f}, mixed offsets [{lo:.2f}, {hi:.2f}]")
        assert lo < 0.0 < pm_off < hi  # Brooks line and the phone both inside the spread
    brooks = sample_noise_params(np.random.default_rng(1), source="brooks", n=4000)
    b_off = np.log([p.read for p in brooks]) - (2.18 * np.log([p.shot for p in brooks]) + 1.2)
    assert np.quantile(b_off, 0.98) < 1.0  # Brooks alone misses the phone (REFERENCES: 0.6–2.3)


def test_profiles_source():
    ps = sample_noise_params(np.random.default_rng(0), source="profiles", n=200)
    assert all(isinstance(p, NoiseParams) and not p.per_channel for p in ps)
    single = sample_noise_params(
        np.random.default_rng(0), source="profiles", profiles=["pmrid-phone"]
    )
    assert isinstance(single, NoiseParams)
    with pytest.raises(ValueError):
        sample_noise_params(None, source="nope")
