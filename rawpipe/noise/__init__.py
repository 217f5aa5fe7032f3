"""Noise model, variance-stabilizing transforms, noise synthesis and sensor calibration.

Units throughout: the normalised signal ``x = (DN − black)/(white − black)`` with
``Var(z | x) = a·x + b`` per channel (``NoiseParams(shot=a, read=b)``).

>>> import numpy as np
>>> from rawpipe.noise import NoiseParams, generalized_anscombe, inverse_generalized_anscombe
>>> p = NoiseParams(shot=1e-3, read=1e-6)
>>> x = np.array([0.0, 0.01, 0.5])
>>> d = generalized_anscombe(x, p)
>>> bool(np.all(np.diff(d) > 0))
True
"""

from __future__ import annotations

from typing import Any

from rawpipe.noise.calibrate import calibrate_command, calibrate_profile, resolve_noise
from rawpipe.noise.estimate import (
    LevelSets,
    estimate_noise,
    estimate_noise_mosaic,
    estimate_noise_two_frames,
    estimate_noise_two_frames_mosaic,
    estimate_read_noise,
    fit_noise_curve,
)
from rawpipe.noise.params import NoiseParams, ParamsLike
from rawpipe.noise.profiles import (
    IsoNoiseModel,
    find_profile,
    list_profiles,
    load_profile,
    pmrid_phone_model,
    save_profile,
)
from rawpipe.noise.sampling import add_poisson_gaussian_noise, sample_noise_params, variance_map
from rawpipe.noise.vst import (
    INVERSE_METHODS,
    exact_inverse_fixed,
    expected_vst,
    generalized_anscombe,
    inverse_generalized_anscombe,
    inverse_k_sigma,
    k_sigma,
)

__all__ = [
    "INVERSE_METHODS",
    "GeneralizedAnscombe",
    "InverseGeneralizedAnscombe",
    "InverseKSigma",
    "IsoNoiseModel",
    "KSigma",
    "LevelSets",
    "NoiseParams",
    "ParamsLike",
    "add_poisson_gaussian_noise",
    "calibrate_command",
    "calibrate_profile",
    "estimate_noise",
    "estimate_noise_mosaic",
    "estimate_noise_two_frames",
    "estimate_noise_two_frames_mosaic",
    "estimate_read_noise",
    "exact_inverse_fixed",
    "expected_vst",
    "find_profile",
    "fit_noise_curve",
    "generalized_anscombe",
    "inverse_generalized_anscombe",
    "inverse_k_sigma",
    "k_sigma",
    "list_profiles",
    "load_profile",
    "pmrid_phone_model",
    "resolve_noise",
    "sample_noise_params",
    "save_profile",
    "variance_map",
]

_MODULES = ("GeneralizedAnscombe", "InverseGeneralizedAnscombe", "KSigma", "InverseKSigma")


def __getattr__(name: str) -> Any:
    # nn.Module twins import torch: only on demand, so `import rawpipe.noise` stays light.
    if name in _MODULES:
        from rawpipe.noise import modules

        return getattr(modules, name)
    raise AttributeError(f"module 'rawpipe.noise' has no attribute {name!r}")
