"""VSTs: stabilisation, exact unbiased inverse, numpy/torch parity, gradients, k-Sigma, ONNX."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from rawpipe.noise import (
    INVERSE_METHODS,
    NoiseParams,
    add_poisson_gaussian_noise,
    exact_inverse_fixed,
    expected_vst,
    generalized_anscombe,
    inverse_generalized_anscombe,
    inverse_k_sigma,
    k_sigma,
    pmrid_phone_model,
)
from rawpipe.noise._gat_table import expected_gat_exact, gat_std_exact, gat_tables

A_BOX = np.geomspace(1e-4, 1e-2, 5)
B_BOX = np.geomspace(1e-7, 1e-4, 4)


def test_table_build_time_and_size():
    gat_tables.cache_clear()
    t = time.perf_counter()
    tab = gat_tables()
    dt = time.perf_counter() - t
    nbytes = tab.inv.nbytes + tab.fwd.nbytes + tab.slope0.nbytes
    print(f"GAT tables built in {dt:.2f} s, {nbytes / 1e6:.2f} MB, inverse {tab.inv.shape}")
    assert dt < 5.0 and nbytes < 3e6


def test_stabilisation_exact_std_over_box():
    """std of f(z) is 1 ± 0.05 wherever y ≥ 3 counts, for every (a, b) of the box (exact)."""
    worst = worst_vst = 0.0
    print("\n  a        b        s=√b/a   std(f) at y = 1, 2, 3, 5, 10, 30, 100, 1/a")
    for a in A_BOX:
        for b in B_BOX:
            s = np.sqrt(b) / a
            y_curve = np.array([1, 2, 3, 5, 10, 30, 100, 1 / a])
            std = gat_std_exact(y_curve, s)
            print(f"  {a:.1e}  {b:.1e}  {s:7.3f}  " + " ".join(f"{v:.3f}" for v in std))
            y = np.geomspace(3.0, 1.0 / a, 60)
            worst = max(worst, float(np.max(np.abs(gat_std_exact(y, s) - 1.0))))
            # the other reading of "mean ≥ 3": the transformed data's mean E[f] ≥ 3
            y2 = np.geomspace(0.3, 1.0 / a, 80)
            sel = expected_gat_exact(y2, s) >= 3.0
            worst_vst = max(worst_vst, float(np.max(np.abs(gat_std_exact(y2[sel], s) - 1.0))))
    print(f"  worst |std − 1| for y ≥ 3 counts: {worst:.4f}; where E[f] ≥ 3: {worst_vst:.4f}")
    assert worst <= 0.05 and worst_vst <= 0.05


def test_stabilisation_monte_carlo():
    """The same with sampled data through the public functions (float32, torch and numpy)."""
    rng = np.random.default_rng(0)
    for a, b in [(1e-4, 1e-7), (1e-3, 1e-5), (1e-2, 1e-7), (1e-2, 1e-4)]:
        y = np.array([3.0, 10.0, 100.0])
        x = np.repeat((y * a)[:, None], 100000, axis=1)
        z = add_poisson_gaussian_noise(x, (a, b), rng, clip=False)
        d = generalized_anscombe(z, (a, b))
        dt = generalized_anscombe(torch.from_numpy(z.astype(np.float32)), (a, b)).numpy()
        print(
            f"  a={a:.0e} b={b:.0e}: std {np.round(d.std(1), 3)} "
            f"(float32 torch {np.round(dt.std(1), 3)})"
        )
        assert np.all(np.abs(d.std(1) - 1) < 0.05) and np.all(np.abs(dt.std(1) - 1) < 0.05)


def test_inverse_bias_against_exact_expectation():
    """Default inverse returns y within 0.02 counts for y ∈ [0.05, 30], s ∈ [0, 100]."""
    y = np.geomspace(0.05, 30, 80)
    s_vals = np.concatenate([[0.0], np.geomspace(0.03, 100, 40)])
    yy, ss = np.meshgrid(y, s_vals, indexing="ij")
    e = expected_gat_exact(yy, ss)
    worst = {}
    for m in INVERSE_METHODS:
        err = inverse_generalized_anscombe(e, (1.0, ss * ss), method=m) - yy
        worst[m] = err
    print("\n  max |bias| (counts) over y ∈ [0.05, 30], s ∈ [0, 100]:")
    for m, err in worst.items():
        print(f"    {m:15s} {np.max(np.abs(err)):.4f}")
    print("  bias by y at s = 0 / s = 1 (exact_unbiased | closed_form | asymptotic | algebraic):")
    for yv in (0.05, 0.2, 1.0, 3.0, 30.0):
        i = int(np.argmin(np.abs(y - yv)))
        j1 = int(np.argmin(np.abs(s_vals - 1.0)))
        row = " | ".join(f"{worst[m][i, 0]:+.3f}/{worst[m][i, j1]:+.3f}" for m in INVERSE_METHODS)
        print(f"    y={y[i]:6.2f}: {row}")
    assert np.max(np.abs(worst["exact_unbiased"])) <= 0.02
    # the alternatives really are biased (what the default fixes)
    assert np.max(np.abs(worst["closed_form"])) > 0.03
    assert abs(worst["algebraic"][-1, 0] + 0.25) < 0.02  # ~0.25 low at large counts
    assert np.max(np.abs(worst["asymptotic"][:20])) > 0.2  # low counts


def test_inverse_above_table_and_large_read_noise():
    y = np.array([50.0, 300.0, 2000.0, 20000.0])
    for s in (0.0, 5.0, 150.0, 400.0):
        e = expected_gat_exact(y, s)
        err = inverse_generalized_anscombe(e, (1.0, s * s)) - y
        assert np.max(np.abs(err)) < 5e-3, (s, err)


def test_inverse_of_expected_vst_round_trip():
    p = NoiseParams((1e-4, 1e-3, 1e-3, 1e-2), (1e-7, 1e-6, 1e-5, 1e-4))
    x = np.random.default_rng(0).uniform(0, 1, (4, 50, 50)) ** 3
    back = inverse_generalized_anscombe(expected_vst(x, p), p)
    a = np.array(p.shot4()).reshape(4, 1, 1)
    assert np.max(np.abs(back - x) / a) < 2e-3  # counts


def test_expected_vst_matches_exact():
    y = np.concatenate([np.linspace(0, 5, 51), np.geomspace(5, 5000, 30)])
    for s in (0.0, 0.3, 2.0, 30.0, 100.0):
        err = expected_vst(y, (1.0, s * s)) - expected_gat_exact(y, s)
        assert np.max(np.abs(err)) < 1e-3, (s, np.max(np.abs(err)))


def test_algebraic_inverse_inverts_forward_exactly():
    p = NoiseParams(2e-3, 3e-5)
    x = np.linspace(0.0, 1.0, 101)
    back = inverse_generalized_anscombe(generalized_anscombe(x, p), p, method="algebraic")
    np.testing.assert_allclose(back, x, atol=1e-12)


def _all_ops(x, p):
    d = generalized_anscombe(x, p)
    out = {"gat": d, "expected_vst": expected_vst(x, p), "ksigma": k_sigma(x, p, (1e-3, 1e-6))}
    for m in INVERSE_METHODS:
        out[m] = inverse_generalized_anscombe(d * 1.01 - 0.3, p, method=m)
    out["inv_ksigma"] = inverse_k_sigma(x, p, (1e-3, 1e-6))
    return out


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-9), (np.float32, 1e-5)])
def test_numpy_torch_agree(dtype, rtol):
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.02, 1.05, (2, 4, 24, 24)).astype(dtype)
    params = [
        NoiseParams(1e-3, 1e-6),
        NoiseParams((1e-4, 2e-3, 2e-3, 1e-2), (1e-7, 3e-6, 3e-6, 1e-4)),
    ]
    for p in params:
        ref = _all_ops(x, p)
        got = _all_ops(torch.from_numpy(x), p)
        for k in ref:
            r, g = ref[k], got[k].numpy()
            assert r.dtype == dtype and g.dtype == dtype, k
            scale = np.maximum(np.abs(r), np.abs(r).max() * 1e-3)
            rel = float(np.max(np.abs(r - g) / scale))
            assert rel <= rtol, (k, rel)
    # per-sample parameters (N, 1, 1, 1), as in a training batch
    a = np.array([1e-4, 1e-2], dtype).reshape(2, 1, 1, 1)
    b = np.array([1e-7, 1e-4], dtype).reshape(2, 1, 1, 1)
    r = inverse_generalized_anscombe(generalized_anscombe(x, (a, b)), (a, b))
    g = inverse_generalized_anscombe(
        generalized_anscombe(torch.from_numpy(x), (torch.from_numpy(a), torch.from_numpy(b))),
        (torch.from_numpy(a), torch.from_numpy(b)),
    ).numpy()
    assert float(np.max(np.abs(r - g))) <= rtol * float(np.abs(r).max()) * 10


def test_inverse_differentiable_everywhere():
    p = (torch.tensor(1e-3, dtype=torch.float64), torch.tensor(4e-6, dtype=torch.float64))
    d = torch.linspace(-3.0, 80.0, 2000, dtype=torch.float64, requires_grad=True)
    y = inverse_generalized_anscombe(d, p)
    (g,) = torch.autograd.grad(y.sum(), d)
    assert torch.isfinite(g).all() and bool((g > 0).all())  # no clamp: gradient below the domain
    assert bool((y[1:] > y[:-1]).all())  # monotone
    x = torch.linspace(-0.01, 1.0, 300, dtype=torch.float64, requires_grad=True)
    (gx,) = torch.autograd.grad(expected_vst(x, p).sum(), x)
    assert torch.isfinite(gx).all() and bool((gx > 0).all())
    dd = torch.tensor([0.5, 2.0, 7.3, 40.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: inverse_generalized_anscombe(v, p), (dd,))


def test_inverse_monotone_for_many_read_levels():
    d = np.linspace(-2, 300, 60001)
    for s in (0.0, 0.01, 0.4, 1.3, 3.0, 17.0, 90.0, 250.0):
        y = inverse_generalized_anscombe(d, (1.0, s * s))
        assert np.all(np.diff(y) > 0), s


def test_bad_method_and_shapes():
    with pytest.raises(ValueError):
        inverse_generalized_anscombe(np.ones(3), NoiseParams(1e-3, 0.0), method="nope")
    with pytest.raises(ValueError, match="packed"):
        generalized_anscombe(np.ones((8, 8)), NoiseParams((1e-3,) * 4, 0.0))


def test_k_sigma_matches_anchor_model():
    """Data at any PMRID ISO, k-Sigma-mapped to the ISO 1600 anchor, has the anchor's noise."""
    prof = pmrid_phone_model()
    anchor = prof.params_at(1600)
    rng = np.random.default_rng(0)
    xs = np.array([0.02, 0.1, 0.3, 0.6])
    worst = 0.0
    for iso in (100, 400, 3200, 6400):
        p = prof.params_at(iso)
        x = np.repeat(xs[:, None], 200000, axis=1)
        z = add_poisson_gaussian_noise(x, p, rng, clip=False)
        zk = k_sigma(z, p, anchor)
        model = anchor.shot * zk.mean(1) + anchor.read
        ratio = zk.var(1) / model
        print(f"  ISO {iso}: var/anchor-model {np.round(ratio, 3)}")
        worst = max(worst, float(np.max(np.abs(ratio - 1))))
        np.testing.assert_allclose(inverse_k_sigma(zk, p, anchor), z, rtol=1e-12, atol=1e-15)
    assert worst < 0.02


