"""Synthetic raw captures: clean linear camera RGB → noisy, quantised RGGB mosaic and clean target.

:func:`make_raw` simulates the sensor for one image (Brooks et al., CVPR 2019, with the
quantisation and clipping of a real ADC added):

1. **CFA phase.** The simulated sensor has Bayer pattern ``P`` over the source image; the sample
   is then normalised to RGGB, which the network always sees. Normalising by *cropping* (not
   padding) means: start at ``P``'s red site ``(dy, dx)``, i.e. a random phase is a shift of the
   source image by 0 or 1 pixel in y and x before an RGGB mosaic is taken. Every source pixel
   position thus gets sampled in every colour over the data set.
2. **Exposure.** ``dark_scale`` multiplies the linear image (< 1 for dark scenes). The clean
   target is this image clipped to the sensor range [0, 1].
3. **Noise.** ``z = a·Poisson(x/a) + N(0, b)`` per RGGB channel
   (``rawpipe.noise.sampling.add_poisson_gaussian_noise``).
4. **ADC.** ``DN = round(z·(white − black)) + black`` clipped to ``[0, white]`` with
   ``white = 2^bits − 1``; the mosaic is given back normalised, ``(DN − black)/(white − black)``:
   values below the black level stay negative (down to ``−black/(white − black)``), values at
   the white level are 1.

The noise parameters returned with a sample are those the network's VST should use: ``a`` as
drawn and ``b + Δ²/12`` with ``Δ = 1/(white − black)`` the normalised ADC step (the rounding's
variance).

The sampling helpers draw the sensor (bit depth, black level), the exposure (a share of dark
scenes) and the noise level for training; their ranges are the fields of :class:`SensorConfig`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rawpipe._check import check_shape

__all__ = [
    "DEFAULT_SENSOR",
    "RawSample",
    "SensorConfig",
    "make_raw",
    "mosaic_rggb",
    "quantize",
    "random_cfa_pattern",
    "sample_dark_scale",
    "sample_noise",
    "sample_sensor",
]

_PATTERNS = ("RGGB", "GRBG", "GBRG", "BGGR")


@dataclass(frozen=True)
class SensorConfig:
    """Ranges of the simulated sensors, exposures and noise levels for training."""

    bits: tuple[int, ...] = (10, 11, 12)
    """ADC bit depths, drawn uniformly; white level ``2^bits − 1``."""
    black_zero_share: float = 0.2
    """Share of sensors with black level 0 (e.g. Nikon): negative noise is clipped at 0 there."""
    black_fraction: tuple[float, float] = (1 / 32, 1 / 8)
    """Otherwise the black level is ``round(U(range)·2^bits)`` DN (64 of 1024 is 1/16)."""
    dark_share: float = 0.25
    """Share of dark scenes: the exposure is multiplied by a log-uniform factor in
    :attr:`dark_range` (4–16× darker)."""
    dark_range: tuple[float, float] = (1 / 16, 1 / 4)
    noise_source: str = "mixed"
    """``rawpipe.noise.sampling.sample_noise_params`` source for most samples: ``"mixed"`` draws
    ``a`` log-uniformly over the phone range 5e-5..1.2e-2 and ``b`` around the Brooks et al.
    relation widened up to PMRID's phone levels."""
    profile_share: float = 0.2
    """Share of samples drawn from the packaged calibration profiles (``source="profiles"``);
    falls back to :attr:`noise_source` while no profile is packaged."""
    noise_method: str = "poisson"
    """``"poisson"`` (exact shot noise) or ``"gaussian"`` (faster, wrong at a few counts)."""


DEFAULT_SENSOR = SensorConfig()


@dataclass(frozen=True)
class RawSample:
    """One simulated capture, normalised to RGGB.

    - ``mosaic`` ``(1, h, w)`` float32: noisy, quantised, normalised ``(DN − black)/(white −
      black)`` (negatives kept, clipped at ``−black/(white − black)`` and 1);
    - ``target`` ``(3, h, w)`` float32: the clean linear camera RGB in [0, 1], aligned with it;
    - ``shot``, ``read`` ``(4,)`` float32: ``a`` and ``b + Δ²/12`` per RGGB channel (R, G1, G2, B);
    - ``pattern``: the simulated sensor's Bayer pattern (over the source image);
    - ``bits``, ``black_level``, ``white_level``: the ADC, in DN; ``dark_scale`` the exposure.
    """

    mosaic: Tensor
    target: Tensor
    shot: Tensor
    read: Tensor
    pattern: str
    bits: int
    black_level: int
    white_level: int
    dark_scale: float

    def noise_params(self) -> Any:
        """The sample's ``NoiseParams`` (quantisation included); ``None`` when ``a = 0``."""
        from rawpipe.noise.params import NoiseParams

        if float(self.shot.min()) <= 0:
            return None
        return NoiseParams(tuple(self.shot.tolist()), tuple(self.read.tolist()))


def random_cfa_pattern(rng: torch.Generator) -> str:
    """One of the four Bayer patterns, uniformly."""
    return _PATTERNS[int(torch.randint(4, (), generator=rng))]


def mosaic_rggb(rgb: Tensor) -> Tensor:
    """Sample an RGGB mosaic ``(*, 1, H, W)`` from ``(*, 3, H, W)`` (``H``, ``W`` even)."""
    check_shape(rgb, ["*", "3", "H", "W"], "rgb")
    from rawpipe.raw.cfa import unpack_rggb

    return unpack_rggb(_packed_rggb(rgb))


def _packed_rggb(rgb: Tensor) -> Tensor:
    return torch.stack(
        (
            rgb[..., 0, 0::2, 0::2],
            rgb[..., 1, 0::2, 1::2],
            rgb[..., 1, 1::2, 0::2],
            rgb[..., 2, 1::2, 1::2],
        ),
        dim=-3,
    )


