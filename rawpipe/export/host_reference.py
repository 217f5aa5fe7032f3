"""Host steps around an exported rawpipe JDD graph: a dependency-free numpy reference.

This file is copied beside every exported artifact (``export/build/<target>/host_reference.py``)
together with ``manifest.json`` and ``inverse_vst_table.npy``. It needs only numpy and is what an
app developer ports to Kotlin or Swift: the graph (TFLite / Core ML) does the network only, the host
does everything below. The numbers (scales, zero points, table grid) come from the manifest; the
rawpipe test-suite checks this file against the torch pipeline (``rawpipe.models.jdd``).

Per image (``mosaic``: float32 ``(H, W)``, normalised ``(DN − black) / (white − black)``, RGGB
phase, unclipped; ``shot``/``read``: the four per-channel noise parameters R, Gr, Gb, B in the same
normalised units, ``Var = shot·x + read``)::

    pad          reflect (mirror) at bottom/right to a multiple of ``align`` and ≥ the tile
    tile         fixed-size tiles, origins multiples of ``align``, overlap ``margin`` (manifest)
    per tile:
      pack_rggb            (h, w) → (4, h/2, w/2): R, Gr, Gb, B
      generalized_anscombe per channel, a floored at ``shot_floor``, b at 0
      quantize             to the graph's input dtype (int8 graphs; scale/zero point per bucket)
      layout               NCHW → NHWC for NHWC graphs
      ── graph ──          (4, h/2, w/2) → (12, h/2, w/2), VST domain
      dequantize, layout back
      depth_to_space       CRD: channel 4c + 2dy + dx → colour c at pixel (2i+dy, 2j+dx)
      inverse_vst          exact unbiased inverse (table lookup), per colour R, G, B with the R,
                           mean(Gr, Gb), B parameters
    stitch       keep each tile's interior (drop ``margin`` on inner edges), crop the padding

The result is linear camera RGB ``(3, H, W)`` (no white balance, not clipped). Rendering (white
balance, colour matrix, sRGB curve) follows as for any raw developer.

Example (with the LiteRT interpreter as the graph runner)::

    steps = HostSteps.load("export/build/android/manifest.json")
    rgb = steps.run_image(mosaic, shot, read, steps.tflite_runner())
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "HostSteps",
    "colour_params",
    "depth_to_space",
    "dequantize",
    "generalized_anscombe",
    "inverse_vst",
    "pack_rggb",
    "quantize",
    "select_bucket",
    "tile_layout",
]


# ----------------------------------------------------------------------------------------------
# per-pixel steps
# ----------------------------------------------------------------------------------------------


def pack_rggb(mosaic: np.ndarray) -> np.ndarray:
    """RGGB mosaic ``(H, W)`` (H, W even) → packed ``(4, H/2, W/2)`` in the order R, Gr, Gb, B."""
    m = np.asarray(mosaic, np.float32)
    return np.stack([m[0::2, 0::2], m[0::2, 1::2], m[1::2, 0::2], m[1::2, 1::2]])


def floor_params(shot: Sequence[float], read: Sequence[float], shot_floor: float) -> tuple:
    """``(max(a, shot_floor), max(b, 0))`` per channel, float32 (what the VST pair uses)."""
    a = np.maximum(np.asarray(shot, np.float32), np.float32(shot_floor))
    b = np.maximum(np.asarray(read, np.float32), np.float32(0.0))
    return a, b


def generalized_anscombe(packed: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``f(x) = (2/a)·sqrt(max(0, a·x + (3/8)·a² + b))`` per channel (``a``, ``b``: 4 values)."""
    a = np.asarray(a, np.float32).reshape(-1, 1, 1)
    b = np.asarray(b, np.float32).reshape(-1, 1, 1)
    x = np.asarray(packed, np.float32)
    return (np.float32(2.0) / a) * np.sqrt(np.maximum(a * x + np.float32(0.375) * a * a + b, 0.0))


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: str = "int8") -> np.ndarray:
    """``clip(round(x / scale) + zero_point)`` to ``dtype`` (round half to even)."""
    info = np.iinfo(np.dtype(dtype))
    q = np.rint(np.asarray(x, np.float32) / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """``(q − zero_point)·scale`` as float32."""
    return (np.asarray(q, np.float32) - np.float32(zero_point)) * np.float32(scale)


def depth_to_space(x: np.ndarray, block: int = 2) -> np.ndarray:
    """``(C·b², h, w)`` → ``(C, h·b, w·b)``, CRD order (torch ``pixel_shuffle``; ONNX
    ``DepthToSpace`` with ``mode="CRD"``): channel ``c·b² + dy·b + dx`` → pixel
    ``(i·b+dy, j·b+dx)``."""
    c, h, w = x.shape
    co = c // (block * block)
    y = x.reshape(co, block, block, h, w).transpose(0, 3, 1, 4, 2)
    return y.reshape(co, h * block, w * block)


def colour_params(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-RGGB parameters (4) → per output colour (3): R, mean(Gr, Gb), B."""

    def rgb(p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, np.float32)
        return np.array([p[0], np.float32(0.5) * (p[1] + p[2]), p[3]], np.float32)

    return rgb(a), rgb(b)


def _bilinear(tab: np.ndarray, fi: np.ndarray, fj: np.ndarray) -> np.ndarray:
    """Bilinear lookup in an evenly spaced table; linear continuation along i outside the table
    (the weight is not clamped), clamped along j."""
    n_i, n_j = tab.shape
    i0 = np.clip(np.floor(fi), 0.0, float(n_i - 2))
    wi = fi - i0
    j0 = np.clip(np.floor(fj), 0.0, float(n_j - 2))
    wj = np.clip(fj - j0, 0.0, 1.0)
    flat = tab.reshape(-1)
    base = (i0 * float(n_j) + j0).astype(np.int64)
    v00, v01 = flat[base], flat[base + 1]
    v10, v11 = flat[base + n_j], flat[base + n_j + 1]
    one = np.float32(1.0)
    return (one - wi) * ((one - wj) * v00 + wj * v01) + wi * ((one - wj) * v10 + wj * v11)


def inverse_vst(d: np.ndarray, a: np.ndarray, b: np.ndarray, table: dict[str, Any]) -> np.ndarray:
    """Exact unbiased inverse of the generalized Anscombe transform (Mäkitalo & Foi, IEEE TIP
    22(1), 2013), per colour channel of ``d`` ``(3, H, W)`` with ``a``, ``b`` (3 values each).

    In counts (``s = sqrt(b)/a``): ``y = A(D, s) + R(D − D_A, log1p(s/s0))`` where ``A`` is the
    asymptotic inverse ``(D/2)² − 1/8 − s²`` (continued linearly below ``D_A = 2·sqrt(1/8 + s²)``)
    and ``R`` the tabulated residual (``table["inv"]``, grid ``d_lo + i·hd``, ``j·hr``). Returns
    ``a·y``. Not clipped: values below the smallest reachable ``D`` continue linearly (negative).
    """
    d = np.asarray(d, np.float32)
    a = np.asarray(a, np.float32).reshape(-1, 1, 1)
    b = np.asarray(b, np.float32).reshape(-1, 1, 1)
    s = np.sqrt(b) / a
    da = np.float32(2.0) * np.sqrt(s * s + np.float32(0.125))
    half = np.float32(0.5) * d
    asym = np.where(
        d >= da, (half - s) * (half + s) - np.float32(0.125), (np.float32(0.5) * da) * (d - da)
    )
    fi = (d - da - np.float32(table["d_lo"])) / np.float32(table["hd"])
    fj = np.log1p(s / np.float32(table["s0"])) / np.float32(table["hr"])
    fj = np.broadcast_to(fj, d.shape)
    y = asym + _bilinear(np.asarray(table["inv"], np.float32), fi, fj)
    return (a * y).astype(np.float32)


def select_bucket(
    buckets: Sequence[dict[str, Any]], shot: Sequence[float], shot_floor: float
) -> int:
    """Index of the quantised graph for this noise: the bucket ``lo ≤ a < hi`` of the smallest of
    the four shot gains (floored), which sets the largest VST value."""
    a = max(min(float(v) for v in shot), shot_floor)
    for i, bk in enumerate(buckets):
        hi = math.inf if bk["hi"] is None else float(bk["hi"])
        if float(bk["lo"]) <= a < hi:
            return i
    return len(buckets) - 1


# ----------------------------------------------------------------------------------------------
# tiling
# ----------------------------------------------------------------------------------------------


def tile_layout(length: int, size: int, margin: int, align: int) -> list[tuple[int, int, int]]:
    """``(tile_start, keep_start, keep_stop)`` along one axis of a padded image of ``length`` ≥
    ``size`` (``length − size`` a multiple of ``align``): tiles of ``size``, origins multiples of
    ``align``, neighbouring tiles overlapping so that each keeps its interior beyond ``margin``."""
    if length <= size:
        return [(0, 0, length)]
    out: list[tuple[int, int, int]] = []
    keep = 0
    while keep < length:
        start = max(0, min(keep - margin, length - size))
        start -= start % align
        stop = length if start + size >= length else start + size - margin
        out.append((start, keep, stop))
        keep = stop
    return out


def _pad_reflect(x: np.ndarray, target_h: int, target_w: int) -> np.ndarray:
    """Mirror-pad ``(H, W)`` at the bottom/right (even amounts keep the CFA phase); repeated
    mirroring if the image is smaller than the padding."""
    while x.shape[0] < target_h or x.shape[1] < target_w:
        ph = min(target_h - x.shape[0], x.shape[0] - 1) if x.shape[0] < target_h else 0
        pw = min(target_w - x.shape[1], x.shape[1] - 1) if x.shape[1] < target_w else 0
        if (target_h - x.shape[0]) % 2 == 0:
            ph -= ph % 2
        if (target_w - x.shape[1]) % 2 == 0:
            pw -= pw % 2
        x = np.pad(x, ((0, ph), (0, pw)), mode="reflect")
    return x


# ----------------------------------------------------------------------------------------------
# the manifest-driven runner
# ----------------------------------------------------------------------------------------------


class HostSteps:
    """The host side of one exported artifact, configured from its ``manifest.json``."""

    def __init__(self, manifest: dict[str, Any], directory: str = ".") -> None:
        self.manifest = manifest
        self.directory = directory
        graph = manifest["graph"]
        self.layout = graph["layout"]
        self.input_dtype = graph["input"]["dtype"]
        self.output_dtype = graph["output"]["dtype"]
        self.packed_tile = tuple(graph["input"]["packed_tile"])
        host = manifest["host"]
        self.shot_floor = float(host["vst"]["shot_floor"])
        tiling = host["tiling"]
        self.tile = int(tiling["tile"])
        self.margin = int(tiling["margin"])
        self.align = int(tiling["align"])
        inv = dict(host["inverse_vst"])
        inv["inv"] = np.load(os.path.join(directory, inv["table"]))
        self.table = inv
        self.buckets = manifest["buckets"]

    @classmethod
    def load(cls, manifest_path: str) -> HostSteps:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
        return cls(manifest, os.path.dirname(os.path.abspath(manifest_path)))

    def bucket(self, shot: Sequence[float]) -> int:
        return select_bucket(self.buckets, shot, self.shot_floor)

    def preprocess(self, tile: np.ndarray, shot: Sequence[float], read: Sequence[float]) -> Any:
        """A raw tile ``(h, w)`` → the graph input (quantised and laid out as the graph wants)."""
        a, b = floor_params(shot, read, self.shot_floor)
        x = generalized_anscombe(pack_rggb(tile), a, b)[None]  # (1, 4, h, w)
        if self.layout == "NHWC":
            x = x.transpose(0, 2, 3, 1)
        if self.input_dtype in ("int8", "uint8"):
            q = self.buckets[self.bucket(shot)]["input"]
            x = quantize(x, q["scale"], q["zero_point"], self.input_dtype)
        return np.ascontiguousarray(x)

    def postprocess(
        self, y: np.ndarray, shot: Sequence[float], read: Sequence[float]
    ) -> np.ndarray:
        """The graph output → linear camera RGB ``(3, 2h, 2w)`` of the tile."""
        if self.output_dtype in ("int8", "uint8"):
            q = self.buckets[self.bucket(shot)]["output"]
            y = dequantize(y, q["scale"], q["zero_point"])
        y = np.asarray(y, np.float32)
        if self.layout == "NHWC":
            y = y.transpose(0, 3, 1, 2)
        a, b = colour_params(*floor_params(shot, read, self.shot_floor))
        return inverse_vst(depth_to_space(y[0]), a, b, self.table)

    def run_tile(self, tile, shot, read, run_graph: Callable[[Any, int], Any]) -> np.ndarray:
        """One fixed-size tile through pre → ``run_graph(input, bucket)`` → post."""
        return self.postprocess(
            run_graph(self.preprocess(tile, shot, read), self.bucket(shot)), shot, read
        )

    def run_image(self, mosaic, shot, read, run_graph: Callable[[Any, int], Any]) -> np.ndarray:
        """A whole RGGB mosaic ``(H, W)`` (H, W even) → linear camera RGB ``(3, H, W)``."""
        h0, w0 = mosaic.shape
        if h0 % 2 or w0 % 2:
            raise ValueError(f"mosaic must have even height and width, got {h0}×{w0}")

        def target(n: int) -> int:
            return max(-(-n // self.align) * self.align, self.tile)

        x = _pad_reflect(np.asarray(mosaic, np.float32), target(h0), target(w0))
        h, w = x.shape
        out = np.empty((3, h, w), np.float32)
        for ys, ky0, ky1 in tile_layout(h, self.tile, self.margin, self.align):
            for xs, kx0, kx1 in tile_layout(w, self.tile, self.margin, self.align):
                t = x[ys : ys + self.tile, xs : xs + self.tile]
                y = self.run_tile(t, shot, read, run_graph)
                out[:, ky0:ky1, kx0:kx1] = y[:, ky0 - ys : ky1 - ys, kx0 - xs : kx1 - xs]
        return out[:, :h0, :w0]

    def tflite_runner(self, model_path: str | None = None, threads: int = 2) -> Callable:
        """A ``run_graph`` for the LiteRT interpreter (``ai_edge_litert``), one signature per
        bucket (the manifest's ``buckets[i]["signature"]``)."""
        from ai_edge_litert.interpreter import Interpreter

        path = model_path or os.path.join(self.directory, self.manifest["artifact"]["file"])
        interp = Interpreter(model_path=path, num_threads=threads)
        runners: dict[int, Any] = {}

        def run(x: Any, bucket: int) -> Any:
            bk = self.buckets[bucket]
            if bucket not in runners:
                runners[bucket] = interp.get_signature_runner(bk["signature"])
            out = runners[bucket](**{bk["input"]["name"]: x})
            return out[bk["output"]["name"]]

        return run