def test_module_twins_match_functions():
    from rawpipe.noise import GeneralizedAnscombe, InverseGeneralizedAnscombe

    p = NoiseParams((1e-3, 2e-3, 2e-3, 4e-3), (1e-6, 2e-6, 2e-6, 5e-6))
    x = torch.rand(1, 4, 8, 8)
    assert torch.equal(GeneralizedAnscombe(p)(x), generalized_anscombe(x, p))
    d = generalized_anscombe(x, p)
    assert torch.allclose(InverseGeneralizedAnscombe(p)(d), inverse_generalized_anscombe(d, p))


def test_onnx_export_forward_and_inverse(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from rawpipe.noise import GeneralizedAnscombe, InverseGeneralizedAnscombe

    p = NoiseParams((1e-3, 2e-3, 2e-3, 4e-3), (1e-6, 2e-6, 2e-6, 5e-5))
    x = torch.rand(1, 4, 32, 48)
    for name, mod, inp in [
        ("gat", GeneralizedAnscombe(p), x),
        ("inverse", InverseGeneralizedAnscombe(p), generalized_anscombe(x, p) - 0.5),
    ]:
        path = tmp_path / f"{name}.onnx"
        torch.onnx.export(mod.eval(), (inp,), str(path), dynamo=True, external_data=False)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (out,) = sess.run(None, {sess.get_inputs()[0].name: inp.numpy()})
        ref = mod(inp).numpy()
        err = float(np.max(np.abs(out - ref)) / np.max(np.abs(ref)))
        print(f"  ONNX {name}: max rel diff vs torch {err:.2e}")
        assert err < 1e-5


@pytest.mark.parametrize("a, b", [(1e-5, 0.0), (1e-4, 1e-7), (2.5e-3, 3e-5), (1e-2, 1e-4)])
def test_exact_inverse_fixed_is_the_table_inverse(a, b):
    """The 1-D cut of the table at one (a, b) gives the 2-D lookup's values (float64: to 1e-9
    counts; float32: to float32 rounding) in numpy and torch, below, inside and above the table."""
    d = np.linspace(-5.0, 2.0 / np.sqrt(a) + 20.0, 20001)
    want = inverse_generalized_anscombe(d, (a, b))
    got = exact_inverse_fixed(d, a, b)
    np.testing.assert_allclose(got / a, want / a, rtol=1e-12, atol=1e-9)
    got_t = exact_inverse_fixed(torch.from_numpy(d), a, b).numpy()
    np.testing.assert_allclose(got_t / a, want / a, rtol=1e-12, atol=1e-9)
    got32 = exact_inverse_fixed(torch.from_numpy(d).float(), a, b).double().numpy()
    np.testing.assert_allclose(got32, want, rtol=2e-6, atol=2e-6 * a)


def test_exact_inverse_fixed_rejects_a_bad_gain():
    with pytest.raises(ValueError, match="> 0"):
        exact_inverse_fixed(np.ones(3), 0.0, 1e-6)


def test_forward_in_place_path_is_bitwise_the_graph_formula():
    """Without autograd the forward GAT runs in place on one temporary; same ops, same order, so
    the values are identical to the differentiable path (and NaN stays NaN)."""
    torch.manual_seed(0)
    x = torch.rand(2, 4, 33, 17) * 1.2 - 0.1
    x[0, 0, 0, 0] = float("nan")
    params = NoiseParams(shot=(1e-3, 2e-3, 2e-3, 4e-4), read=(1e-6, 2e-6, 2e-6, 5e-5))
    with torch.no_grad():
        fast = generalized_anscombe(x, params)
    slow = generalized_anscombe(x.clone().requires_grad_(True), params).detach()
    torch.testing.assert_close(fast, slow, rtol=0, atol=0, equal_nan=True)
    assert torch.isnan(fast[0, 0, 0, 0])
