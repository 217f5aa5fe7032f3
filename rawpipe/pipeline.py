"""``process_raw``: a RAW file in, a clean image out.

The recipe (ARCHITECTURE.md), one small step each::

    read_raw            file → RawImage (uint16 mosaic + RawMetadata); the file is never modified
    normalized          (DN − black) / (white − black), linearisation and gain map applied,
                        unclipped (values below black stay negative: clipping would lift the dark)
    normalize_cfa       any Bayer phase → RGGB with even H, W (exactly undone at the end)
    resolve_noise       explicit → DNG NoiseProfile → calibration profile → estimated from the image
    engine              JDD network (VST → net → depth-to-space → inverse VST) or classical
                        demosaicing, tiled over the image with overlap ≥ its receptive field
    denormalize_cfa     back to the visible raw area → linear camera RGB   ◀ output="linear"
    render_srgb         white balance → camera→sRGB matrix → clip → sRGB curve (→ tone curve)
                        → orientation → 8/16-bit                            ◀ output="srgb"
    write_linear_dng    linear camera RGB as a LinearRaw DNG for editors    ◀ output="dng"
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from rawpipe._atomic import check_output_path
from rawpipe.tiling import TileSpec, run_tiled

__all__ = [
    "DEFAULT_MODEL",
    "FALLBACK_NOISE",
    "Engine",
    "clear_engine_cache",
    "get_engine",
    "process_raw",
    "render_srgb",
    "resolve_noise",
]

Output = Literal["srgb", "linear", "dng"]
DEFAULT_MODEL = "student"
# (shot, read) used when a frame carries no noise information and is too small or flat to estimate
# it from: a low, clean-ISO level (PMRID's ISO 100 in normalised units).
FALLBACK_NOISE = (7e-5, 2e-7)
# Tile edge (raw pixels) for engines that do not say (``default_tile``).
_DEFAULT_TILE = 512
# Rows of the image rendered at once to sRGB: bounds the memory of the host-side post-processing.
_RENDER_ROWS = 512


class Engine:
    """What every engine offers the pipeline (classical demosaicers and JDD networks alike).

    ``engine(mosaic, *, wb_gains, noise)`` maps an RGGB mosaic ``(N,1,H,W)`` (normalised,
    H and W even) to linear camera RGB ``(N,3,H,W)`` without white balance. ``needs_noise`` says
    whether ``noise`` (a NoiseParams) must be given; ``receptive_field`` and ``alignment`` (raw
    pixels) drive the tiling.
    """

    needs_noise: bool = False
    receptive_field: int = 16
    alignment: int = 2

    def __call__(
        self, mosaic: torch.Tensor, *, wb_gains: torch.Tensor, noise: Any = None
    ) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError


_ENGINES = threading.local()  # per thread: a LiteRT interpreter / ORT session is not shared
_ENGINE_CACHE_SIZE = 4


def _engine_stamp(model: str, backend: str) -> tuple:
    """What a cached engine was built from: the shipped weights' and the Android build's
    modification times (retrained weights or a rebuilt artifact give a new engine)."""
    from rawpipe.models.registry import shipped_weights_path

    paths = []
    if not model.startswith("classical"):
        paths.append(shipped_weights_path(model))
    if backend == "tflite":
        from rawpipe.export.build import build_dir

        paths.append(build_dir("android") / "manifest.json")
    return tuple(p.stat().st_mtime_ns if p.is_file() else None for p in paths)


def clear_engine_cache() -> None:
    """Forget the engines :func:`get_engine` keeps for this thread."""
    _ENGINES.__dict__.pop("cache", None)


def get_engine(
    model: str | Engine, backend: str = "torch", *, threads: int | None = None
) -> Engine:
    """The engine for a model name (``"classical"``, ``"student"``, ``"teacher"``) and backend
    (``threads``: ONNX Runtime / LiteRT threads, default torch's thread count).

    Engines are kept per thread (the last few model/backend/threads combinations), so processing
    many files neither reloads weights nor re-prepares an interpreter for each; changed shipped
    weights or a rebuilt Android export give a new engine (:func:`clear_engine_cache` forgets
    them all)."""
    if not isinstance(model, str):
        return model
    n_threads = int(threads) if threads else torch.get_num_threads()
    key = (model, backend, n_threads, _engine_stamp(model, backend))
    cache: dict = _ENGINES.__dict__.setdefault("cache", {})
    if key in cache:
        cache[key] = cache.pop(key)  # most recently used last
        return cache[key]
    engine = _build_engine(model, backend, n_threads)
    cache[key] = engine
    while len(cache) > _ENGINE_CACHE_SIZE:
        cache.pop(next(iter(cache)))
    return engine


def _build_engine(model: str, backend: str, threads: int) -> Engine:
    if model == "classical" or model.startswith("classical:"):
        if backend != "torch":
            raise ValueError(f"model 'classical' runs on the torch backend only, not {backend!r}")
        from rawpipe.models.classical import ClassicalEngine

        method = model.split(":", 1)[1] if ":" in model else "menon2007"
        return ClassicalEngine(method=method)
    from rawpipe.models import create_engine  # networks (student, teacher) and their backends

    return create_engine(model, backend=backend, threads=threads)


def resolve_noise(raw: Any, noise: Any = None) -> Any:
    """Noise parameters for ``raw``, in this order: the explicit argument (NoiseParams, (shot,
    read), a profile or its name), the DNG NoiseProfile tag, a calibration profile matching
    make/model (at the shot's ISO), an estimate from the image itself (Foi et al. 2008)."""
    from rawpipe.noise import NoiseParams
    from rawpipe.noise import resolve_noise as _resolve

    try:
        params, _source = _resolve(raw, noise)
    except ValueError as err:
        if noise is not None:
            raise
        # The estimator needs smooth regions at ≥ 2 signal levels; a tiny or flat frame has none.
        warnings.warn(
            f"noise could not be estimated ({err}); using FALLBACK_NOISE {FALLBACK_NOISE}",
            stacklevel=3,
        )
        return NoiseParams(*FALLBACK_NOISE)
    return params


# Entries of the encoding table render_srgb quantises clipped linear sRGB to: one output code is
# ≥ 12 entries (8 bit) or ≥ 1.2 entries (16 bit) even on the steepest (12.92) part of the curve.
_LUT_BITS = {8: 16, 16: 20}


@functools.lru_cache(maxsize=4)
def _encoding_table(bit_depth: int, tone: bool) -> np.ndarray:
    """Linear sRGB in [0, 1] at ``2**_LUT_BITS`` evenly spaced points → the output code: sRGB
    curve, optional tone curve, rounding to ``bit_depth``."""
    from rawpipe.color import srgb_gamma_compression, tone_curve

    n = 2 ** _LUT_BITS[bit_depth]
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    v = srgb_gamma_compression(torch.linspace(0.0, 1.0, n, dtype=torch.float64))
    if tone:
        v = tone_curve(v)
    peak = float(np.iinfo(dtype).max)
    return np.round(v.clamp(0, 1).numpy() * peak).astype(dtype)


def srgb_renderer(
    metadata: Any, *, bit_depth: int = 8, tone: bool = False
) -> Callable[[np.ndarray], np.ndarray]:
    """``render(strip)``: linear camera RGB rows ``(r, W, 3)`` float32 → sRGB codes ``(r, W, 3)``
    uint8/uint16 (white balance, camera→sRGB, clip, sRGB curve, optional tone curve, rounding;
    no orientation). What :func:`render_srgb` runs strip by strip, and what network engines run
    on each strip as they finish it (``process_image(render=...)``).

    White balance and colour matrix are one 3×3 product per pixel; the curves are one table of
    ``2**16`` (8 bit) or ``2**20`` (16 bit) entries indexed by the clipped value, so a code is
    within one step of rounding the exact curve (measured: identical for > 99 % of pixels).
    NaN renders as 0.
    """
    import cv2

    from rawpipe.color import camera_to_srgb_matrix

    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    table = _encoding_table(bit_depth, bool(tone))
    top = np.float32(len(table) - 1)
    index_dtype = np.uint16 if len(table) <= 65536 else np.uint32
    cam_to_srgb = np.asarray(camera_to_srgb_matrix(np.asarray(metadata.xyz_to_camera)), np.float64)
    m = (cam_to_srgb * np.asarray(metadata.wb_gains, np.float64)[None, :]).astype(np.float32)

    def render(strip: np.ndarray) -> np.ndarray:
        x = cv2.transform(np.ascontiguousarray(strip, dtype=np.float32), m)  # Σ_j m[i,j]·s[j]
        np.fmax(x, np.float32(0.0), out=x)  # fmax/fmin, not clip: NaN becomes 0, never an index
        np.fmin(x, np.float32(1.0), out=x)
        x *= top
        x += np.float32(0.5)
        return table[x.astype(index_dtype)]

    return render


def render_srgb(
    linear: np.ndarray,
    metadata: Any,
    *,
    bit_depth: int = 8,
    tone: bool = False,
    orientation: bool = True,
) -> np.ndarray:
    """Linear camera RGB H×W×3 → sRGB uint8/uint16: white balance, camera→sRGB, clip, sRGB curve,
    optional tone curve, EXIF orientation (:func:`rawpipe.color.process`, then rounding; the
    steps of :func:`srgb_renderer`, in strips of rows to bound memory)."""
    render = srgb_renderer(metadata, bit_depth=bit_depth, tone=tone)
    h, w, _ = linear.shape
    out = np.empty((h, w, 3), dtype=np.uint8 if bit_depth == 8 else np.uint16)
    for y0 in range(0, h, _RENDER_ROWS):
        out[y0 : y0 + _RENDER_ROWS] = render(linear[y0 : y0 + _RENDER_ROWS])
    return _orient(out, metadata) if orientation else out


def _orient(img: np.ndarray, metadata: Any) -> np.ndarray:
    from rawpipe.image_io import apply_orientation

    return apply_orientation(img, int(metadata.orientation or 1))


def _exif_of(metadata: Any) -> dict[str, Any]:
    """EXIF for the output image; values a damaged file makes unwritable are dropped or cleaned
    (EXIF strings are 7-bit ASCII, ISOSpeedRatings is a SHORT, exposure a positive rational)."""

    def text(s: str) -> str:
        return "".join(c if 32 <= ord(c) < 127 else "?" for c in str(s)[:256]).strip()

    def number(v: Any, top: float) -> float | None:
        return float(v) if v is not None and np.isfinite(v) and 0 < v <= top else None

    iso = number(metadata.iso, 65535)
    return {
        "make": text(metadata.make),
        "model": text(metadata.model),
        "iso": round(iso) if iso is not None else None,
        "exposure_time": number(metadata.exposure_time, 1e5),
        "software": "rawpipe",
    }


def _run_engine(
    engine: Engine,
    mosaic: np.ndarray,
    wb_gains: tuple,
    noise: Any,
    tile_size: int | None,
    progress: bool,
) -> np.ndarray:
    """An engine without its own ``process_image`` (the classical demosaicers, a user's Engine)
    tiled over the RGGB mosaic ``(H, W)`` → ``(H, W, 3)`` float32; each kept pixel gets its
    receptive-field radius of real context on every side. Network engines tile themselves
    (:class:`rawpipe.models.engine.PackedEngine`)."""
    align = max(2, int(engine.alignment))
    margin = -(-(int(engine.receptive_field) // 2 + 1) // align) * align
    if tile_size is None:
        tile_size = int(getattr(engine, "default_tile", _DEFAULT_TILE))
    size = max(-(-tile_size // align) * align, 2 * margin + align)
    spec = TileSpec(size=size, margin=margin, align=align)
    x = torch.from_numpy(mosaic)[None, None]
    wb = torch.tensor(wb_gains, dtype=torch.float32)

    def fn(tile: torch.Tensor) -> torch.Tensor:
        return engine(tile, wb_gains=wb, noise=noise)

    with torch.inference_mode():
        rgb = run_tiled(fn, x, spec, out_channels=3, progress=progress)
    return rgb[0].permute(1, 2, 0).contiguous().numpy()


def process_raw(
    path: str | os.PathLike[str],
    *,
    output: Output = "srgb",
    model: str | Engine = DEFAULT_MODEL,
    backend: str = "torch",
    noise: Any = None,
    out_path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    bit_depth: int = 8,
    tone: bool = False,
    tile_size: int | None = None,
    threads: int | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Turn a Bayer RAW file into an image.

    Args:
        path: any Bayer RAW that LibRaw reads (DNG, NEF, CR2, ARW, ...). Never modified.
        output: ``"srgb"`` → H×W×3 uint8 (uint16 with ``bit_depth=16``), orientation applied;
            ``"linear"`` → float32 H×W×3 camera RGB: black removed, divided by (white − black), no
            white balance, no colour matrix, unclipped, same H×W as the visible raw area;
            ``"dng"`` → the same linear data, written as a linear DNG (needs ``out_path``).
        model: ``"student"`` (default: the shipped, trained JDD student), ``"teacher"``,
            ``"classical"`` (Menon 2007; ``"classical:malvar2004"`` etc.), or an Engine instance.
        backend: ``"torch"``, ``"onnx"`` or ``"tflite"`` (networks only).
        noise: NoiseParams or (shot, read) in normalised units; default: DNG NoiseProfile, then a
            calibration profile, then an estimate from the image.
        out_path: write the result here (PNG/JPEG/TIFF by extension for sRGB, ``.dng`` for dng,
            ``.npy``/``.tif`` for linear). Refuses the input path and existing files unless
            ``overwrite=True``. Written atomically.
        tile_size: tile edge in raw pixels (memory stays bounded on any image size); default:
            the engine's ``default_tile`` (512 for the classical engine; 2048 for networks,
            whose receptive-field overlap would otherwise dominate the work). Fixed-shape
            graphs (TFLite) always use their own tile.
        threads: threads of the network runtime: torch intra-op threads (set process-wide), ONNX
            Runtime and LiteRT interpreter threads (default: torch's thread count).

    Returns:
        The image as a numpy array (see ``output``).

    Raises:
        UnsupportedRawError, CorruptRawError: the input cannot be processed (typed, with reason).
        OutputExistsError: ``out_path`` exists (or is the input) and ``overwrite`` is False.
    """
    from rawpipe.raw import normalize_cfa, read_raw

    if output not in ("srgb", "linear", "dng"):
        raise ValueError(f"output must be 'srgb', 'linear' or 'dng', got {output!r}")
    if output == "dng" and out_path is None:
        raise ValueError("output='dng' writes a file: give out_path")
    if out_path is not None:
        check_output_path(out_path, path, overwrite=overwrite)
    if threads is not None:
        torch.set_num_threads(int(threads))

    raw = read_raw(path)
    meta = raw.metadata
    engine = get_engine(model, backend, threads=threads)
    x = raw.normalized()
    x_rggb, pad = normalize_cfa(x, meta.cfa_pattern)
    del x
    noise_params = resolve_noise(raw, noise) if engine.needs_noise else noise
    mosaic = np.ascontiguousarray(x_rggb, dtype=np.float32)
    del x_rggb, raw
    if hasattr(engine, "process_image"):  # networks: host steps once, graph tile by tile
        # sRGB output: each finished strip is rendered at once (no float32 H×W×3 image).
        render = srgb_renderer(meta, bit_depth=bit_depth, tone=tone) if output == "srgb" else None
        full = engine.process_image(
            mosaic, noise=noise_params, tile=tile_size, progress=progress, render=render
        )
    else:
        render = None
        full = _run_engine(engine, mosaic, meta.wb_gains, noise_params, tile_size, progress)
    del mosaic
    h, w = full.shape[:2]
    linear = full[pad.top : h - pad.bottom, pad.left : w - pad.right]
    if output != "srgb" or render is not None:
        linear = np.ascontiguousarray(linear)
    del full

    if output == "linear":
        if out_path is not None:
            _write_linear(Path(out_path), linear, overwrite=overwrite)
        return linear
    if output == "dng":
        from rawpipe.raw import write_linear_dng

        write_linear_dng(out_path, linear, meta, overwrite=overwrite)
        return linear
    if render is not None:  # already rendered by the engine
        srgb = _orient(linear, meta)
    else:
        srgb = render_srgb(linear, meta, bit_depth=bit_depth, tone=tone)
    if out_path is not None:
        from rawpipe.image_io import write_image

        write_image(out_path, srgb, exif=_exif_of(meta), overwrite=overwrite)
    return srgb


def _write_linear(path: Path, linear: np.ndarray, *, overwrite: bool) -> None:
    from rawpipe._atomic import atomic_path

    suffix = path.suffix.lower()
    with atomic_path(path, overwrite=overwrite) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, linear, allow_pickle=False)
        elif suffix in (".tif", ".tiff"):
            import tifffile

            tifffile.imwrite(tmp, linear, photometric="rgb")
        else:
            raise ValueError(f"linear output is written as .npy or .tif(f), not {suffix!r}")


ProgressCallback = Callable[[int, int], None]
