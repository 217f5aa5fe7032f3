"""Bayer colour filter arrays: the pattern enum, normalisation to RGGB and packing.

Every mosaic inside rawpipe is RGGB with even height and width: :func:`normalize_cfa` brings any of
the four Bayer phases there and :func:`denormalize_cfa` takes the result back, exactly. Both act on
the last two dimensions of numpy arrays and torch tensors alike, so the same :class:`CfaPad` crops a
normalised mosaic ``(..., H', W')`` or an image demosaiced from it ``(..., 3, H', W')``.

>>> import numpy as np
>>> x = np.arange(15, dtype=np.uint16).reshape(3, 5)
>>> y, pad = normalize_cfa(x, "GBRG")
>>> y.shape, pad
((4, 6), CfaPad(top=1, left=0, bottom=0, right=1))
>>> bool((denormalize_cfa(y, pad) == x).all())
True
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

import numpy as np

from rawpipe._check import check_shape

__all__ = [
    "CFAPattern",
    "CfaPad",
    "denormalize_cfa",
    "normalize_cfa",
    "pack_rggb",
    "unpack_rggb",
]

T = TypeVar("T")


class CFAPattern(str, Enum):
    """The four Bayer phases, named by the colours of the top-left 2×2 tile in raster order."""

    RGGB = "RGGB"
    BGGR = "BGGR"
    GRBG = "GRBG"
    GBRG = "GBRG"

    @classmethod
    def from_string(cls, name: str | CFAPattern) -> CFAPattern:
        """Parse ``"rggb"``, ``"RGGB"`` or a :class:`CFAPattern` (case-insensitive).

        >>> CFAPattern.from_string("gbrg")
        <CFAPattern.GBRG: 'GBRG'>
        """
        if isinstance(name, CFAPattern):
            return name
        key = str(name).strip().upper()
        try:
            return cls(key)
        except ValueError:
            raise ValueError(
                f"unknown CFA pattern {name!r}; expected one of {[p.value for p in cls]}"
            ) from None

    @classmethod
    def from_tile(cls, tile: Any) -> CFAPattern:
        """Build a pattern from a 2×2 tile of colour letters (``[["G","B"],["R","G"]]``)."""
        key = "".join(str(tile[y][x]).upper() for y in (0, 1) for x in (0, 1))
        return cls.from_string(key)

    def color_at(self, y: int, x: int) -> str:
        """Colour letter ``"R"``, ``"G"`` or ``"B"`` at site ``(y, x)`` of a mosaic with this phase.

        >>> CFAPattern.GBRG.color_at(1, 0)
        'R'
        """
        return self.value[2 * (y % 2) + (x % 2)]

    def index_at(self, y: int, x: int) -> int:
        """Colour index at ``(y, x)``: 0 for R, 1 for G, 2 for B."""
        return "RGB".index(self.color_at(y, x))

    @property
    def red_offset(self) -> tuple[int, int]:
        """``(dy, dx)`` of the red site inside the 2×2 tile."""
        i = self.value.index("R")
        return i // 2, i % 2

    def shifted(self, dy: int, dx: int) -> CFAPattern:
        """The pattern seen by a mosaic cropped to start at ``(dy, dx)`` of this one.

        >>> CFAPattern.RGGB.shifted(0, 1)
        <CFAPattern.GRBG: 'GRBG'>
        """
        return CFAPattern.from_string(
            "".join(self.color_at(y + dy, x + dx) for y in (0, 1) for x in (0, 1))
        )


@dataclass(frozen=True)
class CfaPad:
    """Rows/columns :func:`normalize_cfa` added per side (:func:`denormalize_cfa` crops them)."""

    top: int = 0
    left: int = 0
    bottom: int = 0
    right: int = 0

    @property
    def is_identity(self) -> bool:
        """True when nothing was padded (the input was RGGB with even sizes)."""
        return not (self.top or self.left or self.bottom or self.right)

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        """Size ``(H', W')`` of a ``height × width`` mosaic after this padding."""
        return height + self.top + self.bottom, width + self.left + self.right


def _is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def _take(x: T, index: list[int], axis: int) -> T:
    """``x`` indexed along ``axis`` (negative) with ``index``; numpy or torch, any dtype."""
    if _is_torch(x):
        import torch

        idx = torch.as_tensor(index, dtype=torch.long, device=x.device)  # type: ignore[attr-defined]
        return x.index_select(axis, idx)  # type: ignore[attr-defined]
    return np.take(x, index, axis=axis)  # type: ignore[return-value]


def _reflect_index(n: int, before: int, after: int) -> list[int]:
    # Mirror without repeating the edge: index -1 -> 1, index n -> n-2. Both keep the parity of the
    # missing index, so a padded Bayer mosaic keeps a consistent colour at every site.
    return ([1] if before else []) + list(range(n)) + ([n - 2] if after else [])


def normalize_cfa(x: T, pattern: CFAPattern | str) -> tuple[T, CfaPad]:
    """Bring a Bayer mosaic ``(..., H, W)`` of any phase to RGGB with even ``H`` and ``W``.

    At most one row/column is added on each side by mirror reflection without repeating the edge
    (row -1 := row 1), which keeps every site's colour consistent with the periodic pattern: one at
    the top/left where the red site is not at row/column 0, one at the bottom/right to make the size
    even. Works on numpy arrays and torch tensors of any dtype; returns a new array/tensor.

    Notes: needs ``H, W >= 2`` where padding is required; values are copied, never altered, so
    :func:`denormalize_cfa` recovers the input exactly.
    """
    pattern = CFAPattern.from_string(pattern)
    h, w = int(x.shape[-2]), int(x.shape[-1])  # type: ignore[attr-defined]
    top, left = pattern.red_offset
    bottom, right = (h + top) % 2, (w + left) % 2
    pad = CfaPad(top, left, bottom, right)
    if pad.is_identity:
        return (x.clone() if _is_torch(x) else np.array(x, copy=True)), pad  # type: ignore[attr-defined]
    if ((top or bottom) and h < 2) or ((left or right) and w < 2):
        raise ValueError(f"cannot normalise a {h}×{w} {pattern.value} mosaic: need H, W >= 2")
    y = x
    if top or bottom:
        y = _take(y, _reflect_index(h, top, bottom), -2)
    if left or right:
        y = _take(y, _reflect_index(w, left, right), -1)
    return y, pad


def denormalize_cfa(x: T, pad: CfaPad) -> T:
    """Crop what :func:`normalize_cfa` added: ``(..., H', W') -> (..., H, W)``.

    Works on the normalised mosaic and on anything aligned with it, e.g. an RGB image
    ``(..., 3, H', W')`` demosaiced from it. Returns a view (numpy slice / torch narrow).
    """
    h, w = int(x.shape[-2]), int(x.shape[-1])  # type: ignore[attr-defined]
    if h < pad.top + pad.bottom or w < pad.left + pad.right:
        raise ValueError(f"cannot crop {pad} from a {h}×{w} array")
    return x[..., pad.top : h - pad.bottom, pad.left : w - pad.right]  # type: ignore[index]


def pack_rggb(x: T) -> T:
    """Pack an RGGB mosaic ``(*, 1, H, W)`` into planes ``(*, 4, H/2, W/2)``: R, G1, G2, B.

    G1 is the green at (0, 1) of each 2×2 tile (on the red rows), G2 the one at (1, 0). This is
    ``pixel_unshuffle(x, 2)``'s channel order. numpy or torch; ``H`` and ``W`` must be even
    (use :func:`normalize_cfa` first).
    """
    check_shape(x, ["*", "1", "H", "W"], "mosaic")
    h, w = int(x.shape[-2]), int(x.shape[-1])  # type: ignore[attr-defined]
    if h % 2 or w % 2:
        raise ValueError(f"pack_rggb needs even H and W, got {h}×{w}; use normalize_cfa first")
    lead = tuple(x.shape[:-3])  # type: ignore[attr-defined]
    y = x.reshape(*lead, h // 2, 2, w // 2, 2)  # type: ignore[attr-defined]
    n = len(lead)
    order = (*range(n), n + 1, n + 3, n, n + 2)  # -> (*, dy, dx, H/2, W/2)
    y = y.permute(*order) if _is_torch(y) else y.transpose(order)  # type: ignore[attr-defined]
    return y.reshape(*lead, 4, h // 2, w // 2)  # type: ignore[attr-defined]


def unpack_rggb(x: T) -> T:
    """Inverse of :func:`pack_rggb`: ``(*, 4, H/2, W/2) -> (*, 1, H, W)`` (numpy or torch)."""
    check_shape(x, ["*", "4", "h", "w"], "packed")
    h2, w2 = int(x.shape[-2]), int(x.shape[-1])  # type: ignore[attr-defined]
    lead = tuple(x.shape[:-3])  # type: ignore[attr-defined]
    n = len(lead)
    y = x.reshape(*lead, 2, 2, h2, w2)  # type: ignore[attr-defined]
    order = (*range(n), n + 2, n, n + 3, n + 1)  # -> (*, H/2, dy, W/2, dx)
    y = y.permute(*order) if _is_torch(y) else y.transpose(order)  # type: ignore[attr-defined]
    return y.reshape(*lead, 1, 2 * h2, 2 * w2)  # type: ignore[attr-defined]
