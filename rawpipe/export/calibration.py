"""The PTQ calibration set: synthetic raws from the training photos, per noise bucket.

The recipe lives in ``calibration/ptq/recipe.toml`` (what, how many, which seed); this module turns
it into the network-input batches the quantisers observe: for each bucket of a target, fixed-size
tiles made like the training data (:mod:`rawpipe.data`: random patch at a 2–4× area downscale,
unprocessing, a simulated sensor) with noise drawn inside the bucket, passed through the host
pre-step :func:`rawpipe.models.jdd.jdd_preprocess` (pack + generalized Anscombe). Deterministic:
tile ``i`` of bucket ``k`` depends only on ``(seed, k, i)``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rawpipe.export.targets import SHOT_FLOOR, NoiseBucket

__all__ = [
    "CalibrationRecipe",
    "calibration_batches",
    "calibration_samples",
    "load_recipe",
]

_BROOKS_SLOPE, _BROOKS_INTERCEPT = 2.18, 1.20  # ln b = 2.18 ln a + 1.20 (Brooks et al. 2019)


@dataclass(frozen=True)
class CalibrationRecipe:
    """Fields of ``calibration/ptq/recipe.toml`` (see there)."""

    photos: str = "train"
    tiles_per_bucket: int = 24
    seed: int = 5
    scale_range: tuple[float, float] = (2.0, 4.0)
    read_log_offset: tuple[float, float] = (-0.52, 2.8)
    noise_free_share: float = 0.5
    dark_share: float = 0.25
    dark_range: tuple[float, float] = (1 / 16, 1 / 4)
    highlight_share: float = 0.25
    bits: tuple[int, ...] = (10, 11, 12)
    black_fraction: tuple[float, float] = (1 / 32, 1 / 8)
    black_zero_share: float = 0.2
    source: str | None = None

    def replace(self, **changes: Any) -> CalibrationRecipe:
        return replace(self, **changes)


def load_recipe(path: str | os.PathLike[str]) -> CalibrationRecipe:
    """Read a calibration recipe (toml)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    with open(path, "rb") as f:
        d = tomllib.load(f)
    known = {k: v for k, v in d.items() if k in CalibrationRecipe.__dataclass_fields__}
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise ValueError(f"{path}: unknown calibration recipe keys {unknown}")
    for k in ("scale_range", "read_log_offset", "dark_range", "bits", "black_fraction"):
        if k in known:
            known[k] = tuple(known[k])
    return CalibrationRecipe(**known, source=str(path))


def _photos(
    recipe: CalibrationRecipe, paths: Sequence[str | os.PathLike[str]] | None
) -> list[Path]:
    from rawpipe.data.photos import train_photos, validation_photos

    if paths is not None:
        return [Path(p) for p in paths]
    if recipe.photos == "train":
        return train_photos()
    if recipe.photos == "validation":  # only for experiments; the parity set uses these
        return validation_photos()
    raise ValueError(f"photos must be 'train' or 'validation', got {recipe.photos!r}")


def _noise_in_bucket(rng: np.random.Generator, recipe: CalibrationRecipe, bucket: NoiseBucket):
    """``(shot, read)`` floats, or ``None`` (noise-free) for the floor bucket's share."""
    lo, hi = bucket.calibration_range
    if lo <= SHOT_FLOOR and rng.random() < recipe.noise_free_share:
        return None
    lo = max(lo, SHOT_FLOOR)
    la = math.log(lo) + (math.log(hi) - math.log(lo)) * rng.random()
    lb = _BROOKS_SLOPE * la + _BROOKS_INTERCEPT + rng.uniform(*recipe.read_log_offset)
    return math.exp(la), math.exp(lb)


