"""Training data: clean photographs, unprocessing, synthetic raw captures and datasets.

- :mod:`rawpipe.data.fetch`: fetch and cache the offline photos and real DNGs (imported lazily).
- :mod:`rawpipe.data.photos`: loading, linear-light area downscaling, the fixed train/validation
  split (:data:`VALIDATION_PHOTOS`).
- :mod:`rawpipe.data.unprocess`: sRGB → linear camera RGB (Brooks et al., CVPR 2019) and back.
- :mod:`rawpipe.data.synthetic`: the simulated sensor (CFA phase, noise, ADC) — :func:`make_raw`.
- :mod:`rawpipe.data.datasets`: :class:`SyntheticPairs` (training patches), :func:`validation_set`
  at :data:`VALIDATION_LEVELS`, :func:`flat_dark_patches`.
"""

from __future__ import annotations

from typing import Any

from rawpipe.data.datasets import (
    VALIDATION_LEVELS,
    VALIDATION_SENSOR,
    ResumableBatchSampler,
    SyntheticPairs,
    ValidationLevel,
    ValidationSensor,
    flat_dark_patches,
    sample_seed,
    validation_set,
)
from rawpipe.data.photos import (
    VALIDATION_PHOTOS,
    load_photo,
    load_validation_photo,
    split_photos,
    train_photos,
    validation_photos,
)
from rawpipe.data.synthetic import DEFAULT_SENSOR, RawSample, SensorConfig, make_raw, mosaic_rggb
from rawpipe.data.unprocess import (
    DEFAULT_UNPROCESS,
    UnprocessConfig,
    UnprocessMeta,
    process_meta,
    unprocess,
    unprocess_linear,
)

__all__ = [
    "DEFAULT_SENSOR",
    "DEFAULT_UNPROCESS",
    "VALIDATION_LEVELS",
    "VALIDATION_PHOTOS",
    "VALIDATION_SENSOR",
    "RawSample",
    "ResumableBatchSampler",
    "SensorConfig",
    "SyntheticPairs",
    "UnprocessConfig",
    "UnprocessMeta",
    "ValidationLevel",
    "ValidationSensor",
    "fetch_photos",
    "fetch_raw_samples",
    "flat_dark_patches",
    "load_photo",
    "load_validation_photo",
    "make_raw",
    "mosaic_rggb",
    "process_meta",
    "sample_seed",
    "split_photos",
    "train_photos",
    "unprocess",
    "unprocess_linear",
    "validation_photos",
    "validation_set",
]


def __getattr__(name: str) -> Any:
    # The fetchers import subprocess/tarfile machinery: load them only when asked for.
    if name in ("fetch_photos", "fetch_raw_samples"):
        from rawpipe.data import fetch

        return getattr(fetch, name)
    raise AttributeError(f"module 'rawpipe.data' has no attribute {name!r}")
