"""DNG colour: CCT, inverse-temperature interpolation of ColorMatrix1/2 for the as-shot white."""

from __future__ import annotations

import numpy as np
import pytest

from rawpipe.raw import read_raw
from rawpipe.raw.dng_color import cct_from_xy, interpolation_weight, xy_to_xyz

CM_A = np.array([[0.9, -0.3, -0.1], [-0.6, 1.5, 0.1], [-0.1, 0.4, 0.45]])  # "tungsten" matrix
CM_D65 = np.array([[0.73, -0.14, -0.05], [-0.85, 1.60, 0.26], [-0.24, 0.28, 0.81]])


@pytest.mark.parametrize(
    ("xy", "cct", "tol"),
    [
        ((0.31271, 0.32902), 6504, 15),  # D65
        ((0.34567, 0.35850), 5003, 10),  # D50
        ((0.44757, 0.40745), 2856, 15),  # illuminant A
        ((0.4053, 0.3907), 3500, 20),  # Planckian 3500 K
    ],
)
def test_cct_from_xy(xy, cct, tol):
    assert cct_from_xy(xy) == pytest.approx(cct, abs=tol)


def test_interpolation_weight():
    assert interpolation_weight(2850, 2850, 6500) == 1.0
    assert interpolation_weight(6500, 2850, 6500) == 0.0
    assert interpolation_weight(2000, 2850, 6500) == 1.0  # clamped
    assert interpolation_weight(9000, 2850, 6500) == 0.0
    mid = 2.0 / (1 / 2850 + 1 / 6500)  # halfway in inverse temperature
    assert interpolation_weight(1 / (0.5 / 2850 + 0.5 / 6500), 2850, 6500) == pytest.approx(0.5)
    assert mid > 0
    # order of the two illuminants does not matter
    assert interpolation_weight(4000, 6500, 2850) == pytest.approx(
        1 - interpolation_weight(4000, 2850, 6500)
    )


def two_matrix_tags(dng_tags, srational, extra):
    return dng_tags(
        extra=[
            (50721, 10, 9, srational(CM_A.ravel(), 1_000_000), True),
            (50722, 10, 9, srational(CM_D65.ravel(), 1_000_000), True),
            (50778, 3, 1, 17, True),  # standard light A, 2850 K
            (50779, 3, 1, 21, True),  # D65, 6500 K
            *extra,
        ]
    )


def expected_matrix(t: float) -> np.ndarray:
    g = (1 / t - 1 / 6500) / (1 / 2850 - 1 / 6500)
    return g * CM_A + (1 - g) * CM_D65


def test_as_shot_neutral_interpolates_two_matrices(make_dng, dng_tags, srational):
    xy = (0.4053, 0.3907)  # Planckian 3500 K
    m = expected_matrix(3500)
    neutral = m @ xy_to_xyz(xy)
    neutral = neutral / neutral[1]
    asn = (50728, 5, 3, srational(neutral, 1_000_000), True)
    path = make_dng(
        "two.dng", np.zeros((32, 32), np.uint16), tags=two_matrix_tags(dng_tags, srational, [asn])
    )
    md = read_raw(path).metadata
    assert md.as_shot_white_xy == pytest.approx(xy, abs=1e-3)
    np.testing.assert_allclose(np.array(md.xyz_to_camera), m, atol=5e-3)
    assert md.wb_gains == pytest.approx(
        (neutral[1] / neutral[0], 1.0, neutral[1] / neutral[2]), rel=1e-5
    )
    assert md.calibration_illuminant1 == 17 and md.calibration_illuminant2 == 21
    np.testing.assert_allclose(np.array(md.color_matrix2), CM_D65, atol=1e-6)
    # the white maps back onto the neutral through the matrix reported
    back = np.array(md.xyz_to_camera) @ xy_to_xyz(md.as_shot_white_xy)
    np.testing.assert_allclose(
        back / back[1], np.array(md.as_shot_neutral) / md.as_shot_neutral[1], rtol=1e-5
    )


def test_as_shot_white_xy(make_dng, dng_tags, srational):
    xy = (0.31271, 0.32902)  # D65: weight 0 -> the D65 matrix
    tag = (50729, 5, 2, srational(xy, 1_000_000), True)
    tags = [t for t in two_matrix_tags(dng_tags, srational, [tag]) if t[0] != 50728]
    md = read_raw(make_dng("xy.dng", np.zeros((32, 32), np.uint16), tags=tags)).metadata
    assert md.as_shot_white_xy == pytest.approx(xy, abs=1e-6)
    np.testing.assert_allclose(np.array(md.xyz_to_camera), CM_D65, atol=2e-3)
    neutral = CM_D65 @ xy_to_xyz(xy)
    assert md.wb_gains == pytest.approx(
        (neutral[1] / neutral[0], 1.0, neutral[1] / neutral[2]), rel=2e-3
    )


def test_single_matrix_and_analog_balance(make_dng):
    ab = (50727, 5, 3, (2, 1, 1, 1, 1, 1), True)  # AnalogBalance R ×2
    md = read_raw(make_dng("ab.dng", np.zeros((32, 32), np.uint16), extra=[ab])).metadata
    cm = np.array(md.color_matrix1)
    np.testing.assert_allclose(np.array(md.xyz_to_camera), np.diag([2.0, 1.0, 1.0]) @ cm, atol=1e-9)
    assert md.wb_gains == pytest.approx((2.0, 1.0, 1 / 0.7))  # 1 / AsShotNeutral (0.5, 1, 0.7)
