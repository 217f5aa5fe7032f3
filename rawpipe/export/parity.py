"""Parity of exported artifacts against their source, scored on the final linear output.

Every comparison runs the same host steps (``rawpipe.models.jdd``) around each runtime's graph on
the same tiles and scores the *final normalised linear camera RGB*:

- torch fp32 vs ONNX Runtime fp32: max abs difference (≤ 1e-4);
- TFLite int8 (LiteRT interpreter) or Core ML W8A8 (the MIL program; ``predict`` on macOS) vs ORT
  fp32: PSNR (peak 1) after white balance and the sRGB curve (clipped to [0, 1] first), per noise
  level over real-photo tiles (≥ 45 dB). int8 is judged by PSNR, not per element (runtimes round
  half-to-even or away from zero; ±1 quantisation step per element is expected).

Tiles: :func:`parity_tiles` cuts fixed tiles from the validation photos of :mod:`rawpipe.data`
(real photographs unprocessed into raws of the acceptance sensor) at every acceptance level —
photos the calibration set never uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "ParityTile",
    "max_abs",
    "parity_tiles",
    "psnr",
    "psnr_wb_srgb",
    "render_wb_srgb",
    "score_engines",
]


@dataclass(frozen=True)
class _Noise:
    """Per-channel noise parameters as tensors (``a = 0`` allowed: the VST floors it)."""

    shot: Tensor
    read: Tensor


@dataclass(frozen=True)
class ParityTile:
    """One raw tile of a validation photo at one noise level."""

    level: str
    photo: str
    mosaic: Tensor  # (1, 1, H, W) normalised RGGB
    shot: Tensor  # (4,)
    read: Tensor  # (4,)
    wb: Tensor  # (3,)
    target: Tensor  # (1, 3, H, W) clean linear camera RGB

    @property
    def noise(self) -> _Noise:
        return _Noise(self.shot, self.read)

    def mosaic_at(self, raw_tile: int) -> Tensor:
        """The mosaic mirrored out (CFA-preserving) to a ``raw_tile``² graph tile, as a
        fixed-shape engine pads any smaller image; the photo's pixels stay top-left."""
        from rawpipe.tiling import TileSpec, pad_for_tiling

        h, w = (int(v) for v in self.mosaic.shape[-2:])
        if h > raw_tile or w > raw_tile:
            raise ValueError(f"a {h}×{w} tile is larger than the graph's {raw_tile}² raw tile")
        return pad_for_tiling(
            self.mosaic, TileSpec(size=raw_tile, margin=0, align=2), fixed_size=True
        )


def render_wb_srgb(linear: Tensor, wb: Tensor) -> Tensor:
    """Linear camera RGB ``(N,3,H,W)`` × white balance → clip [0, 1] → sRGB curve (no colour
    matrix): the domain the int8 parity is scored in."""
    from rawpipe.color import srgb_gamma_compression

    x = linear.double() * wb.double().reshape(-1, 3, 1, 1)
    return srgb_gamma_compression(x.clamp(0.0, 1.0))


