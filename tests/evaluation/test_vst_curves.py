"""rawpipe.evaluation.vst_curves against the literature's numbers (../shared/REFERENCES.md)."""

from __future__ import annotations

import numpy as np
import pytest

from rawpipe.evaluation.vst_curves import inverse_bias_curve, noise_std_curve, stabilization_curve
from rawpipe.noise import NoiseParams


def test_stabilization_reaches_unit_std_above_a_few_counts():
    y = np.array([5.0, 10.0, 30.0, 100.0])
    for s in (0.0, 1.0, 10.0):
        np.testing.assert_allclose(stabilization_curve(y, s), 1.0, atol=0.05)
    assert stabilization_curve([0.05], 0.0)[0] < 0.5  # not stabilised near zero


def test_inverse_bias_matches_the_references():
    y = np.array([0.05, 1.0])
    # Poisson only: algebraic 0.035 and 0.82, asymptotic 0.285 and 1.07, closed form 0.050, 0.996
    np.testing.assert_allclose(
        y + inverse_bias_curve(y, 0.0, "algebraic"), [0.035, 0.82], atol=0.005
    )
    np.testing.assert_allclose(
        y + inverse_bias_curve(y, 0.0, "asymptotic"), [0.285, 1.07], atol=0.005
    )
    np.testing.assert_allclose(
        y + inverse_bias_curve(y, 0.0, "closed_form"), [0.050, 0.996], atol=0.005
    )
    for s in (0.0, 0.5, 2.0, 30.0):
        assert np.abs(inverse_bias_curve(np.geomspace(0.05, 30, 9), s)).max() < 0.02
    assert inverse_bias_curve([100.0], 0.0, "algebraic")[0] == pytest.approx(-0.25, abs=0.01)


def test_noise_std_curve_shapes():
    x = np.array([0.0, 0.01, 0.1])
    np.testing.assert_allclose(
        noise_std_curve(x, NoiseParams(1e-3, 1e-6)), np.sqrt(1e-3 * x + 1e-6)
    )
    per = noise_std_curve(x, NoiseParams((1e-3, 2e-3, 2e-3, 3e-3), 1e-6))
    assert per.shape == (4, 3)


def test_estimation_check_recovers_the_curve_of_a_smooth_scene():
    from rawpipe.evaluation.vst_curves import estimation_check

    yy, xx = np.meshgrid(np.linspace(0, 1, 256), np.linspace(0, 1, 384), indexing="ij")
    scene = np.stack([0.02 + 0.8 * xx * yy, 0.03 + 0.85 * xx, 0.01 + 0.7 * yy])
    r = estimation_check(scene, NoiseParams(4e-3, 3.6e-5), blur=0)
    assert np.median(np.abs(r["error"])) < 0.1
    assert r["true_read"] == pytest.approx(3.6e-5 + (1 / 4095) ** 2 / 12)
