"""Host-side tiling: run a fixed-size or memory-hungry engine over an image of any size.

Tiles overlap by a margin at least the engine's receptive field, and only each tile's centre is
kept, so the tiled result equals the un-tiled one wherever the engine is translation-equivariant
(every convolutional engine here is, away from the image border, where both see the same reflect
padding because border tiles are clamped to the image). Tile origins are multiples of the engine's
alignment (2 raw pixels for the CFA, times the network's total stride), so every tile starts on an
R pixel and on the network's stride grid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from rawpipe._check import check_shape

__all__ = ["TileSpec", "balanced_spec", "iter_tiles", "pad_for_tiling", "run_tiled"]


@dataclass(frozen=True)
class TileSpec:
    """Tile geometry in raw (mosaic) pixels.

    ``size``: tile height (and width, unless ``width`` is given) fed to the engine; ``margin``:
    overlap discarded on each side of a tile's interior (≥ the engine's receptive-field radius);
    ``align``: tile origins are multiples of it.
    """

    size: int = 512
    margin: int = 32
    align: int = 2
    width: int | None = None

    @property
    def size_w(self) -> int:
        return self.size if self.width is None else self.width

    def __post_init__(self) -> None:
        if self.size % self.align or self.size_w % self.align or self.margin % self.align:
            raise ValueError(f"tile size and margin must be multiples of the alignment: {self}")
        if min(self.size, self.size_w) <= 2 * self.margin:
            raise ValueError(f"tile size must exceed twice the margin: {self}")


def balanced_spec(
    height: int, width: int, *, max_area: int, margin: int, align: int, max_tiles: int = 64
) -> TileSpec:
    """The tile shape that covers ``height × width`` with the least recomputed overlap, among
    grids of equal tiles each at most ``max_area`` pixels (for dynamic-shape engines: a 12 MP
    frame in 2×2 tiles recomputes ~20 % instead of the ~110 % of fixed 1024² tiles).

    Each axis of ``n`` tiles needs ``ceil((L + 2·margin·(n − 1)) / n)`` pixels per tile, rounded
    up to ``align``; a single tile is the whole (aligned) axis."""

    def edge(length: int, n: int) -> int:
        t = -(-(length + 2 * margin * (n - 1)) // n)
        return max(-(-t // align) * align, 2 * margin + align)

    if height <= 0 or width <= 0:
        raise ValueError(f"nothing to tile: {height}×{width}")

    h = -(-height // align) * align
    w = -(-width // align) * align
    best: tuple[int, int, int] | None = None
    for nr in range(1, max_tiles + 1):
        th = edge(h, nr) if nr > 1 else h
        for nc in range(1, max_tiles // nr + 1):
            tw = edge(w, nc) if nc > 1 else w
            if th * tw > max_area:
                continue
            cost = nr * nc * th * tw
            if best is None or cost < best[0]:
                best = (cost, th, tw)
            break  # more columns only cost more for this row count
    if best is None:  # even max_tiles tiles exceed the budget: square tiles of the budget
        side = max(int(max_area**0.5) // align * align, 2 * margin + align)
        return TileSpec(size=side, margin=margin, align=align)
    floor = 2 * margin + align  # a single-tile axis may be shorter: its tile is just the axis
    return TileSpec(size=max(best[1], floor), margin=margin, align=align, width=max(best[2], floor))


def _axis_tiles(length: int, size: int, margin: int, align: int) -> list[tuple[int, int, int]]:
    """(tile_start, keep_start, keep_stop) per tile along one axis, in absolute coordinates.

    ``length`` must be ≤ ``size`` or exceed it by a multiple of ``align`` (``pad_for_tiling``
    arranges that), so every origin, the last one included, is aligned.
    """
    if length <= size:
        return [(0, 0, length)]
    if (length - size) % align:
        raise ValueError(f"length {length} - tile {size} is not a multiple of {align}")
    out: list[tuple[int, int, int]] = []
    keep = 0
    while keep < length:
        start = max(0, min(keep - margin, length - size))
        start -= start % align
        stop_keep = length if start + size >= length else start + size - margin
        out.append((start, keep, stop_keep))
        keep = stop_keep
    return out


def pad_for_tiling(x: torch.Tensor, spec: TileSpec, *, fixed_size: bool = False) -> torch.Tensor:
    """Pad (N,C,H,W) at the bottom/right by CFA-preserving reflection so tiling is aligned.

    After padding, H and W are multiples of ``spec.align`` (even, so the CFA phase is kept), at
    least ``spec.size`` when ``fixed_size`` (a fixed-shape graph needs whole tiles).
    """
    h, w = x.shape[-2:]

    def target(n: int, size: int) -> int:
        t = -(-n // spec.align) * spec.align
        return max(t, size) if fixed_size else t

    ph, pw = target(h, spec.size) - h, target(w, spec.size_w) - w
    while ph > 0 or pw > 0:  # reflection can add at most (size - 1) per pass
        sh = min(ph, x.shape[-2] - 1)
        sw = min(pw, x.shape[-1] - 1)
        sh -= sh % 2 if ph % 2 == 0 else 0
        sw -= sw % 2 if pw % 2 == 0 else 0
        x = torch.nn.functional.pad(x, (0, sw, 0, sh), mode="reflect")
        ph, pw = ph - sh, pw - sw
    return x


def iter_tiles(
    height: int, width: int, spec: TileSpec
) -> Iterator[tuple[slice, slice, slice, slice]]:
    """Yield ``(tile_rows, tile_cols, keep_rows, keep_cols)`` slices in absolute coordinates."""
    for ys, ky0, ky1 in _axis_tiles(height, spec.size, spec.margin, spec.align):
        for xs, kx0, kx1 in _axis_tiles(width, spec.size_w, spec.margin, spec.align):
            yield (
                slice(ys, min(ys + spec.size, height)),
                slice(xs, min(xs + spec.size_w, width)),
                slice(ky0, ky1),
                slice(kx0, kx1),
            )


def run_tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    mosaic: torch.Tensor,
    spec: TileSpec,
    *,
    out_channels: int = 3,
    fixed_size: bool = False,
    progress: bool = False,
    out_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Apply ``fn`` ((N,C,h,w) → (N,C',h,w)) tile by tile to ``mosaic`` (N,C,H,W).

    ``mosaic`` is a raw mosaic (C = 1) or any image aligned with it (e.g. packed RGGB planes,
    with ``spec`` in packed pixels). The input is first padded by ``pad_for_tiling``; the output
    (``out_channels``, ``out_dtype``: default the input's) is allocated once and each tile's kept
    centre is written into it, so peak memory is the output plus one tile's working set.
    ``fixed_size``: every tile is exactly ``spec.size`` square (fixed-shape graphs). A
    channels-last ``mosaic`` (C > 1) gets a channels-last output, so NHWC graphs stitch rows.
    """
    check_shape(mosaic, ["N", "C", "H", "W"], "mosaic")
    n, _, h0, w0 = mosaic.shape
    mosaic = pad_for_tiling(mosaic, spec, fixed_size=fixed_size)
    h, w = mosaic.shape[-2:]
    last = mosaic.shape[1] > 1 and not mosaic.is_contiguous()
    last = last and mosaic.is_contiguous(memory_format=torch.channels_last)
    out = torch.empty(
        (n, out_channels, h, w),
        dtype=out_dtype or mosaic.dtype,
        memory_format=torch.channels_last if last else torch.contiguous_format,
    )
    tiles = list(iter_tiles(h, w, spec))
    iterator = tiles
    if progress and len(tiles) > 1:
        from tqdm.auto import tqdm

        iterator = tqdm(tiles, desc="tiles", unit="tile", leave=False)
    for rows, cols, keep_r, keep_c in iterator:
        y = fn(mosaic[:, :, rows, cols])
        out[:, :, keep_r, keep_c] = y[
            :,
            :,
            keep_r.start - rows.start : keep_r.stop - rows.start,
            keep_c.start - cols.start : keep_c.stop - cols.start,
        ]
    return out[:, :, :h0, :w0]
