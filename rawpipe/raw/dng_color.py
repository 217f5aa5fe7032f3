"""DNG colour: ColorMatrix1/2 interpolated for the as-shot white, as the DNG specification says.

The DNG model (Adobe DNG specification 1.4, "Mapping Camera Color Space to CIE XYZ Space"):
``XYZtoCamera = AB · CC · CM`` where CM (ColorMatrix) and CC (CameraCalibration) are interpolated
between the two calibration illuminants linearly in inverse correlated colour temperature, and the
white (the as-shot neutral in camera space) is found iteratively: guess an xy, build XYZtoCamera for
its temperature, map the neutral back to XYZ, repeat until the xy stops moving.

The correlated colour temperature of an xy is the temperature whose point on the Planckian locus is
nearest in CIE 1960 (u, v); the locus is the cubic-spline approximation of Kim et al. (2002),
"Design of advanced color temperature control system for HDTV applications" (1667 K – 25000 K).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ILLUMINANT_TEMPERATURE",
    "cct_from_xy",
    "interpolation_weight",
    "neutral_to_xy",
    "xy_to_xyz",
    "xyz_to_camera_for_xy",
    "xyz_to_xy",
]

D50_XY = (0.34567, 0.35850)

# EXIF LightSource codes used by CalibrationIlluminant -> correlated colour temperature (K),
# the values the DNG SDK uses (fluorescent classes at the middle of their range).
ILLUMINANT_TEMPERATURE: dict[int, float] = {
    1: 5500.0,  # daylight
    2: 4150.0,  # fluorescent
    3: 2850.0,  # tungsten
    4: 5500.0,  # flash
    9: 5500.0,  # fine weather
    10: 6500.0,  # cloudy
    11: 7500.0,  # shade
    12: 6400.0,  # daylight fluorescent
    13: 5050.0,  # day white fluorescent
    14: 4150.0,  # cool white fluorescent
    15: 3525.0,  # white fluorescent
    16: 2925.0,  # warm white fluorescent
    17: 2850.0,  # standard light A
    18: 5500.0,  # standard light B
    19: 6500.0,  # standard light C
    20: 5500.0,  # D55
    21: 6500.0,  # D65
    22: 7500.0,  # D75
    23: 5000.0,  # D50
    24: 3200.0,  # ISO studio tungsten
}


def xy_to_xyz(xy: tuple[float, float] | np.ndarray) -> np.ndarray:
    """Chromaticity ``(x, y)`` to XYZ with ``Y = 1``."""
    x, y = float(xy[0]), float(xy[1])
    y = max(y, 1e-9)
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def xyz_to_xy(xyz: np.ndarray) -> tuple[float, float]:
    s = float(np.sum(xyz))
    if not np.isfinite(s) or abs(s) < 1e-12:
        return D50_XY
    return float(xyz[0] / s), float(xyz[1] / s)


def _locus_xy(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Kim et al. 2002 cubic approximation of the Planckian locus.
    t = np.clip(t, 1667.0, 25000.0)
    x = np.where(
        t <= 4000.0,
        -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910,
        -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390,
    )
    y = np.where(
        t <= 2222.0,
        -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683,
        np.where(
            t <= 4000.0,
            -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867,
            3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483,
        ),
    )
    return x, y


def _uv(x: np.ndarray | float, y: np.ndarray | float):
    d = -2.0 * np.asarray(x) + 12.0 * np.asarray(y) + 3.0
    return 4.0 * np.asarray(x) / d, 6.0 * np.asarray(y) / d


def cct_from_xy(xy: tuple[float, float]) -> float:
    """Correlated colour temperature (K) of a chromaticity, 1667–25000 K (clamped).

    >>> round(cct_from_xy((0.31271, 0.32902)), -1)  # D65
    6500.0
    """
    u0, v0 = _uv(xy[0], xy[1])
    mired = np.linspace(40.0, 600.0, 561)  # 1 mired steps, then refine around the best
    best = 150.0
    for _ in range(4):
        lx, ly = _locus_xy(1e6 / mired)
        lu, lv = _uv(lx, ly)
        best = float(mired[int(np.argmin((lu - u0) ** 2 + (lv - v0) ** 2))])
        step = float(mired[1] - mired[0])
        mired = np.linspace(max(best - step, 40.0), min(best + step, 600.0), 41)
    return 1e6 / best


def interpolation_weight(cct: float, t1: float, t2: float) -> float:
    """Weight of the matrix for temperature ``t1`` (DNG: linear in 1/T, clamped to [0, 1])."""
    if t1 == t2:
        return 1.0
    if cct <= min(t1, t2):
        return 1.0 if t1 < t2 else 0.0
    if cct >= max(t1, t2):
        return 0.0 if t1 < t2 else 1.0
    return float((1.0 / cct - 1.0 / t2) / (1.0 / t1 - 1.0 / t2))


def xyz_to_camera_for_xy(
    xy: tuple[float, float],
    cm1: np.ndarray,
    cm2: np.ndarray | None,
    t1: float | None,
    t2: float | None,
    cc1: np.ndarray | None = None,
    cc2: np.ndarray | None = None,
    ab: np.ndarray | None = None,
) -> np.ndarray:
    """``AB · CC(xy) · CM(xy)``: XYZ → camera for a scene white ``xy``."""
    eye = np.eye(3)
    cc1 = eye if cc1 is None else cc1
    cc2 = cc1 if cc2 is None else cc2
    if cm2 is None or t1 is None or t2 is None:
        cm, cc = cm1, cc1
    else:
        g = interpolation_weight(cct_from_xy(xy), t1, t2)
        cm = g * cm1 + (1.0 - g) * cm2
        cc = g * cc1 + (1.0 - g) * cc2
    ab = eye if ab is None else ab
    return ab @ cc @ cm


def neutral_to_xy(neutral: np.ndarray, to_camera, *, iterations: int = 30) -> tuple[float, float]:
    """Iterate xy until ``to_camera(xy)⁻¹ · neutral`` maps back onto it (DNG spec's method).

    ``to_camera(xy)`` returns the XYZ → camera matrix for a white xy.
    """
    xy = D50_XY
    prev = xy
    for i in range(iterations):
        m = to_camera(xy)
        try:
            xyz = np.linalg.solve(m, neutral)
        except np.linalg.LinAlgError:
            return D50_XY
        new = xyz_to_xy(xyz)
        if abs(new[0] - xy[0]) + abs(new[1] - xy[1]) < 1e-7:
            return new
        if i == iterations - 1:  # oscillating: settle between the last two
            return (0.5 * (new[0] + prev[0]), 0.5 * (new[1] + prev[1]))
        prev, xy = xy, new
    return xy
