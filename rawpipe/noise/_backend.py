"""A tiny array namespace so one formula serves numpy and torch (same ops, same order).

The numpy and torch versions of every VST function run the identical sequence of elementwise
operations through these shims; that is what makes them agree to rounding (1e-9 relative in
float64, 1e-5 in float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rawpipe.noise.params import NoiseParams


def is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


class _Numpy:
    name = "numpy"

    @staticmethod
    def asarray(v: Any, like: Any) -> Any:
        return np.asarray(v, dtype=like.dtype)

    @staticmethod
    def float_input(x: Any) -> Any:
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
        return x

    sqrt = staticmethod(np.sqrt)
    floor = staticmethod(np.floor)
    log1p = staticmethod(np.log1p)
    abs = staticmethod(np.abs)
    where = staticmethod(np.where)

    @staticmethod
    def clip(x: Any, lo: Any, hi: Any) -> Any:
        return np.clip(x, lo, hi)

    @staticmethod
    def maximum(x: Any, v: float) -> Any:
        return np.maximum(x, np.asarray(v, dtype=np.asarray(x).dtype))

    @staticmethod
    def minimum(x: Any, v: float) -> Any:
        return np.minimum(x, np.asarray(v, dtype=np.asarray(x).dtype))

    @staticmethod
    def table(t: np.ndarray, like: Any) -> Any:
        return t.reshape(-1).astype(like.dtype, copy=False)

    @staticmethod
    def gather(flat: Any, idx: Any) -> Any:
        # A NaN input gives a NaN index: read cell 0 (the NaN interpolation weight keeps the result
        # NaN) instead of casting NaN to an out-of-range integer (fuzz finding F4).
        return flat[np.nan_to_num(idx, nan=0.0).astype(np.int64)]

    @staticmethod
    def index(idx: Any) -> Any:
        """Float indices (already in range, or NaN) → integer indices for :meth:`take`."""
        return np.nan_to_num(idx, nan=0.0).astype(np.intp)

    @staticmethod
    def take(flat: Any, index: Any) -> Any:
        return np.take(flat, index)


class _Torch:
    name = "torch"

    @staticmethod
    def asarray(v: Any, like: Any) -> Any:
        import torch

        return torch.as_tensor(v, dtype=like.dtype, device=like.device)

    @staticmethod
    def float_input(x: Any) -> Any:
        return x if x.is_floating_point() else x.double()

    @staticmethod
    def sqrt(x: Any) -> Any:
        import torch

        return torch.sqrt(x)

    @staticmethod
    def floor(x: Any) -> Any:
        import torch

        return torch.floor(x)

    @staticmethod
    def log1p(x: Any) -> Any:
        import torch

        return torch.log1p(x)

    @staticmethod
    def abs(x: Any) -> Any:
        import torch

        return torch.abs(x)

    @staticmethod
    def where(c: Any, a: Any, b: Any) -> Any:
        import torch

        return torch.where(c, a, b)

    @staticmethod
    def clip(x: Any, lo: Any, hi: Any) -> Any:
        import torch

        return torch.clamp(x, lo, hi)

    @staticmethod
    def maximum(x: Any, v: float) -> Any:
        import torch

        return torch.clamp(x, min=v) if not isinstance(v, torch.Tensor) else torch.maximum(x, v)

    @staticmethod
    def minimum(x: Any, v: float) -> Any:
        import torch

        return torch.clamp(x, max=v) if not isinstance(v, torch.Tensor) else torch.minimum(x, v)

    _tables: dict[tuple[int, Any, Any], Any] = {}  # noqa: RUF012  (per-process cache)

    def table(self, t: np.ndarray, like: Any) -> Any:
        import torch

        key = (id(t), like.dtype, like.device)
        hit = self._tables.get(key)
        if hit is None or hit[0] is not t:
            tensor = torch.tensor(t.reshape(-1), dtype=like.dtype, device=like.device)
            self._tables[key] = hit = (t, tensor)
        return hit[1]

    @staticmethod
    def gather(flat: Any, idx: Any) -> Any:
        import torch

        return flat[torch.nan_to_num(idx, nan=0.0).long()]  # NaN index: see _Numpy.gather

    @staticmethod
    def index(idx: Any) -> Any:
        import torch

        return torch.nan_to_num(idx, nan=0.0).long()

    @staticmethod
    def take(flat: Any, index: Any) -> Any:
        return flat.take(index)


NUMPY = _Numpy()
TORCH = _Torch()


def backend(x: Any) -> Any:
    return TORCH if is_torch(x) else NUMPY


def coerce_params(params: Any, x: Any, xp: Any) -> tuple[Any, Any]:
    """``(a, b)`` in ``x``'s backend/dtype, broadcastable to ``x``.

    Per-channel ``NoiseParams`` need packed data: ``x.shape[-3] == 4``.
    """
    if isinstance(params, NoiseParams):
        if params.per_channel and (x.ndim < 3 or x.shape[-3] != 4):
            raise ValueError(
                "per-channel NoiseParams need packed RGGB data (*, 4, H/2, W/2); "
                f"got shape {tuple(x.shape)}"
            )
        a, b = params.as_numpy(np.float64)
    else:
        try:
            a, b = params
        except (TypeError, ValueError) as e:
            raise TypeError("params: NoiseParams or a pair (shot, read)") from e
    return xp.asarray(a, x), xp.asarray(b, x)
