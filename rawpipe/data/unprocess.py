"""Unprocessing: sRGB photos → clean linear camera RGB, with the metadata to process them back.

After Brooks, Mildenhall, Xue, Chen, Sharlet and Barron, "Unprocessing Images for Learned Raw
Denoising", CVPR 2019. Each step inverts one step of a camera's rendering, in reverse order:

1. inverse tone curve (the smoothstep's inverse, ``rawpipe.color.inverse_tone_curve``);
2. sRGB gamma expansion — the exact IEC 61966-2-1 curve, not Brooks' ``x^2.2``;
3. inverse colour matrix: linear sRGB → camera RGB with ``rgb_to_cam = normalise_rows(xyz_to_cam @
   SRGB_TO_XYZ_D65)``, ``xyz_to_cam`` a random convex combination of real cameras' matrices;
4. inverse white balance and brightness: divide by the white-balance gains (red ~ U(1.9, 2.4),
   green 1, blue ~ U(1.5, 1.9)) and by the brightness ``1/N(0.8, 0.1)``, with Brooks' highlight
   protection: where the mean of the three channels exceeds 0.9 the divisor fades to 1 (``mask =
   ((gray − 0.9)/0.1)²``, gain ``max(mask + (1 − mask)·g, g)``), so bright, near-white regions stay
   saturated instead of turning into dim, coloured clipping;
5. clip to the sensor range [0, 1], then the exposure factor (1, or < 1 for a dark scene).

:func:`unprocess_linear` starts at step 3 from linear sRGB (the data pipeline linearises whole
photos once, by table, and downscales in linear light: :mod:`rawpipe.data.photos`).
:func:`process_meta` runs the steps forwards (exposure and brightness undone, white balance, colour
matrix, sRGB curve, tone curve) and returns the input photo exactly wherever step 4's protection
and step 5's clipping did not act.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rawpipe._check import check_shape

__all__ = [
    "DEFAULT_UNPROCESS",
    "UnprocessConfig",
    "UnprocessMeta",
    "default_camera_matrices",
    "inverse_gains_protected",
    "process_meta",
    "sample_unprocess_meta",
    "unprocess",
    "unprocess_linear",
]


def default_camera_matrices() -> tuple[np.ndarray, ...]:
    """XYZ → camera matrices mixed by default: :data:`rawpipe.color.XYZ_TO_CAMERA` (7 named
    cameras) and the 4 of Brooks et al. 2019."""
    from rawpipe.color import BROOKS2019_XYZ_TO_CAMERA, XYZ_TO_CAMERA

    return (*XYZ_TO_CAMERA.values(), *BROOKS2019_XYZ_TO_CAMERA)


@dataclass(frozen=True)
class UnprocessConfig:
    """Ranges of the random unprocessing parameters (defaults: Brooks et al. 2019)."""

    red_gain: tuple[float, float] = (1.9, 2.4)
    """White-balance gain of red, drawn uniformly."""
    blue_gain: tuple[float, float] = (1.5, 1.9)
    """White-balance gain of blue, drawn uniformly."""
    brightness_mean: float = 0.8
    brightness_std: float = 0.1
    """The image is divided by ``brightness = 1/N(mean, std)``, i.e. multiplied by N(0.8, 0.1)."""
    brightness_clip: tuple[float, float] = (0.5, 1.1)
    """The normal draw is clipped to this range (3σ) so that it can never be ≤ 0."""
    highlight_inflection: float = 0.9
    """Mean channel level where highlight protection starts."""
    cameras: Sequence[Any] | None = None
    """XYZ → camera matrices to mix; ``None``: :func:`default_camera_matrices`."""


DEFAULT_UNPROCESS = UnprocessConfig()


@dataclass(frozen=True)
class UnprocessMeta:
    """What :func:`unprocess` drew: enough to render the linear image back to the photo.

    Tensors with the leading batch dimensions ``*`` of the image (none for one image):

    - ``wb_gains`` ``(*, 3)`` float32: R, G, B white-balance multipliers (G = 1) — what a camera
      would record as ``1/AsShotNeutral``;
    - ``xyz_to_camera`` ``(*, 3, 3)`` float64: the mixed camera matrix (a DNG ColorMatrix);
    - ``cam_to_srgb`` ``(*, 3, 3)`` float64: white-balanced camera RGB → linear sRGB, the exact
      inverse of the matrix used in unprocessing (= ``camera_to_srgb_matrix(xyz_to_camera)``);
    - ``brightness`` ``(*)`` float32: the digital gain the rendering applied (Brooks' ``rgb_gain``);
    - ``exposure`` ``(*)`` float32: the exposure factor (1, or < 1 for a dark scene).
    """

    wb_gains: Tensor
    xyz_to_camera: Tensor
    cam_to_srgb: Tensor
    brightness: Tensor
    exposure: Tensor = field(default_factory=lambda: torch.tensor(1.0))

    @property
    def batch_shape(self) -> torch.Size:
        return self.wb_gains.shape[:-1]

    def __getitem__(self, index: Any) -> UnprocessMeta:
        """Index the batch dimensions (``meta[i]``)."""
        return UnprocessMeta(
            wb_gains=self.wb_gains[index],
            xyz_to_camera=self.xyz_to_camera[index],
            cam_to_srgb=self.cam_to_srgb[index],
            brightness=self.brightness.expand(self.batch_shape)[index],
            exposure=self.exposure.expand(self.batch_shape)[index],
        )

    def with_exposure(self, exposure: float | Tensor) -> UnprocessMeta:
        """The same metadata with another exposure factor."""
        e = torch.as_tensor(exposure, dtype=torch.float32)
        return replace(self, exposure=e.expand(self.batch_shape).clone())

    @staticmethod
    def stack(metas: Sequence[UnprocessMeta]) -> UnprocessMeta:
        """Stack single-image metadata into a batch ``(N, ...)``."""
        return UnprocessMeta(
            wb_gains=torch.stack([m.wb_gains for m in metas]),
            xyz_to_camera=torch.stack([m.xyz_to_camera for m in metas]),
            cam_to_srgb=torch.stack([m.cam_to_srgb for m in metas]),
            brightness=torch.stack([m.brightness.reshape(()) for m in metas]),
            exposure=torch.stack([m.exposure.reshape(()) for m in metas]),
        )


def _generator(rng: torch.Generator | int | None) -> torch.Generator:
    if isinstance(rng, torch.Generator):
        return rng
    g = torch.Generator()
    if rng is None:
        g.seed()
    else:
        g.manual_seed(int(rng))
    return g


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))


def sample_unprocess_meta(
    rng: torch.Generator | int | None = None,
    config: UnprocessConfig = DEFAULT_UNPROCESS,
    *,
    exposure: float = 1.0,
) -> UnprocessMeta:
    """Draw one image's unprocessing parameters (Brooks et al. 2019 ranges, see
    :class:`UnprocessConfig`)."""
    from rawpipe.color import camera_to_srgb_matrix, random_xyz_to_camera

    g = _generator(rng)
    cams = config.cameras if config.cameras is not None else default_camera_matrices()
    xyz_to_cam = random_xyz_to_camera(g, list(cams))
    red = _uniform(g, *config.red_gain)
    blue = _uniform(g, *config.blue_gain)
    n = float(torch.randn((), generator=g, dtype=torch.float64))
    n = config.brightness_mean + config.brightness_std * n
    n = min(max(n, config.brightness_clip[0]), config.brightness_clip[1])
    return UnprocessMeta(
        wb_gains=torch.tensor([red, 1.0, blue], dtype=torch.float32),
        xyz_to_camera=xyz_to_cam.to(torch.float64),
        cam_to_srgb=camera_to_srgb_matrix(xyz_to_cam.to(torch.float64)),
        brightness=torch.tensor(1.0 / n, dtype=torch.float32),
        exposure=torch.tensor(float(exposure), dtype=torch.float32),
    )


def inverse_gains_protected(x: Tensor, inverse_gains: Tensor, inflection: float = 0.9) -> Tensor:
    """Multiply ``x (*, 3, H, W)`` by ``inverse_gains (*, 3)``, fading them to 1 in highlights.

    Brooks et al. 2019: ``mask = (max(gray − inflection, 0)/(1 − inflection))²`` with ``gray`` the
    channel mean; gain ``max(mask + (1 − mask)·g, g)`` — only gains below 1 are faded.
    """
    g = inverse_gains.to(x.dtype)[..., :, None, None]
    gray = x.mean(dim=-3, keepdim=True)
    mask = (torch.clamp(gray - inflection, min=0.0) / (1.0 - inflection)).clamp(max=1.0) ** 2
    safe = torch.maximum(mask + (1.0 - mask) * g, g)
    return x * safe


def unprocess(
    srgb: Tensor,
    rng: torch.Generator | int | None = None,
    *,
    meta: UnprocessMeta | None = None,
    config: UnprocessConfig = DEFAULT_UNPROCESS,
    exposure: float | None = None,
) -> tuple[Tensor, UnprocessMeta]:
    """sRGB photo → clean linear camera RGB in [0, exposure] (Brooks et al. 2019; module docstring).

    Args:
        srgb: ``(3, H, W)`` sRGB-encoded float in [0, 1] (or ``(N, 3, H, W)`` with a batched
            ``meta``).
        rng: ``torch.Generator`` or seed for :func:`sample_unprocess_meta` (unused with ``meta``).
        meta: use these parameters instead of drawing them.
        config: parameter ranges.
        exposure: overrides ``meta.exposure`` (default 1 when drawing).

    Returns:
        ``(linear, meta)``: ``linear`` float32 like ``srgb``, camera RGB *without* white balance,
        normalised so that the sensor's white is 1, clipped to [0, 1] before the exposure factor.
    """
    check_shape(srgb, ["*", "3", "H", "W"], "srgb")
    from rawpipe.color import inverse_tone_curve, srgb_gamma_expansion

    x = srgb_gamma_expansion(inverse_tone_curve(srgb.to(torch.float32)))
    return unprocess_linear(x, rng, meta=meta, config=config, exposure=exposure)


def unprocess_linear(
    linear_srgb: Tensor,
    rng: torch.Generator | int | None = None,
    *,
    meta: UnprocessMeta | None = None,
    config: UnprocessConfig = DEFAULT_UNPROCESS,
    exposure: float | None = None,
) -> tuple[Tensor, UnprocessMeta]:
    """:func:`unprocess` from linear sRGB (after the inverse tone curve and gamma expansion):
    inverse colour matrix, inverse white balance and brightness with highlight protection, clip,
    exposure. Same arguments and result as :func:`unprocess`."""
    check_shape(linear_srgb, ["*", "3", "H", "W"], "linear_srgb")
    from rawpipe.color import apply_color_matrix, srgb_to_camera_matrix

    if meta is None:
        meta = sample_unprocess_meta(rng, config, exposure=1.0 if exposure is None else exposure)
    elif exposure is not None:
        meta = meta.with_exposure(exposure)
    x = apply_color_matrix(linear_srgb.to(torch.float32), srgb_to_camera_matrix(meta.xyz_to_camera))
    inverse = 1.0 / (meta.wb_gains.to(torch.float64) * meta.brightness.to(torch.float64)[..., None])
    x = inverse_gains_protected(x, inverse.to(torch.float32), config.highlight_inflection)
    x = torch.clamp(x, 0.0, 1.0)
    x = x * meta.exposure.to(x.dtype)[..., None, None, None]
    return x, meta


def process_meta(
    linear: Tensor, meta: UnprocessMeta, *, tone: bool = True, clip: bool = True
) -> Tensor:
    """The forward rendering of :func:`unprocess`: linear camera RGB → sRGB-encoded float.

    ``linear / exposure · brightness`` → white balance → ``cam_to_srgb`` → (clip to [0, 1]) →
    sRGB curve → tone curve (``rawpipe.color.process``). ``process_meta(*unprocess(x))`` returns
    ``x`` where highlight protection and clipping did not act.
    """
    from rawpipe.color import process

    check_shape(linear, ["*", "3", "H", "W"], "linear")
    scale = (meta.brightness / meta.exposure).to(linear.dtype)[..., None, None, None]
    return process(linear * scale, meta.wb_gains, meta.cam_to_srgb, tone=tone, clip=clip)