def psnr(a: Tensor, b: Tensor, peak: float = 1.0) -> float:
    mse = float((a.double() - b.double()).pow(2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def psnr_wb_srgb(ref: Tensor, test: Tensor, wb: Tensor) -> float:
    """PSNR (dB, peak 1) of ``test`` against ``ref`` after :func:`render_wb_srgb`."""
    return psnr(render_wb_srgb(ref, wb), render_wb_srgb(test, wb))


def max_abs(ref: Tensor, test: Tensor) -> float:
    return float((ref.double() - test.double()).abs().max())


def parity_tiles(
    raw_tile: int,
    *,
    levels: Sequence[str] | None = None,
    per_level: int = 4,
    seed: int = 0,
) -> list[ParityTile]:
    """``per_level`` tiles of up to ``raw_tile``² raw pixels at each acceptance level (default all
    of ``rawpipe.data.VALIDATION_LEVELS``), one per validation photo (photos spread evenly), each
    the centre tile of its photo; the same photo places at every level. A photo smaller than
    ``raw_tile`` gives its largest centred square (a multiple of 16 raw pixels, at least
    ``min(raw_tile, 128)``): a fixed-shape engine mirror-pads it to its tile, as it does any
    image smaller than the tile, and parity is scored on the photo's own pixels."""
    from rawpipe.data.datasets import VALIDATION_LEVELS, validation_set

    names = list(VALIDATION_LEVELS) if levels is None else list(levels)
    out: list[ParityTile] = []
    crop = max(2 * raw_tile, 64)
    for level in names:
        items = validation_set(level, seed=seed, max_size=crop)
        picks = [int(i * len(items) / per_level) for i in range(per_level)] if per_level else []
        for k in picks:
            it = items[k]
            m = it["mosaic"]
            h, w = m.shape[-2:]
            side = min(raw_tile, h // 16 * 16, w // 16 * 16)
            if side < min(raw_tile, 128):
                continue
            y0, x0 = (h - side) // 4 * 2, (w - side) // 4 * 2
            sl = (..., slice(y0, y0 + side), slice(x0, x0 + side))
            out.append(
                ParityTile(
                    level=level,
                    photo=str(it["name"]),
                    mosaic=m[sl][None].contiguous().float(),
                    shot=it["shot"].float(),
                    read=it["read"].float(),
                    wb=it["wb"].float(),
                    target=it["target"][sl][None].contiguous().float(),
                )
            )
    if not out:
        raise ValueError(f"no validation photo is large enough for a {raw_tile}-pixel tile")
    return out


def score_engines(
    tiles: Sequence[ParityTile],
    reference: Callable[..., Tensor],
    test: Callable[..., Tensor],
    *,
    metric: str,
    threshold: float,
) -> dict[str, Any]:
    """Run both engines on every tile and score ``test`` against ``reference``.

    ``metric``: ``"max_abs"`` (passes if ≤ ``threshold``) or ``"psnr_wb_srgb"`` (pooled MSE per
    level, passes if every level ≥ ``threshold`` dB). Returns ``{"metric", "threshold",
    "per_level": {level: {...}}, "worst", "passed", "tiles"}``.
    """
    per: dict[str, dict[str, list[float]]] = {}
    for t in tiles:
        with torch.no_grad():
            r = reference(t.mosaic, wb_gains=t.wb, noise=t.noise)
            y = test(t.mosaic, wb_gains=t.wb, noise=t.noise)
        d = per.setdefault(t.level, {"max_abs": [], "mse": [], "psnr": []})
        d["max_abs"].append(max_abs(r, y))
        ra, ya = render_wb_srgb(r, t.wb), render_wb_srgb(y, t.wb)
        d["mse"].append(float((ra - ya).pow(2).mean()))
        d["psnr"].append(psnr(ra, ya))
    levels: dict[str, Any] = {}
    for level, d in per.items():
        mse = float(np.mean(d["mse"]))
        levels[level] = {
            "tiles": len(d["mse"]),
            "max_abs": max(d["max_abs"]),
            "psnr_db": math.inf if mse == 0 else 10 * math.log10(1.0 / mse),
            "min_tile_psnr_db": min(d["psnr"]),
        }
    if metric == "max_abs":
        worst = max(v["max_abs"] for v in levels.values())
        passed = worst <= threshold
    elif metric == "psnr_wb_srgb":
        worst = min(v["psnr_db"] for v in levels.values())
        passed = worst >= threshold
    else:
        raise ValueError(f"unknown metric {metric!r}")
    return {
        "metric": metric,
        "threshold": threshold,
        "worst": worst,
        "passed": bool(passed),
        "tiles": len(tiles),
        "per_level": levels,
    }


def json_safe(x: Any) -> Any:
    """Replace non-finite floats (an exact match gives ``inf`` dB) by strings for JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, Mapping):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    return x