def _patch_for_tile(
    path: Any, size: tuple[int, int], rng: np.random.Generator, scale_range: tuple[float, float]
) -> np.ndarray:
    """A ``size`` patch of ``path`` at ≥ 2× downscale. A photo too small for the whole tile gives
    the largest patch it has (halving the request until it fits), mirrored out to the tile: every
    photo of the recipe contributes at any tile size (at 1024² raw pixels only a quarter of the
    training photos are large enough), and the mirrored content keeps the photo's statistics."""
    from rawpipe.data.photos import random_patch

    h, w = size
    ph, pw = h, w
    while True:
        try:
            patch, _ = random_patch(path, (ph, pw), rng, scale_range)
            break
        except ValueError:
            if min(ph, pw) <= 64:
                raise ValueError(f"{path} is too small for calibration tiles") from None
            ph, pw = -(-ph // 2), -(-pw // 2)
    while patch.shape[0] < h or patch.shape[1] < w:
        dh = min(h - patch.shape[0], patch.shape[0] - 1)
        dw = min(w - patch.shape[1], patch.shape[1] - 1)
        patch = np.pad(patch, ((0, max(dh, 0)), (0, max(dw, 0)), (0, 0)), mode="reflect")
    return np.ascontiguousarray(patch[:h, :w])


def calibration_samples(
    recipe: CalibrationRecipe,
    bucket: NoiseBucket,
    raw_tile: tuple[int, int],
    *,
    bucket_index: int = 0,
    paths: Sequence[str | os.PathLike[str]] | None = None,
) -> list[dict[str, torch.Tensor]]:
    """``tiles_per_bucket`` synthetic raws of ``raw_tile`` (H, W) raw pixels for ``bucket``:
    dicts with ``mosaic`` ``(1, H, W)``, ``shot``/``read`` ``(4,)`` (see :mod:`rawpipe.data`)."""
    from rawpipe.data.datasets import sample_seed
    from rawpipe.data.synthetic import make_raw
    from rawpipe.data.unprocess import unprocess_linear
    from rawpipe.noise.params import NoiseParams

    h, w = (int(v) for v in raw_tile)
    if h % 2 or w % 2:
        raise ValueError(f"raw tile must be even, got {raw_tile}")
    photos = _photos(recipe, paths)
    if not photos:
        raise ValueError("no photos for the calibration set")
    out = []
    for i in range(recipe.tiles_per_bucket):
        s = sample_seed(recipe.seed, bucket_index, i)
        rng = np.random.default_rng(s)
        g = torch.Generator().manual_seed(s)
        path = photos[int(rng.integers(len(photos)))]
        # One pixel more than needed: make_raw's random CFA phase crops by 0 or 1 pixel.
        patch = _patch_for_tile(path, (h + 1, w + 1), rng, recipe.scale_range)
        lin_srgb = torch.from_numpy(np.ascontiguousarray(patch.transpose(2, 0, 1)))
        linear, _meta = unprocess_linear(lin_srgb, g)
        u = rng.random()
        exposure = 1.0
        if u < recipe.dark_share:
            lo, hi = (math.log(v) for v in recipe.dark_range)
            exposure = math.exp(lo + (hi - lo) * rng.random())
        elif u < recipe.dark_share + recipe.highlight_share:
            top = float(torch.quantile(linear.flatten()[:: max(1, linear.numel() // 65536)], 0.995))
            exposure = max(1.0, 1.0 / max(top, 1e-3))
        bits = int(recipe.bits[int(rng.integers(len(recipe.bits)))])
        if rng.random() < recipe.black_zero_share:
            black = 0
        else:
            black = round(rng.uniform(*recipe.black_fraction) * (1 << bits))
        nz = _noise_in_bucket(rng, recipe, bucket)
        noise = None if nz is None else NoiseParams(*nz)
        raw = make_raw(
            linear, g, noise, cfa_phase=None, bits=bits, black_level=black, dark_scale=exposure
        )
        mosaic = raw.mosaic[..., :h, :w]
        if tuple(mosaic.shape[-2:]) != (h, w):
            raise RuntimeError(f"calibration tile {tuple(mosaic.shape)} != {(h, w)}")
        out.append({"mosaic": mosaic.contiguous(), "shot": raw.shot, "read": raw.read})
    return out


def calibration_batches(
    recipe: CalibrationRecipe,
    buckets: Sequence[NoiseBucket],
    packed_tile: tuple[int, int],
    *,
    paths: Sequence[str | os.PathLike[str]] | None = None,
) -> dict[str, list[torch.Tensor]]:
    """``{bucket name: [(1, 4, h, w) network inputs]}`` — the calibration tiles after the host
    pre-step (:func:`rawpipe.models.jdd.jdd_preprocess`) at the graph's packed tile size."""
    from rawpipe.models.jdd import jdd_preprocess, noise_tensors

    raw_tile = (2 * int(packed_tile[0]), 2 * int(packed_tile[1]))
    out: dict[str, list[torch.Tensor]] = {}
    for k, bucket in enumerate(buckets):
        batches = []
        for smp in calibration_samples(recipe, bucket, raw_tile, bucket_index=k, paths=paths):
            shot, read = noise_tensors(smp["shot"], smp["read"], 1)
            with torch.no_grad():
                batches.append(jdd_preprocess(smp["mosaic"][None].float(), shot, read))
        out[bucket.name] = batches
    return out
