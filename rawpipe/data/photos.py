"""Clean photographs as ground truth: loading, area downscaling, the fixed train/validation split.

The offline photos (``rawpipe.data.fetch.fetch_photos``) are JPEGs and PNGs of 0.1–20 megapixels.
Downscaling them 2–4× with area averaging (``cv2.INTER_AREA``) removes JPEG blocking and the
cameras' own demosaicing artefacts, which is what makes them usable as *clean* targets.

Linear light: a camera integrates light linearly, so the photos are linearised *before* they are
downscaled. Each 8-bit value goes through the inverse of the rendering curve — the inverse tone
curve, then sRGB gamma expansion (the first two steps of unprocessing, Brooks et al. 2019) — by
an exact 256-entry table, and the area averaging happens on those "linear sRGB" values. The
sRGB-encoded ground truth is that result re-encoded (:func:`encode_linear_srgb`).

Two uses, two access paths:

- **validation**: :func:`load_validation_photo` — the whole photo at one fixed factor per photo,
  :func:`validation_factor` (the long side brought to at most :data:`VALIDATION_LONG_SIDE` px, the
  factor kept in [2, 4]);
- **training**: :func:`random_patch` — a patch at a random factor in [2, 4] at a random place.

Memory: each photo is decoded once per process and kept as the 2×2 box means of its linearised
pixels (float16, relative precision 5e-4; a quarter of the pixels, 1.5 bytes per original pixel —
about 330 MB for all 48 photos). Any factor ``s`` in [2, 4] is then an area downscale of that array
by ``s/2`` in [1, 2] — exactly the one-stage area average for ``s`` = 2 or 4; for other factors
the footprint's edges are at the 2× grid's resolution (at most one original pixel softer).
:func:`preload` fills the cache before ``DataLoader`` workers fork (the pages are then shared),
:func:`clear_cache` empties it.

The split is by photo name (:data:`VALIDATION_PHOTOS`, a fixed, documented list), so no photo — and
no crop of one — is ever on both sides. Near-duplicate scenes (the two ``skimage_motorcycle_*``
stereo views) are on the same side.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "SCALE_RANGE",
    "VALIDATION_LONG_SIDE",
    "VALIDATION_PHOTOS",
    "clear_cache",
    "downscale_area",
    "encode_linear_srgb",
    "linearize_srgb8",
    "load_photo",
    "load_validation_photo",
    "photo_name",
    "photo_paths",
    "preload",
    "random_patch",
    "split_photos",
    "train_photos",
    "validation_factor",
    "validation_photos",
]

SCALE_RANGE: tuple[float, float] = (2.0, 4.0)
"""Downscale factors used for ground truth (training draws uniformly in this range)."""

VALIDATION_LONG_SIDE = 1000
"""Validation photos are downscaled so that their long side is at most this (factor kept in
:data:`SCALE_RANGE`; a photo needing more than 4× keeps 4× and is slightly larger)."""

VALIDATION_PHOTOS: tuple[str, ...] = (
    "plasma_Path.jpg",  # dark forest (mean 8-bit level 39): the dark-scene photo
    "palapeli_cincinnati-bridge.jpg",  # night scene, point lights, fine structure
    "lomiri_life_by_Aitzol_Berasategi.jpg",  # waterfall, rocks and foliage: dense texture
    "palapeli_citrus-fruits.jpg",  # saturated orange/yellow/green, thin edges
    "skimage_astronaut.png",  # the classic: face, flag stripes, fabric
    "plasma_ColorfulCups.jpg",  # saturated blue/magenta, smooth shading
    "lomiri_Dragonfly_by_Bolly.jpg",  # leaves against blue sky, backlight
    "mate_Storm.jpg",  # smooth sky gradients, little texture (banding, flat-region noise)
)
"""The fixed validation split (8 of the 48 photos, chosen by hand for varied content; every other
photo of ``fetch_photos()`` is for training). Numbers reported for the project are on these."""


def photo_name(path: str | Path) -> str:
    """The split key of a photo: its file name (``"mate_Aqua.jpg"``)."""
    return Path(path).name


def photo_paths() -> list[Path]:
    """All offline photos in manifest order, fetched and cached on first use."""
    from rawpipe.data.fetch import fetch_photos

    return fetch_photos()


def split_photos(paths: Sequence[str | Path]) -> tuple[list[Path], list[Path]]:
    """Split ``paths`` into ``(train, validation)`` by name; order within each is kept."""
    val_names = set(VALIDATION_PHOTOS)
    ps = [Path(p) for p in paths]
    train = [p for p in ps if p.name not in val_names]
    val = [p for p in ps if p.name in val_names]
    return train, val


def train_photos(paths: Sequence[str | Path] | None = None) -> list[Path]:
    """The training photos (default: all fetched photos minus :data:`VALIDATION_PHOTOS`)."""
    return split_photos(photo_paths() if paths is None else paths)[0]


def validation_photos(paths: Sequence[str | Path] | None = None) -> list[Path]:
    """The validation photos, in the order of :data:`VALIDATION_PHOTOS`."""
    by_name = {p.name: p for p in split_photos(photo_paths() if paths is None else paths)[1]}
    missing = [n for n in VALIDATION_PHOTOS if n not in by_name]
    if missing:
        raise FileNotFoundError(f"validation photos not found: {missing}")
    return [by_name[n] for n in VALIDATION_PHOTOS]


def _read_rgb8(path: Path) -> np.ndarray:
    """Decode to ``(H, W, 3)`` RGB uint8 (grey photos become three equal channels)."""
    import cv2

    im = cv2.imread(str(path), cv2.IMREAD_COLOR)  # BGR uint8; grey → 3 channels; alpha dropped
    if im is None:
        raise OSError(f"cannot decode {path}")
    return np.ascontiguousarray(im[:, :, ::-1])


def load_photo(path: str | Path) -> np.ndarray:
    """A photo at full resolution as float32 sRGB-encoded ``(H, W, 3)`` in [0, 1] (RGB order)."""
    return _read_rgb8(Path(path)).astype(np.float32) / 255.0


_CACHE: dict[str, np.ndarray] = {}
_LOCK = threading.Lock()
_LUT: np.ndarray | None = None


def linearize_srgb8(image: np.ndarray) -> np.ndarray:
    """8-bit sRGB-encoded photo → float32 linear sRGB: inverse tone curve, then sRGB expansion.

    Exact per value (a 256-entry table computed with ``rawpipe.color``).
    """
    global _LUT
    if _LUT is None:
        import torch

        from rawpipe.color import inverse_tone_curve, srgb_gamma_expansion

        v = torch.arange(256, dtype=torch.float64) / 255.0
        _LUT = srgb_gamma_expansion(inverse_tone_curve(v)).to(torch.float32).numpy()
    if image.dtype != np.uint8:
        raise TypeError(f"expected uint8, got {image.dtype}")
    return np.take(_LUT, image)


def encode_linear_srgb(linear: np.ndarray) -> np.ndarray:
    """Inverse of :func:`linearize_srgb8` without the 8-bit rounding: sRGB compression, then the
    tone curve (float32 in, float32 out)."""
    import torch

    from rawpipe.color import srgb_gamma_compression, tone_curve

    t = torch.from_numpy(np.ascontiguousarray(linear, dtype=np.float32))
    return tone_curve(srgb_gamma_compression(t)).numpy()


def _half_mean(path: str | Path) -> np.ndarray:
    """The cached 2×2 box means ``(H//2, W//2, 3)`` float16 of a photo's linearised pixels."""
    key = str(Path(path).resolve())
    arr = _CACHE.get(key)
    if arr is None:
        im = _read_rgb8(Path(path))
        h2, w2 = im.shape[0] // 2, im.shape[1] // 2
        arr = np.empty((h2, w2, 3), np.float16)
        band = 128  # rows of the output per step: bounded temporary memory
        for y in range(0, h2, band):
            lin = linearize_srgb8(im[2 * y : 2 * min(y + band, h2), : 2 * w2])
            s = (lin[0::2, 0::2] + lin[0::2, 1::2]) + (lin[1::2, 0::2] + lin[1::2, 1::2])
            arr[y : y + band] = s * np.float32(0.25)
        arr.setflags(write=False)
        with _LOCK:
            arr = _CACHE.setdefault(key, arr)
    return arr


def preload(paths: Sequence[str | Path]) -> None:
    """Decode ``paths`` into the in-process cache (call before forking ``DataLoader`` workers)."""
    for p in paths:
        _half_mean(p)


def clear_cache() -> None:
    """Empty the in-process photo cache."""
    with _LOCK:
        _CACHE.clear()


def downscale_area(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Area-average ``(H, W, C)`` to ``(out_h, out_w, C)`` (``cv2.INTER_AREA``), float32 out."""
    import cv2

    src = image.astype(np.float32, copy=False)
    if src.shape[:2] == (out_h, out_w):
        return src.copy()
    return cv2.resize(src, (out_w, out_h), interpolation=cv2.INTER_AREA)


def validation_factor(height: int, width: int) -> float:
    """The fixed downscale factor of a validation photo of ``height × width`` (full resolution)."""
    lo, hi = SCALE_RANGE
    return float(min(max(max(height, width) / VALIDATION_LONG_SIDE, lo), hi))


def load_validation_photo(path: str | Path, *, linear: bool = True) -> np.ndarray:
    """A validation photo at its fixed factor: float32 ``(h, w, 3)``, linear sRGB (default) or
    sRGB-encoded (``linear=False``).

    ``h, w = floor(H / s), floor(W / s)`` with ``s = validation_factor(H, W)``; the same array
    every call.
    """
    half = _half_mean(path)
    h2, w2 = half.shape[:2]
    s = validation_factor(2 * h2, 2 * w2)
    out = downscale_area(half, int(2 * h2 // s), int(2 * w2 // s))
    return out if linear else encode_linear_srgb(out)


def random_patch(
    path: str | Path,
    size: int | tuple[int, int],
    rng: np.random.Generator,
    scale_range: tuple[float, float] = SCALE_RANGE,
) -> tuple[np.ndarray, float]:
    """A random patch of a photo downscaled by a random factor: ``((h, w, 3) float32 linear sRGB,
    factor)``.

    The factor ``s ~ U(scale_range)``; the patch covers ``≈ s·h × s·w`` full-resolution pixels at a
    uniformly random place (1-px granularity of the 2× grid) and is area-averaged to ``h × w``.
    Photos too small for the drawn factor use the largest factor that fits (at least 2).
    """
    h, w = (size, size) if isinstance(size, int) else size
    half = _half_mean(path)
    hh, hw = half.shape[:2]
    r = float(rng.uniform(*scale_range)) / 2.0  # factor left after the cached 2× box means
    r = min(r, hh / h, hw / w)
    if r < 1.0:
        raise ValueError(f"{Path(path).name} is too small for a {h}×{w} patch at 2×")
    ch, cw = min(hh, max(h, round(h * r))), min(hw, max(w, round(w * r)))
    y0 = int(rng.integers(0, hh - ch + 1))
    x0 = int(rng.integers(0, hw - cw + 1))
    patch = downscale_area(half[y0 : y0 + ch, x0 : x0 + cw], h, w)
    return patch, 2.0 * math.sqrt((ch / h) * (cw / w))
