"""Training and validation data: random synthetic patches and fixed validation images.

Every sample is a dict of float32 tensors, the layout the models and losses use:

- ``"mosaic"`` ``(1, H, W)``: noisy RGGB mosaic, normalised ``(DN − black)/(white − black)``
  (negatives kept, see :mod:`rawpipe.data.synthetic`);
- ``"target"`` ``(3, H, W)``: clean linear camera RGB, same normalisation, clipped to the sensor
  range [0, 1] (the sensor clips too);
- ``"shot"``, ``"read"`` ``(4,)``: noise parameters ``a`` and ``b`` per RGGB channel (R, G1, G2,
  B), ADC quantisation ``Δ²/12`` included in ``b``; ``a = 0`` for a noise-free capture;
- ``"wb"`` ``(3,)``: R, G, B white-balance gains; ``"cam_to_srgb"`` ``(3, 3)``: white-balanced
  camera RGB → linear sRGB. Render with ``rawpipe.color.process(x, wb, cam_to_srgb)``.

Determinism: sample ``i`` of :class:`SyntheticPairs` depends only on ``(seed, i)`` (its own
generators, seeded through ``numpy.random.SeedSequence``), never on the worker, the number of
workers, the rank or the batch it is fetched in. A resumed run that asks for the same indices gets
the same samples; :class:`ResumableBatchSampler` gives each (step, rank) its own fixed indices.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from rawpipe.data.photos import (
    SCALE_RANGE,
    encode_linear_srgb,
    load_validation_photo,
    photo_name,
    random_patch,
    train_photos,
    validation_photos,
)
from rawpipe.data.photos import preload as preload_photos
from rawpipe.data.synthetic import (
    DEFAULT_SENSOR,
    SensorConfig,
    make_raw,
    sample_dark_scale,
    sample_noise,
    sample_sensor,
)
from rawpipe.data.unprocess import (
    DEFAULT_UNPROCESS,
    UnprocessConfig,
    UnprocessMeta,
    unprocess_linear,
)

__all__ = [
    "FLAT_PATCH_COLORS",
    "VALIDATION_LEVELS",
    "VALIDATION_SENSOR",
    "ResumableBatchSampler",
    "SyntheticPairs",
    "ValidationLevel",
    "ValidationSensor",
    "flat_dark_patches",
    "sample_seed",
    "validation_set",
]


def sample_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed mixed from ``seed`` and ``keys`` (``numpy.random.SeedSequence``)."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *(int(k) for k in keys)])
    return int(state.generate_state(1, np.uint64)[0] >> np.uint64(1))


def _name_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def _augment(patch: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/transposes of a square ``(H, W, 3)`` patch (``k`` in 0..7)."""
    if k & 1:
        patch = patch[::-1]
    if k & 2:
        patch = patch[:, ::-1]
    if k & 4:
        patch = patch.transpose(1, 0, 2)
    return patch


def _sample_dict(raw: Any, meta: UnprocessMeta) -> dict[str, Tensor]:
    return {
        "mosaic": raw.mosaic,
        "target": raw.target,
        "shot": raw.shot,
        "read": raw.read,
        "wb": meta.wb_gains.to(torch.float32),
        "cam_to_srgb": meta.cam_to_srgb.to(torch.float32),
    }


