"""Network engines: a JDD network behind the pipeline's ``Engine`` interface.

``create_engine("student" | "teacher", backend="torch")`` gives a :class:`NetworkEngine` that
``rawpipe.pipeline.process_raw`` tiles over the image. The engine runs exactly the host-side
steps of :mod:`rawpipe.models.jdd` around the network; other backends (ONNX Runtime, LiteRT)
will swap only the network call.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor

from rawpipe._check import check_shape
from rawpipe.models.jdd import (
    INVERSE_METHOD,
    JDDNet,
    colour_noise,
    floor_noise,
    jdd_preprocess,
    noise_tensors,
)

if TYPE_CHECKING:
    from rawpipe.tiling import TileSpec

__all__ = ["BACKENDS", "NetworkEngine", "PackedEngine", "create_engine"]

BACKENDS = ("torch", "onnx", "tflite")


_STRIP_ROWS = 32
"""Packed rows finished at once (inverse VST + depth-to-space into the output): small enough to
stay in cache, large enough that per-call overhead does not matter."""

_PHASE_MAJOR = torch.tensor([4 * c + 2 * i + j for i in (0, 1) for j in (0, 1) for c in (0, 1, 2)])
"""Graph output channels (CRD: 4·colour + 2·i + j) in the order ``(i, j, colour)``."""


def _round_up(n: int, m: int) -> int:
    return -(-int(n) // int(m)) * int(m)


class PackedEngine:
    """Base of every packed-I/O network engine (torch here; ONNX Runtime, LiteRT and the Core ML
    MIL interpreter in :mod:`rawpipe.export.runtime`): the host steps of :mod:`rawpipe.models.jdd`
    around a graph call, over a whole image with bounded memory.

    :meth:`process_image` is what ``process_raw`` runs::

        jdd_preprocess   once over the image (packing + VST are per pixel: they commute with tiling)
        graph            tile by tile over the packed VST image, tiles overlapping by ≥ the
                         receptive field, origins on the network's stride grid; the kept centres
                         are stitched into one packed (12, H/2, W/2) result (the int8 codes of a
                         quantised graph stay int8: a quarter of the memory)
        finish           strip by strip of rows: inverse VST per output colour (for int8 codes a
                         256-entry table per colour, exactly the dequantise + inverse), then
                         depth-to-space straight into the (H, W, 3) output

    ``engine(mosaic (N,1,H,W), *, wb_gains, noise) -> (N,3,H,W)`` (the ``Engine`` interface) is
    the same path, one untiled image at a time. Subclasses set the geometry with
    :meth:`_set_geometry` and implement :meth:`_graph_for`. Attributes in raw pixels:
    ``alignment`` = 2·total_stride, ``receptive_field`` = 2·(2·halo + 1) + 1, ``margin`` (the
    overlap kept on each side of an inner tile edge) = 2·halo rounded up to ``alignment``;
    ``fixed_tile``: the edge of a fixed-shape graph's tile (``None``: any size).
    """

    needs_noise = True
    default_tile = 2048
    """Tile budget (raw pixels) for a dynamic-shape graph when ``process_raw`` does not say: tiles
    of at most ``default_tile``² raw pixels, shaped to the image so the receptive-field margin
    (48 raw pixels per side for the student, recomputed by both tiles of an inner edge) costs
    the least (:func:`rawpipe.tiling.balanced_spec`)."""
    fixed_tile: int | None = None
    inverse: str = INVERSE_METHOD
    name: str = "network"

    def _set_geometry(self, *, halo: int, total_stride: int) -> None:
        self.total_stride = int(total_stride)
        self.alignment = 2 * self.total_stride
        self.halo = int(halo)
        self.receptive_field = 2 * (2 * self.halo + 1) + 1
        self.margin = _round_up(2 * self.halo, self.alignment)

    def _graph_for(self, shot: Tensor) -> tuple[Any, tuple[float, int, torch.dtype] | None]:
        """``(graph, quant)`` for an image with per-RGGB shot gains ``shot`` (4,).

        ``graph`` maps a packed VST tile ``(1,4,h,w)`` float32 to the network output
        ``(1,12,h,w)`` (float32 VST values, or the integer codes of a quantised output); ``quant``
        is ``None`` or the output's ``(scale, zero_point, code dtype)``. ``graph`` receives tiles
        of what :meth:`_encode` made of the image."""
        raise NotImplementedError  # pragma: no cover - interface

    def _encode(self, vst: Tensor, shot: Tensor) -> Tensor:
        """The graph's input for the whole padded packed VST image ``(1,4,h,w)`` float32; tiles
        of it are what ``graph`` receives. Default: the VST values themselves. A quantised graph
        quantises once here (and may return channels-last memory, whose tiles are then cheap to
        hand to an NHWC graph)."""
        return vst

    def _packed_spec(self, h: int, w: int, tile: int | None) -> TileSpec:
        from rawpipe.tiling import TileSpec, balanced_spec

        s = self.total_stride
        margin = self.margin // 2
        if self.fixed_tile is not None:
            size = self.fixed_tile // 2
            if h <= size and w <= size:  # one mirror-padded tile: nothing to overlap
                margin = 0
            return TileSpec(size=size, margin=margin, align=s)
        # A dynamic-shape graph: the grid of equal tiles, each at most (tile/2)² packed pixels,
        # that recomputes the least overlap.
        edge = self.default_tile if tile is None else int(tile)
        side = max(_round_up(max(edge // 2, 1), s), 2 * margin + s)
        return balanced_spec(h, w, max_area=side * side, margin=margin, align=s)

    def _finisher(self, shot: Tensor, read: Tensor, quant: Any) -> Any:
        """``finish(codes (r, w, 12)) -> (r, w, 2, 6)`` float32 linear values: the inverse VST of
        :func:`~rawpipe.models.jdd.jdd_postprocess`, reordered from the graph's CRD channels
        (4·colour + 2·i + j) to phase-major ``[r, w, i, 3·j + colour]``, so that depth-to-space
        is a copy of 6-value runs (``out[2r + i, 2w + j, colour]``)."""
        from rawpipe.noise import exact_inverse_fixed, inverse_generalized_anscombe

        a3, b3 = colour_noise(*floor_noise(shot, read))
        params = [(float(a3[0, c]), float(b3[0, c])) for c in range(3)]
        method = self.inverse
        order = _PHASE_MAJOR

        def inverse(d: Tensor, c: int) -> Tensor:
            a, b = params[c]
            if method == "exact_unbiased":
                return exact_inverse_fixed(d, a, b)
            return inverse_generalized_anscombe(d, (a, b), method=method)

        if quant is None:

            def finish(codes: Tensor) -> Tensor:
                x = codes.float().index_select(-1, order)  # colour c at c, c+3, c+6, c+9
                out = torch.empty(x.shape, dtype=torch.float32)
                for c in range(3):
                    out[..., c::3] = inverse(x[..., c::3], c)
                return out.view(*x.shape[:-1], 2, 6)

            return finish
        scale, zero_point, dtype = quant
        info = torch.iinfo(dtype)
        codes = torch.arange(info.min, info.max + 1, dtype=torch.float32)
        d = (codes - float(zero_point)) * float(scale)  # exactly the float32 dequantisation
        table = torch.cat([inverse(d, c).float() for c in range(3)])
        offset = (order // 4) * len(codes) - info.min

        def finish_codes(q: Tensor) -> Tensor:
            x = table.take(q.index_select(-1, order).long() + offset)
            return x.view(*q.shape[:-1], 2, 6)

        return finish_codes

    def _process(
        self,
        mosaic: Tensor,
        shot: Tensor,
        read: Tensor,
        tile: int | None,
        progress: bool,
        render: Any = None,
    ) -> np.ndarray:
        from rawpipe.tiling import pad_for_tiling, run_tiled

        hh, ww = mosaic.shape
        if hh % 2 or ww % 2:
            raise ValueError(f"the RGGB mosaic needs even H and W, got {hh}×{ww}")
        with torch.inference_mode():
            vst = jdd_preprocess(mosaic.float()[None, None], shot, read)
            graph, quant = self._graph_for(shot[0])
            h, w = vst.shape[-2:]
            spec = self._packed_spec(h, w, tile)
            fixed = self.fixed_tile is not None
            x = self._encode(pad_for_tiling(vst, spec, fixed_size=fixed), shot[0])
            del vst
            out = run_tiled(
                graph,
                x,
                spec,
                out_channels=12,
                fixed_size=fixed,
                progress=progress,
                out_dtype=torch.float32 if quant is None else quant[2],
            )[0, :, :h, :w].permute(1, 2, 0)  # (h, w, 12): contiguous rows if channels-last
            del x
            finish = self._finisher(shot, read, quant)
            result: np.ndarray | None = None
            if render is None:  # linear output: strips land in it directly
                result = np.empty((hh, ww, 3), np.float32)
                target = torch.from_numpy(result)
            else:  # rendered output: one strip buffer, hot in cache, rendered as it fills
                strip = np.empty((2 * _STRIP_ROWS, ww, 3), np.float32)
                target = torch.from_numpy(strip)
            for r0 in range(0, h, _STRIP_ROWS):
                r1 = min(r0 + _STRIP_ROWS, h)
                n = r1 - r0
                rows = slice(2 * r0, 2 * r1) if render is None else slice(0, 2 * n)
                target[rows].view(n, 2, w, 6).copy_(finish(out[r0:r1]).permute(0, 2, 1, 3))
                if render is not None:
                    codes = render(strip[: 2 * n])
                    if result is None:
                        result = np.empty((hh, ww, *codes.shape[2:]), codes.dtype)
                    result[2 * r0 : 2 * r1] = codes
        assert result is not None
        return result

    def process_image(
        self,
        mosaic: np.ndarray | Tensor,
        *,
        noise: Any,
        tile: int | None = None,
        progress: bool = False,
        render: Any = None,
    ) -> np.ndarray:
        """A whole normalised RGGB mosaic ``(H, W)`` (H, W even) → linear camera RGB
        ``(H, W, 3)`` float32 (no white balance, not clipped), tiled at ``tile`` raw pixels
        (default ``default_tile``; a fixed-shape graph always uses its own tile).

        ``render``: a function of a strip of linear rows ``(r, W, 3)`` float32 (e.g.
        :func:`rawpipe.pipeline.srgb_renderer`); the result is then its output, strip by strip,
        and the float32 linear image is never held whole."""
        if noise is None:
            raise ValueError(f"engine {self.name!r} needs noise parameters (NoiseParams)")
        m = torch.as_tensor(
            np.asarray(mosaic, np.float32) if not torch.is_tensor(mosaic) else mosaic
        )
        check_shape(m, ["H", "W"], "mosaic")
        shot, read = noise_tensors(_field(noise, "shot"), _field(noise, "read"), 1)
        return self._process(m.detach().cpu(), shot, read, tile, progress, render)

    def __call__(self, mosaic: Tensor, *, wb_gains: Any = None, noise: Any = None) -> Tensor:
        if noise is None:
            raise ValueError(f"engine {self.name!r} needs noise parameters (NoiseParams)")
        check_shape(mosaic, ["N", "1", "H", "W"], "mosaic")
        n, _, hh, ww = mosaic.shape
        shot, read = noise_tensors(_field(noise, "shot"), _field(noise, "read"), n)
        whole = max(hh, ww) + self.alignment  # one tile: the untiled result
        outs = [
            torch.from_numpy(
                self._process(
                    mosaic[i, 0].detach().float().cpu(), shot[i : i + 1], read[i : i + 1],
                    whole, False,
                )
            )
            for i in range(n)
        ]  # fmt: skip
        return torch.stack(outs).permute(0, 3, 1, 2).to(mosaic.device)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.name!r}, alignment={self.alignment}, "
            f"receptive_field={self.receptive_field}, fixed_tile={self.fixed_tile})"
        )


class NetworkEngine(PackedEngine):
    """A JDD network (torch) as an engine: ``engine(mosaic (N,1,H,W), *, wb_gains, noise) ->
    (N,3,H,W)`` and ``engine.process_image(mosaic (H,W), noise=...) -> (H,W,3)``.

    ``mosaic`` is a normalised RGGB mosaic (H, W even); ``noise`` a ``NoiseParams`` (floats or
    4-tuples per RGGB channel, normalised units) — required (``needs_noise = True``). The output
    is linear camera RGB without white balance, not clipped. ``wb_gains`` is accepted for the
    interface and not used: the network works on unbalanced camera RGB. ``inverse`` picks the
    inverse VST (default: the exact unbiased one the networks are trained for; others are for
    comparisons, see :class:`rawpipe.evaluation.NetworkMethod`).

    Inputs whose size is not a multiple of ``alignment`` are padded (mirrored 2×2 cells) and the
    result cropped back. See :class:`PackedEngine` for the steps and the tiling.
    """

    def __init__(
        self,
        net: torch.nn.Module | JDDNet,
        *,
        device: str | torch.device | None = None,
        inverse: str = INVERSE_METHOD,
    ):
        from rawpipe.noise import INVERSE_METHODS

        if inverse not in INVERSE_METHODS:
            raise ValueError(f"inverse must be one of {INVERSE_METHODS}, got {inverse!r}")
        self.inverse = inverse
        jdd = net if isinstance(net, JDDNet) else JDDNet(net)
        if device is not None:
            jdd = jdd.to(device)
        self.jdd = jdd.eval()
        self.name = getattr(jdd.net, "model_name", type(jdd.net).__name__)
        halo = getattr(jdd.net, "halo", None)
        if halo is None:  # receptive_field = 2·halo + 1 packed pixels
            halo = int(getattr(jdd.net, "receptive_field", 1)) // 2
        self._set_geometry(halo=int(halo), total_stride=jdd.total_stride)
        self.receptive_field = jdd.receptive_field

    @property
    def device(self) -> torch.device:
        p = next(iter(self.jdd.parameters()), None)
        return p.device if p is not None else torch.device("cpu")

    def _graph_for(self, shot: Tensor) -> tuple[Any, None]:
        net, device = self.jdd, self.device

        def graph(x: Tensor) -> Tensor:
            return net._net(x.to(device)).float().cpu()

        return graph, None


def _field(noise: Any, name: str) -> Any:
    v = getattr(noise, name, None)
    if v is None:
        raise TypeError(f"noise must be a NoiseParams (with .shot and .read), got {noise!r}")
    return v


def create_engine(
    name: str,
    backend: Literal["torch", "onnx", "tflite"] = "torch",
    *,
    pretrained: bool | Literal["if_available"] = True,
    weights: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
    threads: int | None = None,
    **model_kwargs: Any,
) -> Any:
    """The engine of registered model ``name`` on ``backend``.

    ``"classical"`` gives the classical engine (torch only). Networks get their shipped weights
    (``pretrained``/``weights`` as in :func:`rawpipe.models.create_model`). ``threads``: the
    ONNX Runtime / LiteRT interpreter threads (default: torch's intra-op thread count); the torch
    backend uses torch's own setting (``torch.set_num_threads``).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    n_threads = max(1, int(threads) if threads else torch.get_num_threads())
    if backend == "onnx":
        from rawpipe.export.runtime import onnx_engine

        return onnx_engine(
            name, pretrained=pretrained, weights=weights, threads=n_threads, **model_kwargs
        )
    if backend == "tflite":
        from rawpipe.export.runtime import tflite_engine

        return tflite_engine(
            name, pretrained=pretrained, weights=weights, threads=n_threads, **model_kwargs
        )
    from rawpipe.models.registry import create_model, get_model_spec

    spec = get_model_spec(name)
    if "packed_io" not in spec.capabilities:
        return create_model(name, pretrained=pretrained, weights=weights, **model_kwargs)
    net = create_model(name, pretrained=pretrained, weights=weights, **model_kwargs)
    return NetworkEngine(net, device=device)