def quantize(z: Tensor, *, bits: int, black_level: int) -> Tensor:
    """The ADC on normalised values: ``round(z·(white − black))`` DN above black, clipped to
    ``[0, white]`` DN, returned normalised (``white = 2^bits − 1``)."""
    white = (1 << bits) - 1
    span = float(white - black_level)
    dn = torch.clamp(torch.round(z * span), -float(black_level), span)
    return dn / span


def make_raw(
    linear_cam: Tensor,
    rng: torch.Generator,
    noise: Any,
    *,
    cfa_phase: str | Any | None = None,
    bits: int = 10,
    black_level: int = 64,
    dark_scale: float = 1.0,
    method: str = "poisson",
) -> RawSample:
    """Simulate one raw capture of ``linear_cam`` (see the module docstring for the steps).

    Args:
        linear_cam: ``(3, H, W)`` clean linear camera RGB (no white balance), 1 = sensor white.
        rng: ``torch.Generator`` for the phase (when random) and the noise.
        noise: ``rawpipe.noise.params.NoiseParams`` (scalar or per RGGB channel), or ``None`` for
            a noise-free capture (still quantised; ``shot`` is then 0).
        cfa_phase: the sensor's Bayer pattern over the source (``"GBRG"``, a ``CFAPattern``), or
            ``None`` for a random one. The output is RGGB starting at that pattern's red site:
            it covers ``linear_cam[:, dy:dy+h, dx:dx+w]`` with ``(dy, dx)`` the red offset and
            ``h, w`` the largest even sizes that fit.
        bits: ADC bit depth (white level ``2^bits − 1``).
        black_level: black level in DN.
        dark_scale: exposure factor applied to ``linear_cam`` first.
        method: ``"poisson"`` or ``"gaussian"`` (see ``add_poisson_gaussian_noise``).

    Returns:
        :class:`RawSample`.
    """
    check_shape(linear_cam, ["3", "H", "W"], "linear_cam")
    from rawpipe.raw.cfa import CFAPattern, unpack_rggb

    white = (1 << int(bits)) - 1
    if not 0 <= black_level < white:
        raise ValueError(f"black level {black_level} outside [0, {white})")
    pattern = CFAPattern.from_string(random_cfa_pattern(rng) if cfa_phase is None else cfa_phase)
    dy, dx = pattern.red_offset
    h = (linear_cam.shape[-2] - dy) // 2 * 2
    w = (linear_cam.shape[-1] - dx) // 2 * 2
    if h < 2 or w < 2:
        raise ValueError(f"image {list(linear_cam.shape)} too small for a 2×2 Bayer tile")
    img = linear_cam[:, dy : dy + h, dx : dx + w].to(torch.float32)
    target = torch.clamp(img * float(dark_scale), 0.0, 1.0)
    packed = _packed_rggb(target)
    span = float(white - black_level)
    q_var = 1.0 / (12.0 * span * span)
    if noise is None:
        z = packed
        shot = torch.zeros(4, dtype=torch.float32)
        read = torch.full((4,), q_var, dtype=torch.float32)
    else:
        from rawpipe.noise.sampling import add_poisson_gaussian_noise

        z = add_poisson_gaussian_noise(packed, noise, rng, clip=False, method=method)
        shot = torch.tensor(noise.shot4(), dtype=torch.float32)
        read = torch.tensor(noise.read4(), dtype=torch.float64) + q_var
        read = read.to(torch.float32)
    mosaic = unpack_rggb(quantize(z, bits=int(bits), black_level=int(black_level)))
    return RawSample(
        mosaic=mosaic.to(torch.float32),
        target=target,
        shot=shot,
        read=read,
        pattern=pattern.value,
        bits=int(bits),
        black_level=int(black_level),
        white_level=white,
        dark_scale=float(dark_scale),
    )


def _rand(g: torch.Generator) -> float:
    return float(torch.rand((), generator=g, dtype=torch.float64))


def sample_sensor(rng: torch.Generator, config: SensorConfig = DEFAULT_SENSOR) -> tuple[int, int]:
    """Draw ``(bits, black_level)`` of a simulated sensor."""
    bits = config.bits[int(torch.randint(len(config.bits), (), generator=rng))]
    u, v = _rand(rng), _rand(rng)
    if u < config.black_zero_share:
        return bits, 0
    lo, hi = config.black_fraction
    return bits, round((lo + (hi - lo) * v) * (1 << bits))


def sample_dark_scale(rng: torch.Generator, config: SensorConfig = DEFAULT_SENSOR) -> float:
    """1, or with probability ``dark_share`` a log-uniform factor in ``dark_range``."""
    u, v = _rand(rng), _rand(rng)
    if u >= config.dark_share:
        return 1.0
    lo, hi = (math.log(x) for x in config.dark_range)
    return math.exp(lo + (hi - lo) * v)


@functools.lru_cache(maxsize=1)
def _packaged_profiles() -> tuple[str, ...]:
    from rawpipe.noise.profiles import list_profiles

    return tuple(list_profiles())


def sample_noise(rng: torch.Generator, config: SensorConfig = DEFAULT_SENSOR) -> Any:
    """Draw training ``NoiseParams``: from the calibration profiles with probability
    ``profile_share`` (when any are packaged), otherwise from ``config.noise_source``."""
    from rawpipe.noise.sampling import sample_noise_params

    u = _rand(rng)
    source = config.noise_source
    if u < config.profile_share and _packaged_profiles():
        source = "profiles"
    return sample_noise_params(rng, source=source)  # type: ignore[arg-type]
