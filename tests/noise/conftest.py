"""Fixtures for the noise tests: clean Bayer mosaics synthesised from real photographs.

The clean scene is the six CC0/public-domain photos shipped in scikit-image (astronaut, chelsea,
coffee, rocket, the stereo motorcycle pair), converted to linear light with the sRGB curve,
blurred by a Gaussian of σ = 1 px (the lens/AA-filter MTF of a camera: a JPEG's own grain and
sharpening at the pixel scale would otherwise be indistinguishable from the noise we add) and
sampled as an RGGB mosaic at the photo's resolution, side by side.
"""

from __future__ import annotations

import numpy as np
import pytest

#: The (a, b) grid of the estimation acceptance tests: spans a ∈ [1e-4, 1e-2], b ∈ [1e-7, 1e-4].
AB_GRID = [(a, b) for a in (1e-4, 1e-3, 1e-2) for b in (1e-7, 1e-6, 1e-5, 1e-4)]
#: 12-bit quantisation step in normalised units (its variance Δ²/12 counts into b).
QSTEP = 1.0 / 4095.0


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _photos() -> list[np.ndarray]:
    skdata = pytest.importorskip("skimage.data")
    return [
        skdata.astronaut(),
        skdata.chelsea(),
        skdata.coffee(),
        skdata.rocket(),
        *skdata.stereo_motorcycle()[:2],
    ]


@pytest.fixture(scope="session")
def clean_mosaic() -> np.ndarray:
    """float64 RGGB mosaic (300, 3682) of six photos in linear light, values in [0, 1]."""
    from scipy import ndimage

    mosaics = []
    for im in _photos():
        lin = _srgb_to_linear(im.astype(np.float64) / 255.0)
        lin = np.stack([ndimage.gaussian_filter(lin[..., c], 1.0) for c in range(3)], -1)
        h, w = lin.shape[0] // 2 * 2, lin.shape[1] // 2 * 2
        lin = lin[:h, :w]
        m = np.empty((h, w))
        m[0::2, 0::2] = lin[0::2, 0::2, 0]
        m[0::2, 1::2] = lin[0::2, 1::2, 1]
        m[1::2, 0::2] = lin[1::2, 0::2, 1]
        m[1::2, 1::2] = lin[1::2, 1::2, 2]
        mosaics.append(m)
    rows = min(m.shape[0] for m in mosaics)
    return np.concatenate([m[:rows] for m in mosaics], axis=1)


def std_curve_error(params, a: float, b: float, xs: np.ndarray | None = None) -> float:
    """Worst relative error of the estimated std curve against sqrt(a·x + b + Δ²/12)."""
    xs = np.geomspace(0.01, 0.9, 60) if xs is None else xs
    true = np.sqrt(a * xs + b + QSTEP**2 / 12.0)
    est = np.sqrt(np.maximum(params.shot * xs + params.read, 0.0))
    return float(np.max(np.abs(est / true - 1.0)))


@pytest.fixture(scope="session")
def ab_grid() -> list[tuple[float, float]]:
    return list(AB_GRID)


@pytest.fixture(scope="session")
def qstep() -> float:
    return QSTEP


@pytest.fixture(scope="session")
def curve_error():
    return std_curve_error
