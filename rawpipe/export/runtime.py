"""Engines that run an exported graph behind the pipeline's engine interface, and CPU timings.

Every engine here is a :class:`rawpipe.models.engine.PackedEngine`, like the torch
:class:`~rawpipe.models.engine.NetworkEngine`::

    engine(mosaic (N,1,H,W) normalised RGGB, *, wb_gains, noise: NoiseParams) -> (N,3,H,W)
    engine.process_image(mosaic (H,W), noise=...) -> (H,W,3)     # what process_raw runs

and runs exactly the host steps of :mod:`rawpipe.models.jdd` (VST once per image → graph per
tile → inverse VST per strip); only the graph call differs:

- :class:`OnnxEngine` — ONNX Runtime, fp32, dynamic H/W (tiles of ``default_tile`` raw pixels;
  any multiple of ``alignment``, smaller inputs are mirror-padded and cropped back);
- :class:`TfliteEngine` — the LiteRT interpreter on the fixed-shape int8 (or fp32) ``.tflite``:
  the noise bucket's signature, host-side quantisation with the graph's own scale/zero point,
  NHWC; the int8 output codes are stitched as int8 and decoded by a 256-entry inverse-VST table
  per colour (exactly dequantise + inverse). ``fixed_tile`` (raw pixels) is the graph's tile; any
  other size is tiled with overlap ≥ the receptive field (``fixed_size=True`` tiling);
- :class:`MilEngine` — the Core ML package's MIL program in the numpy interpreter
  (:mod:`rawpipe.export.mil`); slow, for parity checks on Linux.

Attributes (raw pixels): ``needs_noise = True``, ``receptive_field`` (2·packed RF + 1, as
``NetworkEngine``), ``alignment`` (2·total stride), ``fixed_tile`` (``None`` or the tile edge),
``margin`` (the tiling overlap these engines use: 2·halo rounded up to ``alignment``).

:func:`onnx_engine` / :func:`tflite_engine` build them for a registered model name
(``rawpipe.models.engine.create_engine(name, backend="onnx" | "tflite")`` dispatches here).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rawpipe.errors import RawpipeError
from rawpipe.models.engine import PackedEngine

__all__ = [
    "ArtifactError",
    "MilEngine",
    "OnnxEngine",
    "TfliteEngine",
    "benchmark_backends",
    "onnx_engine",
    "tflite_engine",
]


class ArtifactError(RawpipeError):
    """An exported artifact is missing, or was built from other weights than the model's."""


