"""White balance: per-channel gains on RGB images and on RGGB mosaics, each with its inverse.

Gains are multipliers in the order (R, G, B), as in LibRaw's ``camera_whitebalance`` (normalised so
that G = 1 is usual, not required). In the camera pipeline white balance is applied to the mosaic
*before* demosaicing (as LibRaw does); unprocessing (Brooks et al., CVPR 2019) divides it out.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from rawpipe._check import check_shape
from rawpipe.color._tensor import as_tensor, gains_view, like_input, param_like

__all__ = [
    "apply_white_balance",
    "apply_white_balance_mosaic",
    "invert_white_balance",
    "invert_white_balance_mosaic",
    "mosaic_gain_map",
]


def apply_white_balance(x: Any, gains: Any) -> Any:
    """Multiply each colour channel by its gain.

    Args:
        x: image ``(*, 3, H, W)`` (tensor, or numpy array → numpy array).
        gains: ``(3,)`` for all images or ``(*, 3)`` per image, order R, G, B.

    Returns:
        ``x * gains`` with ``x``'s shape and dtype.

    >>> import torch
    >>> apply_white_balance(torch.ones(1, 3, 1, 1), torch.tensor([2.0, 1.0, 1.5])).flatten()
    tensor([2.0000, 1.0000, 1.5000])
    """
    t, was_numpy = as_tensor(x)
    check_shape(t, ["*", "3", "H", "W"], "x")
    g = gains_view(param_like(gains, t))
    return like_input(t * g, was_numpy)


def invert_white_balance(x: Any, gains: Any) -> Any:
    """Inverse of :func:`apply_white_balance`: divide each channel by its gain."""
    t, was_numpy = as_tensor(x)
    check_shape(t, ["*", "3", "H", "W"], "x")
    g = gains_view(param_like(gains, t))
    return like_input(t / g, was_numpy)


def mosaic_gain_map(gains: Tensor, height: int, width: int) -> Tensor:
    """Per-pixel gains of an RGGB mosaic: ``(3,)`` or ``(*, 3)`` → ``(*, 1, height, width)``.

    Site (even row, even col) is R, (odd, odd) is B, the other two are G; odd sizes are allowed.
    """
    if gains.dim() == 0 or gains.shape[-1] != 3:
        raise ValueError(f"gains: expected shape (3,) or (*, 3), got {list(gains.shape)}")
    lead = gains.shape[:-1]
    block = gains[..., [0, 1, 1, 2]].reshape(*lead, 1, 2, 2)
    reps = [1] * (block.dim() - 2) + [(height + 1) // 2, (width + 1) // 2]
    return block.repeat(*reps)[..., :height, :width]


def apply_white_balance_mosaic(mosaic: Any, gains: Any) -> Any:
    """Multiply each site of an RGGB mosaic ``(*, 1, H, W)`` by its colour's gain (R, G, B).

    >>> import torch
    >>> apply_white_balance_mosaic(torch.ones(1, 1, 2, 2), torch.tensor([2.0, 1.0, 4.0]))[0, 0]
    tensor([[2., 1.],
            [1., 4.]])
    """
    t, was_numpy = as_tensor(mosaic)
    check_shape(t, ["*", "1", "H", "W"], "mosaic")
    g = mosaic_gain_map(param_like(gains, t), t.shape[-2], t.shape[-1])
    return like_input(t * g, was_numpy)


def invert_white_balance_mosaic(mosaic: Any, gains: Any) -> Any:
    """Inverse of :func:`apply_white_balance_mosaic`: divide each site by its colour's gain."""
    t, was_numpy = as_tensor(mosaic)
    check_shape(t, ["*", "1", "H", "W"], "mosaic")
    g = mosaic_gain_map(param_like(gains, t), t.shape[-2], t.shape[-1])
    return like_input(t / g, was_numpy)