class SyntheticPairs(Dataset[dict[str, Tensor]]):
    """Random synthetic training patches from the training photos (map-style, deterministic).

    Sample ``i``: a photo (probability ∝ √pixels), a random downscale factor in ``scale_range``
    and place (:func:`rawpipe.data.photos.random_patch`), one of the 8 flips/transposes,
    unprocessing (:func:`rawpipe.data.unprocess.unprocess`), a random sensor, exposure and noise
    level (:class:`rawpipe.data.synthetic.SensorConfig`) and :func:`rawpipe.data.synthetic.make_raw`
    with a random CFA phase. See the module docstring for the dict.

    Args:
        paths: photos to draw from; default the training split of the fetched photos.
        patch_size: ``H = W`` of the mosaic (even).
        seed: the run's data seed.
        length: the nominal ``len()`` (samples are generated on demand for any index ≥ 0).
        sensor, unprocess_config, scale_range, augment: the randomisation.
        preload: decode all photos now (do it before ``DataLoader`` workers fork, so that they
            share one copy of the cache instead of decoding their own — ~330 MB each).
    """

    def __init__(
        self,
        paths: Sequence[str | Path] | None = None,
        *,
        patch_size: int = 128,
        seed: int = 0,
        length: int = 1_000_000,
        sensor: SensorConfig = DEFAULT_SENSOR,
        unprocess_config: UnprocessConfig = DEFAULT_UNPROCESS,
        scale_range: tuple[float, float] = SCALE_RANGE,
        augment: bool = True,
        preload: bool = False,
    ) -> None:
        if patch_size < 2 or patch_size % 2:
            raise ValueError(f"patch_size must be even and >= 2, got {patch_size}")
        self.paths = [Path(p) for p in (train_photos() if paths is None else paths)]
        if not self.paths:
            raise ValueError("no photos to draw from")
        self.patch_size = int(patch_size)
        self.seed = int(seed)
        self.length = int(length)
        self.sensor = sensor
        self.unprocess_config = unprocess_config
        self.scale_range = scale_range
        self.augment = augment
        weights = np.sqrt([_pixel_count(p) for p in self.paths])
        self._cum = np.cumsum(weights / weights.sum())
        if preload:
            preload_photos(self.paths)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.sample(int(index))

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Tensor]]:
        return [self.sample(int(i)) for i in indices]

    def batch(self, indices: Sequence[int]) -> dict[str, Tensor]:
        """Samples ``indices`` stacked into one dict of ``(N, ...)`` tensors."""
        items = self.__getitems__(indices)
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}

    def sample(self, index: int) -> dict[str, Tensor]:
        """Sample ``index`` (a pure function of ``(seed, index)``)."""
        if index < 0:
            raise IndexError(f"negative sample index {index}")
        s = sample_seed(self.seed, index)
        nprng = np.random.default_rng(s)
        g = torch.Generator().manual_seed(s)
        k = min(int(np.searchsorted(self._cum, nprng.random(), side="right")), len(self.paths) - 1)
        # One more pixel than needed: make_raw's random CFA phase shifts by 0 or 1 pixel.
        patch, _ = random_patch(self.paths[k], self.patch_size + 1, nprng, self.scale_range)
        if self.augment:
            patch = _augment(patch, int(nprng.integers(8)))
        lin_srgb = torch.from_numpy(np.ascontiguousarray(patch.transpose(2, 0, 1)))
        linear, meta = unprocess_linear(lin_srgb, g, config=self.unprocess_config)
        bits, black = sample_sensor(g, self.sensor)
        dark = sample_dark_scale(g, self.sensor)
        noise = sample_noise(g, self.sensor)
        raw = make_raw(
            linear,
            g,
            noise,
            cfa_phase=None,
            bits=bits,
            black_level=black,
            dark_scale=dark,
            method=self.sensor.noise_method,
        )
        return _sample_dict(raw, meta)