class _GraphEngine(PackedEngine):
    """Host steps (:class:`~rawpipe.models.engine.PackedEngine`) around an exported graph:
    subclasses implement ``_run_graph(x_vst (1,4,h,w), shot (4,)) -> (1,12,h,w)`` float32 or
    override ``_graph_for`` (quantised output codes)."""

    def __init__(self, *, halo: int, total_stride: int, fixed_tile: int | None, name: str) -> None:
        self.name = name
        self._set_geometry(halo=halo, total_stride=total_stride)
        self.fixed_tile = None if fixed_tile is None else int(fixed_tile)

    def _run_graph(self, x: Tensor, shot: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def _graph_for(self, shot: Tensor) -> tuple[Any, Any]:
        def graph(x: Tensor) -> Tensor:
            return self._run_graph(x, shot)

        return graph, None


class OnnxEngine(_GraphEngine):
    """ONNX Runtime (CPU, fp32) on a dynamic-H/W ``.onnx`` of a packed-I/O network."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        halo: int,
        total_stride: int,
        threads: int = 1,
        name: str = "onnx",
    ) -> None:
        from rawpipe.export.onnx import ort_session

        super().__init__(halo=halo, total_stride=total_stride, fixed_tile=None, name=name)
        self.path = Path(path)
        self.session = ort_session(self.path, threads=threads)
        shape = self.session.get_inputs()[0].shape
        if all(isinstance(d, int) for d in shape[2:]):
            if shape[2] != shape[3]:
                raise ValueError(f"a fixed-shape ONNX graph must be square, got {shape}")
            self.fixed_tile = 2 * int(shape[2])

    def _run_graph(self, x: Tensor, shot: Tensor) -> Tensor:
        from rawpipe.export.onnx import run_ort

        return torch.from_numpy(run_ort(self.session, x))


class TfliteEngine(_GraphEngine):
    """The LiteRT interpreter on a fixed-tile ``.tflite`` (int8 or fp32; NHWC or NCHW I/O)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        halo: int,
        total_stride: int,
        buckets: Sequence[Any] | None = None,
        threads: int = 1,
        delegates: bool = True,
        name: str = "tflite",
    ) -> None:
        from rawpipe.export.targets import make_buckets
        from rawpipe.export.tflite import tflite_interpreter, tflite_io

        self.path = Path(path)
        self.io = tflite_io(self.path)
        self.signatures = list(self.io)
        self.buckets = tuple(buckets) if buckets is not None else make_buckets([])
        if len(self.signatures) > 1 and [b.name for b in self.buckets] != self.signatures:
            raise ValueError(
                f"buckets {[b.name for b in self.buckets]} != signatures {self.signatures}"
            )
        shape = self.io[self.signatures[0]]["input"].shape
        self.nhwc = shape[-1] in (1, 4) and shape[1] not in (1, 4)
        ph, pw = (shape[1], shape[2]) if self.nhwc else (shape[2], shape[3])
        if ph != pw:
            raise ValueError(f"non-square tiles are not supported by the engine: {shape}")
        super().__init__(halo=halo, total_stride=total_stride, fixed_tile=2 * int(ph), name=name)
        # XNNPACK (the default delegate) is what a phone CPU runs; lint uses no delegates.
        self.interpreter = tflite_interpreter(self.path, threads=threads, delegates=delegates)
        self._runners: dict[str, Any] = {}

    def signature_for(self, shot: Tensor) -> str:
        from rawpipe.export.targets import select_bucket

        if len(self.signatures) == 1:
            return self.signatures[0]
        return self.buckets[select_bucket(self.buckets, shot.tolist())].name

    def _quantize_input(self, x: Tensor, signature: str) -> Tensor:
        """Float32 VST values → the signature's input (integer codes: scale, zero point, round
        half to even, saturation — numpy's ``rint`` and torch's ``round`` agree), same layout."""
        xi = self.io[signature]["input"]
        if xi.scale is None:
            return x
        dtype = {"int8": torch.int8, "uint8": torch.uint8, "int16": torch.int16}[str(xi.dtype)]
        info = torch.iinfo(dtype)
        q = x.div(np.float32(xi.scale)).round_().add_(xi.zero_point)
        return q.clamp_(info.min, info.max).to(dtype)

    def _invoke(self, x: Tensor, signature: str) -> Tensor:
        """Graph only: NCHW ``(1,4,h,w)`` graph-dtype input (any memory layout) → the graph's
        output as an NCHW view ``(1,12,h,w)`` (channels-last memory for an NHWC graph)."""
        io = self.io[signature]
        arr = (x.permute(0, 2, 3, 1) if self.nhwc else x).numpy()
        arr = np.ascontiguousarray(arr, dtype=np.dtype(io["input"].dtype))
        if signature not in self._runners:
            self._runners[signature] = self.interpreter.get_signature_runner(signature)
        y = torch.from_numpy(self._runners[signature](**{io["input"].name: arr})[io["output"].name])
        return y.permute(0, 3, 1, 2) if self.nhwc else y

    def run_codes(self, x: np.ndarray, signature: str) -> np.ndarray:
        """Graph only: NCHW float32 VST input ``(1,4,h,w)`` → the graph's own output as an NCHW
        view ``(1,12,h,w)`` (int8 codes of a quantised graph, else float32); the input is
        quantised with the signature's scale and zero point."""
        q = self._quantize_input(torch.from_numpy(np.asarray(x, np.float32)), signature)
        return self._invoke(q, signature).numpy()

    def run_packed(self, x: np.ndarray, signature: str) -> np.ndarray:
        """:meth:`run_codes`, dequantised with the signature's own scale and zero point:
        NCHW float32 ``(1,12,h,w)``."""
        y = self.run_codes(x, signature)
        yo = self.io[signature]["output"]
        if yo.scale is not None:
            y = (y.astype(np.float32) - np.float32(yo.zero_point)) * np.float32(yo.scale)
        return np.ascontiguousarray(y, np.float32)

    def _encode(self, vst: Tensor, shot: Tensor) -> Tensor:
        # Quantise the whole image once; channels-last memory makes each NHWC tile a row copy.
        q = self._quantize_input(vst, self.signature_for(shot))
        return q.contiguous(memory_format=torch.channels_last) if self.nhwc else q

    def _graph_for(self, shot: Tensor) -> tuple[Any, Any]:
        signature = self.signature_for(shot)
        yo = self.io[signature]["output"]

        def graph(x: Tensor) -> Tensor:  # tiles of _encode's codes; output codes stay codes
            if x.is_floating_point() and self.io[signature]["input"].scale is not None:
                x = self._quantize_input(x, signature)
            return self._invoke(x, signature)

        if yo.scale is None:
            return graph, None
        dtype = {"int8": torch.int8, "uint8": torch.uint8, "int16": torch.int16}[str(yo.dtype)]
        return graph, (float(yo.scale), int(yo.zero_point), dtype)


