"""Small conversions shared by the colour ops: numpy in → numpy out, torch is the primary form."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["as_tensor", "gains_view", "like_input", "param_like"]


def _writable(a: np.ndarray) -> np.ndarray:
    # torch warns on read-only arrays (our constants are read-only); copy those.
    return a if a.flags.writeable else a.copy()


def as_tensor(x: Any) -> tuple[Tensor, bool]:
    """Return ``(tensor, was_numpy)``; integer and bool inputs become float32."""
    if isinstance(x, Tensor):
        t = x
        was_numpy = False
    else:
        t = torch.as_tensor(_writable(np.asarray(x)))
        was_numpy = True
    if not t.is_floating_point():
        t = t.to(torch.float32)
    return t, was_numpy


def like_input(y: Tensor, was_numpy: bool) -> Any:
    """Undo :func:`as_tensor`: a numpy array when the input was one."""
    return y.detach().cpu().numpy() if was_numpy else y


def param_like(p: Any, ref: Tensor) -> Tensor:
    """A parameter (gains, matrix) as a tensor with ``ref``'s dtype and device (keeps autograd)."""
    if isinstance(p, Tensor):
        return p.to(dtype=ref.dtype, device=ref.device)
    a = _writable(np.asarray(p, dtype=np.float64))
    return torch.as_tensor(a, dtype=ref.dtype, device=ref.device)


def gains_view(gains: Tensor) -> Tensor:
    """Gains ``(3,)`` or ``(*, 3)`` → ``(*, 3, 1, 1)``, to broadcast over ``(*, 3, H, W)``."""
    if gains.dim() == 0 or gains.shape[-1] != 3:
        raise ValueError(f"gains: expected shape (3,) or (*, 3), got {list(gains.shape)}")
    return gains[..., :, None, None]