def _pixel_count(path: Path) -> int:
    """Pixels of an image file from its header (PIL), without decoding it."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
    return int(w) * int(h)


class ResumableBatchSampler(Sampler[list[int]]):
    """Batches of sample indices fixed by (step, rank): step ``s`` of rank ``r`` of ``world``
    gets ``[(s·world + r)·B + k for k < B]``. Start at ``start_step`` to resume; every rank sees
    different samples; a run is reproducible whatever the number of workers.
    """

    def __init__(
        self,
        batch_size: int,
        *,
        start_step: int = 0,
        num_steps: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"bad batch_size/rank/world_size {batch_size}/{rank}/{world_size}")
        self.batch_size = batch_size
        self.start_step = start_step
        self.num_steps = num_steps
        self.rank = rank
        self.world_size = world_size

    def indices(self, step: int) -> list[int]:
        """The sample indices of ``step`` on this rank."""
        base = (step * self.world_size + self.rank) * self.batch_size
        return list(range(base, base + self.batch_size))

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        while self.num_steps is None or step < self.num_steps:
            yield self.indices(step)
            step += 1

    def __len__(self) -> int:
        if self.num_steps is None:
            raise TypeError("an endless ResumableBatchSampler has no length")
        return max(0, self.num_steps - self.start_step)


# ---------------------------------------------------------------------------------------------
# Validation


@dataclass(frozen=True)
class ValidationLevel:
    """A noise level of the acceptance table (issue 4), normalised units of the 10-bit sensor."""

    name: str
    shot: float
    """``a`` (0: noise-free)."""
    read: float
    """``b`` without quantisation (the samples' ``"read"`` adds the ADC's ``Δ²/12``)."""
    exposure: float = 1.0
    """Exposure factor of the scene (1/8: the dark scene, scored as it is)."""


@dataclass(frozen=True)
class ValidationSensor:
    """The sensor of the acceptance levels: 10 bit, black 64, white 1023."""

    bits: int = 10
    black_level: int = 64

    @property
    def white_level(self) -> int:
        return (1 << self.bits) - 1


VALIDATION_SENSOR = ValidationSensor()

VALIDATION_LEVELS: Mapping[str, ValidationLevel] = MappingProxyType(
    {
        "clean": ValidationLevel("clean", 0.0, 0.0),
        "iso400": ValidationLevel("iso400", 2.6e-4, 5e-7),
        "iso1600": ValidationLevel("iso1600", 1e-3, 3.2e-6),
        "iso6400": ValidationLevel("iso6400", 4e-3, 3.6e-5),
        "dark": ValidationLevel("dark", 1e-3, 3.2e-6, exposure=1 / 8),
    }
)
"""The acceptance levels of issue 4 (PMRID-like phone levels), by name."""

_VAL_CACHE: dict[tuple[str, int, int | None, str], tuple[Tensor, Tensor, UnprocessMeta, str]] = {}
_VAL_PATTERNS = ("RGGB", "GRBG", "GBRG", "BGGR")


def _level(level: str | ValidationLevel) -> ValidationLevel:
    if isinstance(level, ValidationLevel):
        return level
    try:
        return VALIDATION_LEVELS[level]
    except KeyError:
        raise ValueError(f"unknown level {level!r}; one of {list(VALIDATION_LEVELS)}") from None


def _center_crop(x: Tensor, max_size: int | None) -> Tensor:
    if max_size is None:
        return x
    h, w = x.shape[-2:]
    ch, cw = min(h, max_size), min(w, max_size)
    y0, x0 = (h - ch) // 4 * 2, (w - cw) // 4 * 2
    return x[..., y0 : y0 + ch, x0 : x0 + cw]


def _clean_validation(
    path: Path, seed: int, max_size: int | None, pattern: str
) -> tuple[Tensor, Tensor, UnprocessMeta, str]:
    """(sRGB, linear, meta, CFA pattern) of a validation photo, the same for every level."""
    key = (str(path), seed, max_size, pattern)
    hit = _VAL_CACHE.get(key)
    if hit is None:
        lin_srgb = torch.from_numpy(load_validation_photo(path).transpose(2, 0, 1).copy())
        lin_srgb = _center_crop(lin_srgb, max_size).contiguous()
        srgb = torch.from_numpy(encode_linear_srgb(lin_srgb.numpy()))
        g = torch.Generator().manual_seed(sample_seed(seed, _name_key(photo_name(path))))
        linear, meta = unprocess_linear(lin_srgb, g)
        hit = _VAL_CACHE.setdefault(key, (srgb, linear, meta, pattern))
    return hit


def validation_set(
    level: str | ValidationLevel,
    paths: Sequence[str | Path] | None = None,
    *,
    seed: int = 0,
    max_size: int | None = None,
) -> list[dict[str, Any]]:
    """The fixed validation images at one acceptance level (same data on every call).

    Each validation photo (:data:`rawpipe.data.photos.VALIDATION_PHOTOS`, at its fixed downscale
    factor, optionally centre-cropped to ``max_size``) is unprocessed with parameters fixed by
    ``(seed, photo name)`` — identical across levels, so levels are comparable — and a CFA phase
    fixed by its place in the list (RGGB, GRBG, GBRG, BGGR, RGGB, ...: every phase is scored),
    and captured by the 10-bit sensor of :data:`VALIDATION_SENSOR` with the level's noise (seeded
    by ``(seed, photo name, level)``).

    Returns:
        one dict per photo: the training keys (``mosaic``, ``target``, ``shot``, ``read``, ``wb``,
        ``cam_to_srgb``) plus ``name``, ``level``, ``pattern`` (the simulated sensor's Bayer
        pattern over the photo), ``srgb`` ``(3, H, W)`` (the downscaled photo, aligned with
        ``target``: the sRGB-domain ground truth), ``brightness``, ``exposure`` (floats),
        ``black_level``, ``white_level`` (DN).
    """
    lvl = _level(level)
    val_paths = validation_photos(paths)
    out: list[dict[str, Any]] = []
    for i, path in enumerate(val_paths):
        name = photo_name(path)
        pattern = _VAL_PATTERNS[i % 4]  # each phase on two of the eight photos
        srgb, linear, meta, pattern = _clean_validation(path, seed, max_size, pattern)
        g = torch.Generator().manual_seed(
            sample_seed(seed, _name_key(name), _name_key(lvl.name), 1)
        )
        noise = None
        if lvl.shot > 0:
            from rawpipe.noise.params import NoiseParams

            noise = NoiseParams(lvl.shot, lvl.read)
        raw = make_raw(
            linear,
            g,
            noise,
            cfa_phase=pattern,
            bits=VALIDATION_SENSOR.bits,
            black_level=VALIDATION_SENSOR.black_level,
            dark_scale=lvl.exposure,
        )
        dy, dx = _red_offset(pattern)
        h, w = raw.target.shape[-2:]
        item: dict[str, Any] = _sample_dict(raw, meta)
        item.update(
            name=name,
            level=lvl.name,
            pattern=pattern,
            srgb=srgb[:, dy : dy + h, dx : dx + w].clone(),
            brightness=float(meta.brightness),
            exposure=lvl.exposure,
            black_level=raw.black_level,
            white_level=raw.white_level,
        )
        out.append(item)
    return out


def _red_offset(pattern: str) -> tuple[int, int]:
    from rawpipe.raw.cfa import CFAPattern

    return CFAPattern.from_string(pattern).red_offset


FLAT_PATCH_COLORS: tuple[tuple[float, float, float], ...] = (
    (1.0, 1.0, 1.0),
    (0.5, 1.0, 0.6),
    (1.0, 0.7, 0.5),
)
"""Camera-RGB colours of :func:`flat_dark_patches`: flat raw, a greenish (typical daylight raw
grey) and a warm one."""


def flat_dark_patches(
    levels: Sequence[str | ValidationLevel] = ("iso400", "iso1600", "iso6400"),
    counts: Sequence[float] = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0),
    colors: Sequence[tuple[float, float, float]] = FLAT_PATCH_COLORS,
    *,
    size: int = 64,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Uniform-colour dark patches for the level-accuracy test (issue 4 acceptance).

    For each level, count ``c`` and colour ``(r, g, b)`` (entries in (0, 1]): a flat linear camera
    RGB patch ``x = c·a·(r, g, b)``, i.e. ``c`` photo-electrons (shot-noise units) per pixel in
    its brightest channel, captured by :data:`VALIDATION_SENSOR` (RGGB phase) with the level's
    noise. Fixed by ``seed``.

    Returns:
        dicts with the training keys (``wb`` ones, ``cam_to_srgb`` identity) plus ``level``,
        ``counts`` ``(3,)`` (photo-electrons per channel) and ``color``.
    """
    from rawpipe.noise.params import NoiseParams

    if size < 2 or size % 2:
        raise ValueError(f"size must be even and >= 2, got {size}")
    out: list[dict[str, Any]] = []
    for li, level in enumerate(levels):
        lvl = _level(level)
        if lvl.shot <= 0:
            raise ValueError(f"level {lvl.name} has no shot noise")
        noise = NoiseParams(lvl.shot, lvl.read)
        for ci, c in enumerate(counts):
            for ki, color in enumerate(colors):
                rgb = torch.tensor(color, dtype=torch.float32)
                if not (rgb.max() <= 1 and rgb.min() > 0):
                    raise ValueError(f"colour entries must be in (0, 1], got {color}")
                x = (float(c) * lvl.shot * rgb)[:, None, None].expand(3, size, size)
                g = torch.Generator().manual_seed(sample_seed(seed, li, ci, ki, 2))
                raw = make_raw(
                    x.contiguous(),
                    g,
                    noise,
                    cfa_phase="RGGB",
                    bits=VALIDATION_SENSOR.bits,
                    black_level=VALIDATION_SENSOR.black_level,
                )
                out.append(
                    {
                        "mosaic": raw.mosaic,
                        "target": raw.target,
                        "shot": raw.shot,
                        "read": raw.read,
                        "wb": torch.ones(3),
                        "cam_to_srgb": torch.eye(3),
                        "level": lvl.name,
                        "counts": float(c) * rgb,
                        "color": tuple(float(v) for v in color),
                    }
                )
    return out