class MilEngine(_GraphEngine):
    """A Core ML package's MIL program(s) run by the numpy interpreter (fp32 NCHW I/O)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        halo: int,
        total_stride: int,
        buckets: Sequence[Any] | None = None,
        name: str = "coreml-mil",
    ) -> None:
        from rawpipe.export.mil import load_mil_functions
        from rawpipe.export.targets import make_buckets

        self.path = Path(path)
        self.functions = load_mil_functions(self.path)
        self.buckets = tuple(buckets) if buckets is not None else make_buckets([])
        names = list(self.functions)
        if len(names) > 1 and sorted(b.name for b in self.buckets) != sorted(names):
            raise ValueError(f"buckets {[b.name for b in self.buckets]} != functions {names}")
        fn = self.functions[names[0]]
        ((shape, _dtype),) = fn.inputs.values()
        if shape[2] != shape[3]:
            raise ValueError(f"non-square tiles are not supported by the engine: {shape}")
        super().__init__(
            halo=halo, total_stride=total_stride, fixed_tile=2 * int(shape[2]), name=name
        )

    def function_for(self, shot: Tensor) -> str:
        from rawpipe.export.targets import select_bucket

        if len(self.functions) == 1:
            return next(iter(self.functions))
        return self.buckets[select_bucket(self.buckets, shot.tolist())].name

    def run_packed(self, x: np.ndarray, function: str) -> np.ndarray:
        from rawpipe.export.mil import run_mil

        fn = self.functions[function]
        (name,) = fn.inputs
        (out,) = run_mil(fn, {name: x.astype(np.float32)}).values()
        return np.asarray(out, np.float32)

    def _run_graph(self, x: Tensor, shot: Tensor) -> Tensor:
        return torch.from_numpy(self.run_packed(x.numpy(), self.function_for(shot)))


# ----------------------------------------------------------------------------------------------
# engines for registered models (create_engine dispatch)
# ----------------------------------------------------------------------------------------------


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 over the model's state dict (names, shapes, float32 bytes): ties an artifact to the
    weights it was built from."""
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        t = v.detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.float().numpy().tobytes() if t.is_floating_point() else t.numpy().tobytes())
    return h.hexdigest()


def _cache_dir() -> Path:
    base = os.environ.get("RAWPIPE_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "rawpipe"
    )
    return Path(base) / "export"


def onnx_engine(
    name: str,
    *,
    pretrained: Any = True,
    weights: Any = None,
    threads: int = 1,
    **model_kwargs: Any,
) -> OnnxEngine:
    """The ONNX Runtime engine of registered model ``name``: exported once per weights into
    ``$RAWPIPE_CACHE/export/`` (dynamic H/W) and reused."""
    from rawpipe.export.onnx import to_onnx
    from rawpipe.models import create_model

    net = create_model(name, pretrained=pretrained, weights=weights, **model_kwargs).eval()
    digest = weights_digest(net)[:16]
    path = _cache_dir() / f"{name}-{digest}.onnx"
    if not path.is_file():
        to_onnx(net, path, tile=(4 * net.total_stride, 4 * net.total_stride), dynamic=True)
    return OnnxEngine(
        path, halo=net.halo, total_stride=net.total_stride, threads=threads, name=f"{name}/onnx"
    )


