"""Transfer and tone curves, each with its inverse, and the processing recipe built from them.

All functions are differentiable torch ops on any shape (numpy in → numpy out), defined on the
whole real line, so noisy values below 0 and highlights above 1 pass through invertibly and
gradients do not vanish there:

- sRGB transfer (IEC 61966-2-1): odd-symmetric (``f(-x) = -f(x)``) and the power segment continued
  above 1.
- Tone curve (the smoothstep of Brooks et al., CVPR 2019): identity outside [0, 1].

``process`` is the forward camera pipeline after demosaicing (white balance → colour matrix → clip →
sRGB curve → tone curve); ``deprocess`` undoes it exactly for the unclipped path.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from rawpipe._check import check_shape
from rawpipe.color._tensor import as_tensor, like_input
from rawpipe.color.matrix import apply_color_matrix, invert_color_matrix
from rawpipe.color.white_balance import apply_white_balance, invert_white_balance

__all__ = [
    "SRGB_ENCODED_BREAK",
    "SRGB_LINEAR_BREAK",
    "deprocess",
    "inverse_tone_curve",
    "process",
    "srgb_gamma_compression",
    "srgb_gamma_expansion",
    "tone_curve",
]

SRGB_LINEAR_BREAK = 0.0031308
"""Linear value where the sRGB curve switches from the 12.92 slope to the power segment."""
SRGB_ENCODED_BREAK = 12.92 * SRGB_LINEAR_BREAK
"""The encoded value of :data:`SRGB_LINEAR_BREAK` on the linear segment (0.040449936; the standard
rounds it to 0.04045). The two segments meet to within 3e-8 there."""


def _compress_pos(t: Tensor) -> Tensor:
    # The power branch sees a clamped argument so that neither branch produces inf/NaN gradients.
    power = 1.055 * torch.clamp(t, min=SRGB_LINEAR_BREAK) ** (1.0 / 2.4) - 0.055
    return torch.where(t <= SRGB_LINEAR_BREAK, 12.92 * t, power)


def _expand_pos(t: Tensor) -> Tensor:
    power = ((torch.clamp(t, min=SRGB_ENCODED_BREAK) + 0.055) / 1.055) ** 2.4
    return torch.where(t <= SRGB_ENCODED_BREAK, t / 12.92, power)


def srgb_gamma_compression(x: Any) -> Any:
    """Linear → sRGB-encoded (the exact IEC 61966-2-1 curve, not a 2.2 power).

    ``12.92·x`` for ``0 ≤ x ≤ 0.0031308``, ``1.055·x^(1/2.4) − 0.055`` above (also above 1:
    no clamping), and ``−f(−x)`` for negative ``x``. Inverse: :func:`srgb_gamma_expansion`.

    >>> import torch
    >>> srgb_gamma_compression(torch.tensor([0.0, 0.18, 1.0, -0.18]))
    tensor([ 0.0000,  0.4614,  1.0000, -0.4614])
    """
    t, was_numpy = as_tensor(x)
    y = torch.where(t < 0, -_compress_pos(-t), _compress_pos(t))
    return like_input(y, was_numpy)


def srgb_gamma_expansion(y: Any) -> Any:
    """sRGB-encoded → linear; the inverse of :func:`srgb_gamma_compression` on the whole real line.

    ``y/12.92`` for ``0 ≤ y ≤ 12.92·0.0031308``, ``((y + 0.055)/1.055)^2.4`` above, odd-symmetric.
    """
    t, was_numpy = as_tensor(y)
    x = torch.where(t < 0, -_expand_pos(-t), _expand_pos(t))
    return like_input(x, was_numpy)


def tone_curve(x: Any) -> Any:
    """Global tone curve: the smoothstep ``3x² − 2x³`` on [0, 1], the identity outside.

    The continuation keeps the curve continuous, strictly increasing and hence invertible on the
    whole real line (its slope is 0 at x = 0 and 1 from inside, 1 from outside). Brooks et al. 2019
    fit this curve to camera renderings. Inverse: :func:`inverse_tone_curve`.

    >>> import torch
    >>> tone_curve(torch.tensor([-0.5, 0.0, 0.25, 0.5, 1.0, 2.0]))
    tensor([-0.5000,  0.0000,  0.1562,  0.5000,  1.0000,  2.0000])
    """
    t, was_numpy = as_tensor(x)
    inside = (t >= 0) & (t <= 1)
    smooth = t * t * (3.0 - 2.0 * t)
    return like_input(torch.where(inside, smooth, t), was_numpy)


def _inverse_smoothstep_lower(y: Tensor) -> Tensor:
    """Inverse of the smoothstep for ``0 < y ≤ 1/2``, written to stay accurate near 0.

    The textbook form ``1/2 − sin(asin(1 − 2y)/3)`` loses precision as ``1 − 2y → 1``. With
    ``acos(1 − 2y) = 2·asin(√y)`` and ``u = (2/3)·asin(√y)`` it equals ``sin²(u/2) + (√3/2)·sin u``.
    """
    u = (2.0 / 3.0) * torch.asin(torch.sqrt(y))
    return torch.sin(0.5 * u) ** 2 + (math.sqrt(3.0) / 2.0) * torch.sin(u)


def inverse_tone_curve(y: Any) -> Any:
    """Inverse of :func:`tone_curve`: ``1/2 − sin(asin(1 − 2y)/3)`` on [0, 1], identity outside.

    Evaluated in a form that is accurate near both ends (see ``_inverse_smoothstep_lower``; the
    upper half uses ``g(y) = 1 − g(1 − y)``). The slope is infinite at y = 0 and y = 1 from inside
    (the curve's is 0 there); gradients are finite everywhere else and equal 1 outside [0, 1] and at
    exactly 0 and 1.
    """
    t, was_numpy = as_tensor(y)
    lower = (t > 0) & (t <= 0.5)
    upper = (t > 0.5) & (t < 1)
    # Feed each branch a safe argument so that unselected branches cannot make NaN gradients.
    safe_lower = torch.where(lower, t, torch.full_like(t, 0.25))
    safe_upper = torch.where(upper, 1.0 - t, torch.full_like(t, 0.25))
    x = torch.where(lower, _inverse_smoothstep_lower(safe_lower), t)
    x = torch.where(upper, 1.0 - _inverse_smoothstep_lower(safe_upper), x)
    return like_input(x, was_numpy)


def process(
    linear_cam: Any,
    wb_gains: Any,
    cam_to_srgb: Any,
    *,
    tone: bool = False,
    clip: bool = True,
) -> Any:
    """Linear camera RGB → sRGB-encoded float: white balance → colour matrix → clip → sRGB curve →
    tone curve (the order of Brooks et al.'s ``process``).

    Args:
        linear_cam: ``(*, 3, H, W)`` demosaiced camera RGB, black level removed, normalised to the
            white level, *without* white balance.
        wb_gains: ``(3,)`` or ``(*, 3)`` R, G, B multipliers.
        cam_to_srgb: ``(3, 3)`` or ``(*, 3, 3)``, e.g. from
            :func:`rawpipe.color.matrix.camera_to_srgb_matrix`.
        tone: apply :func:`tone_curve` after the sRGB curve.
        clip: clip linear sRGB to [0, 1] before the curves (what a display rendering wants). With
            ``clip=False`` the result is unbounded, exactly invertible by :func:`deprocess`, and its
            gradients never vanish — use that for losses.

    Returns:
        ``(*, 3, H, W)`` sRGB-encoded float (quantise it yourself).
    """
    t, was_numpy = as_tensor(linear_cam)
    check_shape(t, ["*", "3", "H", "W"], "linear_cam")
    x = apply_white_balance(t, wb_gains)
    x = apply_color_matrix(x, cam_to_srgb)
    if clip:
        x = torch.clamp(x, 0.0, 1.0)
    x = srgb_gamma_compression(x)
    if tone:
        x = tone_curve(x)
    return like_input(x, was_numpy)


def deprocess(
    srgb: Any,
    wb_gains: Any,
    cam_to_srgb: Any,
    *,
    tone: bool = False,
) -> Any:
    """Inverse of :func:`process` with ``clip=False`` (unprocessing, Brooks et al. 2019):
    inverse tone curve → sRGB expansion → inverse colour matrix → inverse white balance.

    Arguments are those given to :func:`process`; returns linear camera RGB ``(*, 3, H, W)``.
    """
    t, was_numpy = as_tensor(srgb)
    check_shape(t, ["*", "3", "H", "W"], "srgb")
    x = inverse_tone_curve(t) if tone else t
    x = srgb_gamma_expansion(x)
    x = invert_color_matrix(x, cam_to_srgb)
    x = invert_white_balance(x, wb_gains)
    return like_input(x, was_numpy)
