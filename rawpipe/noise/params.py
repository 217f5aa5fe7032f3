"""Poisson–Gaussian noise parameters of a raw image: ``Var(z | x) = a·x + b``.

Units: the normalised signal ``x = (DN − black) / (white − black)``. ``a`` (``shot``) is the gain in
normalised units per photo-electron, ``b`` (``read``) the signal-independent variance (read noise,
quantisation, ...). Foi et al., "Practical Poissonian-Gaussian noise modeling and fitting for
single-image raw-data", IEEE TIP 17(10), 2008. The DNG NoiseProfile tag (51041) stores the same pair
per colour plane as ``(S, O)`` with variance ``S·x + O``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["NoiseParams", "ParamsLike"]

#: RGGB channel order of per-channel parameters (the packed layout ``(*, 4, H/2, W/2)``).
CHANNELS = ("R", "G1", "G2", "B")

_Value = float | tuple[float, float, float, float]


def _as_value(v: Any, name: str) -> _Value:
    if isinstance(v, (int, float, np.floating, np.integer)) or (
        isinstance(v, np.ndarray) and v.ndim == 0
    ):
        return float(v)
    vals = tuple(float(e) for e in np.asarray(v, dtype=np.float64).reshape(-1))
    if len(vals) == 1:
        return vals[0]
    if len(vals) != 4:
        raise ValueError(
            f"NoiseParams.{name}: a scalar or 4 values (R, G1, G2, B), got {len(vals)}"
        )
    return vals  # type: ignore[return-value]


@dataclass(frozen=True)
class NoiseParams:
    """Shot ``a`` and read ``b`` of ``Var(z | x) = a·x + b`` (normalised units).

    Each is a float (all channels) or a 4-tuple in RGGB order (R, G1, G2, B), matching packed data
    ``(*, 4, H/2, W/2)``.

    >>> p = NoiseParams(shot=1e-3, read=3.2e-6)
    >>> round(float(p.std(0.5)), 5)
    0.02243
    """

    shot: _Value
    read: _Value

    def __post_init__(self) -> None:
        shot = _as_value(self.shot, "shot")
        read = _as_value(self.read, "read")
        object.__setattr__(self, "shot", shot)
        object.__setattr__(self, "read", read)
        for v in np.atleast_1d(shot):
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"NoiseParams.shot must be finite and > 0, got {shot}")
        for v in np.atleast_1d(read):
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"NoiseParams.read must be finite and >= 0, got {read}")

    # -- views ------------------------------------------------------------------------------------
    @property
    def per_channel(self) -> bool:
        """True when either field holds four per-channel values."""
        return isinstance(self.shot, tuple) or isinstance(self.read, tuple)

    def shot4(self) -> tuple[float, float, float, float]:
        """``shot`` as four RGGB values."""
        s = self.shot
        return s if isinstance(s, tuple) else (s, s, s, s)

    def read4(self) -> tuple[float, float, float, float]:
        """``read`` as four RGGB values."""
        r = self.read
        return r if isinstance(r, tuple) else (r, r, r, r)

    def channel(self, i: int) -> NoiseParams:
        """Scalar parameters of channel ``i`` (0..3, RGGB)."""
        return NoiseParams(self.shot4()[i], self.read4()[i])

    def mean(self) -> NoiseParams:
        """Scalar parameters averaged over the four channels."""
        return NoiseParams(float(np.mean(self.shot4())), float(np.mean(self.read4())))

    def variance(self, x: Any) -> Any:
        """``a·x + b``; per-channel parameters broadcast as ``(4, 1, 1)`` (packed layout)."""
        a, b = self.as_numpy()
        return a * x + b

    def std(self, x: Any) -> Any:
        """``sqrt(max(a·x + b, 0))`` (the noise standard deviation curve)."""
        return np.sqrt(np.maximum(self.variance(x), 0.0))

    def as_numpy(self, dtype: Any = np.float64) -> tuple[Any, Any]:
        """``(a, b)`` as numpy scalars or ``(4, 1, 1)`` arrays, broadcastable to packed data."""
        if not self.per_channel:
            return np.asarray(self.shot, dtype), np.asarray(self.read, dtype)
        return (
            np.asarray(self.shot4(), dtype).reshape(4, 1, 1),
            np.asarray(self.read4(), dtype).reshape(4, 1, 1),
        )

    def as_torch(self, dtype: Any = None, device: Any = None) -> tuple[Any, Any]:
        """``(a, b)`` as torch 0-d or ``(4, 1, 1)`` tensors, broadcastable to ``(*, 4, h, w)``."""
        import torch

        dtype = dtype or torch.float32
        a, b = self.as_numpy(np.float64)
        return (
            torch.as_tensor(a, dtype=dtype, device=device),
            torch.as_tensor(b, dtype=dtype, device=device),
        )

    def scaled(self, gain: float) -> NoiseParams:
        """Parameters of ``gain·z`` (``a → gain·a``, ``b → gain²·b``), e.g. after a digital gain."""
        a = np.asarray(self.shot4()) * gain
        b = np.asarray(self.read4()) * gain * gain
        if not self.per_channel:
            return NoiseParams(float(a[0]), float(b[0]))
        return NoiseParams(tuple(a), tuple(b))

    # -- DNG NoiseProfile -------------------------------------------------------------------
    @classmethod
    def from_noise_profile(
        cls, profile: Sequence[Sequence[float]] | Sequence[float], cfa_pattern: str | None = None
    ) -> NoiseParams:
        """From the DNG NoiseProfile tag: ``(S, O)`` pairs, one per colour plane.

        One pair applies to every channel. Three pairs are the R, G, B planes (DNG CFAPlaneColor
        order) and become RGGB ``(R, G, G, B)``. Four pairs are taken in the order of
        ``cfa_pattern`` (e.g. ``"GBRG"``: the CFA sites top-left, top-right, bottom-left,
        bottom-right) and reordered to RGGB; without a pattern they must already be RGGB.
        A flat sequence ``(S1, O1, S2, O2, ...)`` is accepted too.
        """
        arr = np.asarray(profile, dtype=np.float64).reshape(-1, 2)
        if arr.shape[0] == 1:
            return cls(float(arr[0, 0]), float(arr[0, 1]))
        if arr.shape[0] == 3:
            order = [0, 1, 1, 2]
        elif arr.shape[0] == 4:
            order = [0, 1, 2, 3] if cfa_pattern is None else _rggb_order(cfa_pattern)
        else:
            raise ValueError(f"NoiseProfile: expected 1, 3 or 4 (S, O) pairs, got {arr.shape[0]}")
        return cls(tuple(arr[order, 0]), tuple(arr[order, 1]))

    def to_noise_profile(self) -> tuple[tuple[float, float], ...]:
        """As DNG NoiseProfile ``(S, O)`` pairs: one pair, or three for the R, G, B planes.

        Per-channel parameters give three planes with G the mean of G1 and G2 (DNG stores one
        pair per colour plane).
        """
        if not self.per_channel:
            return ((float(self.shot), float(self.read)),)
        a, b = self.shot4(), self.read4()
        return (
            (a[0], b[0]),
            (0.5 * (a[1] + a[2]), 0.5 * (b[1] + b[2])),
            (a[3], b[3]),
        )


def _rggb_order(cfa_pattern: str) -> list[int]:
    """Indices taking per-site values in ``cfa_pattern`` order (TL, TR, BL, BR) to RGGB order.

    G1 is the green on the red row, G2 the green on the blue row.
    """
    pat = str(getattr(cfa_pattern, "name", cfa_pattern)).upper()
    if len(pat) != 4 or sorted(pat) != ["B", "G", "G", "R"]:
        raise ValueError(f"not a Bayer pattern: {cfa_pattern!r}")
    r = pat.index("R")
    g1 = 2 * (r // 2) + (1 - r % 2)
    g2 = next(i for i, c in enumerate(pat) if c == "G" and i != g1)
    return [r, g1, g2, pat.index("B")]


#: Anything the noise functions accept as parameters: ``NoiseParams`` or a pair ``(a, b)`` of
#: floats / arrays / tensors broadcastable to the data (e.g. ``(N, 1, 1, 1)`` per batch element).
ParamsLike = NoiseParams | tuple[Any, Any]