def tflite_engine(
    name: str,
    *,
    pretrained: Any = True,
    weights: Any = None,
    artifact: str | os.PathLike[str] | None = None,
    threads: int = 1,
    check_weights: bool = True,
    **model_kwargs: Any,
) -> TfliteEngine:
    """The LiteRT engine of registered model ``name`` from a built Android export
    (``artifact``: a ``manifest.json`` or its directory; default ``export/build/android``).

    With ``check_weights`` the manifest's weights digest must match the model's current weights
    (else :class:`ArtifactError`: rebuild with ``make export-android``)."""
    from rawpipe.export.build import build_dir
    from rawpipe.export.targets import make_buckets
    from rawpipe.models import create_model

    p = Path(artifact) if artifact is not None else build_dir("android")
    manifest_path = p / "manifest.json" if p.is_dir() else p
    if not manifest_path.is_file():
        raise ArtifactError(
            f"no TFLite export at {manifest_path}; build it with `make export-android` "
            "(or `rawpipe export --target android`)"
        )
    manifest = json.loads(manifest_path.read_text())
    if manifest["model"]["name"] != name:
        raise ArtifactError(
            f"{manifest_path} holds model {manifest['model']['name']!r}, not {name!r}"
        )
    net = create_model(name, pretrained=pretrained, weights=weights, **model_kwargs)
    if check_weights and manifest["model"]["weights_sha256"] != weights_digest(net):
        raise ArtifactError(
            f"{manifest_path} was built from other weights than {name!r} has now; rebuild it "
            "with `make export-android`"
        )
    edges = [b["hi"] for b in manifest["buckets"][:-1]]
    return TfliteEngine(
        manifest_path.parent / manifest["artifact"]["file"],
        halo=net.halo,
        total_stride=net.total_stride,
        buckets=make_buckets(edges),
        threads=threads,
        name=f"{name}/tflite",
    )


# ----------------------------------------------------------------------------------------------
# timings
# ----------------------------------------------------------------------------------------------


def _time(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def benchmark_backends(
    *,
    int8_tflite: str | os.PathLike[str],
    fp32_tflite: str | os.PathLike[str] | None,
    onnx: str | os.PathLike[str],
    tiles: Sequence[np.ndarray],
    signature: str | None = None,
    threads: int = 2,
    repeats: int = 5,
) -> dict[str, Any]:
    """CPU time of the graph alone on the same VST-domain tiles ``(1,4,h,w)`` float32 for TFLite
    int8 (XNNPACK delegate, as on a phone CPU; host (de)quantisation excluded), TFLite fp32 and
    ONNX Runtime fp32, ``threads`` threads each. Returns per backend the median seconds per tile
    and milliseconds per output megapixel (``(2h)·(2w)`` RGB pixels per tile)."""
    from rawpipe.export.onnx import ort_session
    from rawpipe.export.tflite import tflite_interpreter, tflite_io

    h, w = tiles[0].shape[-2:]
    mp = (2 * h) * (2 * w) / 1e6
    results: dict[str, Any] = {
        "threads": threads,
        "tile_packed": [int(h), int(w)],
        "repeats": repeats,
    }

    def tfl(path: str | os.PathLike[str], sig: str | None) -> dict[str, Any]:
        io = tflite_io(path)
        key = sig or next(iter(io))
        interp = tflite_interpreter(path, threads=threads, delegates=True)
        runner = interp.get_signature_runner(key)
        xi = io[key]["input"]
        nhwc = xi.shape[-1] == tiles[0].shape[1]
        feeds = []
        for t in tiles:
            x = t.transpose(0, 2, 3, 1) if nhwc else t
            if xi.scale is not None:
                info = np.iinfo(np.dtype(xi.dtype))
                x = np.clip(np.rint(x / xi.scale) + xi.zero_point, info.min, info.max)
            feeds.append(np.ascontiguousarray(x.astype(xi.dtype)))
        times = _time(lambda: [runner(**{xi.name: f}) for f in feeds], repeats)
        return {"signature": key, "dtype": xi.dtype}, times

    rows: dict[str, tuple[dict[str, Any], list[float]]] = {}
    rows["tflite_int8"] = tfl(int8_tflite, signature)
    if fp32_tflite is not None:
        rows["tflite_fp32"] = tfl(fp32_tflite, None)
    sess = ort_session(onnx, threads=threads)
    name = sess.get_inputs()[0].name
    rows["onnxruntime_fp32"] = (
        {"dtype": "float32"},
        _time(lambda: [sess.run(None, {name: t}) for t in tiles], repeats),
    )
    for key, (info, times) in rows.items():
        per_tile = float(np.median(times)) / len(tiles)
        results[key] = {**info, "s_per_tile": per_tile, "ms_per_mp": 1e3 * per_tile / mp}
    return results
