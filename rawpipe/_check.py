"""One shape checker for tensors and arrays (kornia's KORNIA_CHECK_SHAPE, in spirit).

Layouts used across rawpipe: a mosaic is ``(*, 1, H, W)``, packed RGGB is ``(*, 4, H/2, W/2)``,
an image is ``(*, 3, H, W)``; all float32 NCHW inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["check_shape"]


def check_shape(x: Any, shape: Sequence[str], name: str = "input") -> None:
    """Raise ``ValueError`` unless ``x.shape`` matches ``shape``.

    ``shape`` is a list of dimension specs: ``"*"`` (any number of leading dims, only first),
    a digit string (that exact size) or a name (any size; equal names must have equal sizes).

    >>> import numpy as np
    >>> check_shape(np.zeros((2, 4, 8, 8)), ["*", "4", "H", "W"])
    """
    dims = tuple(int(d) for d in x.shape)
    spec = list(shape)
    if spec and spec[0] == "*":
        spec = spec[1:]
        if len(dims) < len(spec):
            raise ValueError(f"{name}: expected shape {list(shape)}, got {list(dims)}")
        dims = dims[len(dims) - len(spec) :]
    elif len(dims) != len(spec):
        raise ValueError(f"{name}: expected shape {list(shape)}, got {list(dims)}")
    bound: dict[str, int] = {}
    for d, s in zip(dims, spec):
        if s.isdigit():
            if d != int(s):
                raise ValueError(f"{name}: expected shape {list(shape)}, got {list(x.shape)}")
        else:
            if bound.setdefault(s, d) != d:
                raise ValueError(f"{name}: expected shape {list(shape)}, got {list(x.shape)}")
