"""Export targets (``export/android.toml``, ``export/ios.toml``) as typed values, and noise buckets.

A target says what to build (format, model, fixed tile shape, I/O layout and dtype), how to
quantise it (recipe, calibration set, noise buckets), which ops the artifact may contain and the
parity thresholds it must meet. :func:`load_target` reads one; every field can be overridden with
:func:`dataclasses.replace` (the tests build tiny-tile variants that way).

Noise buckets: the network runs in the generalized-Anscombe domain, whose range is about
``2/sqrt(a)`` (a the shot-noise gain): ≈630 for noise-free input (a floored at 1e-5), ≈32 at
ISO 6400. One set of int8 activation scales cannot cover that (one calibration over all levels gave
28 dB int8-vs-fp32 PSNR at ISO 6400 against 52 dB when calibrated per level), so each artifact holds
one quantised graph per bucket of ``a`` (a TFLite signature, a Core ML function) with the same
weights and its own activation scales; the host picks the bucket from the noise parameters.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SHOT_FLOOR",
    "TARGET_NAMES",
    "ExportTarget",
    "NoiseBucket",
    "load_target",
    "make_buckets",
    "repo_root",
    "select_bucket",
]

TARGET_NAMES = ("android", "ios")
SHOT_FLOOR = 1e-5
"""The VST's floor on the shot gain (``rawpipe.models.jdd.SHOT_FLOOR``; checked in the tests)."""
SHOT_MAX = 1.2e-2
"""Largest shot gain of the training range (calibration of the last bucket stops here)."""


def repo_root() -> Path:
    """The checkout root (where ``export/`` and ``calibration/`` live): ``$RAWPIPE_ROOT`` or the
    parent of the installed ``rawpipe`` package."""
    env = os.environ.get("RAWPIPE_ROOT")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class NoiseBucket:
    """Shot gains ``lo ≤ a < hi`` served by one quantised graph (named ``name``)."""

    name: str
    lo: float
    hi: float

    def contains(self, a: float) -> bool:
        return self.lo <= a < self.hi

    @property
    def calibration_range(self) -> tuple[float, float]:
        """``(a_min, a_max)`` to draw calibration noise from (the open top bucket stops at
        :data:`SHOT_MAX`)."""
        return self.lo, min(self.hi, SHOT_MAX)


def make_buckets(edges: Sequence[float]) -> tuple[NoiseBucket, ...]:
    """Buckets ``[SHOT_FLOOR, e0), [e0, e1), …, [e_last, ∞)`` named ``b0, b1, …``."""
    edges = [float(e) for e in edges]
    if any(b <= a for a, b in itertools.pairwise(edges)) or (edges and edges[0] <= SHOT_FLOOR):
        raise ValueError(f"bucket edges must increase and exceed {SHOT_FLOOR}: {edges}")
    bounds = [SHOT_FLOOR, *edges, math.inf]
    return tuple(
        NoiseBucket(f"b{i}", lo, hi) for i, (lo, hi) in enumerate(itertools.pairwise(bounds))
    )


def select_bucket(buckets: Sequence[NoiseBucket], shot: Any) -> int:
    """Index of the bucket for noise with shot gain(s) ``shot`` (a float or the 4 RGGB values):
    the smallest gain, floored at :data:`SHOT_FLOOR`, decides (it sets the largest VST value)."""
    try:
        values = [float(v) for v in shot]
    except TypeError:
        values = [float(shot)]
    a = max(min(values), SHOT_FLOOR)
    for i, b in enumerate(buckets):
        if b.contains(a):
            return i
    return len(buckets) - 1


@dataclass(frozen=True)
class ExportTarget:
    """One export target (see ``export/android.toml``). Sizes in packed pixels."""

    name: str
    format: str  # "tflite" | "coreml"
    model: str = "student"
    artifact: str = "rawpipe_{model}.bin"
    tile: tuple[int, int] = (256, 256)
    layout: str = "NHWC"
    io_dtype: str = "int8"
    minimum_deployment_target: str | None = None
    quantize: bool = True
    recipe: str = ""
    activation_scheme: str = "affine"
    activation_observer: str = "min_max"
    calibration: str = "calibration/ptq/recipe.toml"
    buckets: tuple[NoiseBucket, ...] = field(default_factory=lambda: make_buckets([]))
    allowed_ops: frozenset[str] = frozenset()
    forbid_float: bool = True
    forbid_dynamic: bool = True
    ort_max_abs: float = 1e-4
    psnr_min_db: float = 45.0
    tiles_per_level: int = 4
    source: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def artifact_name(self) -> str:
        return self.artifact.format(model=self.model)

    @property
    def raw_tile(self) -> tuple[int, int]:
        """The tile in raw (mosaic) pixels: 2× the packed tile."""
        return 2 * self.tile[0], 2 * self.tile[1]

    def replace(self, **changes: Any) -> ExportTarget:
        return dataclasses.replace(self, **changes)

    def calibration_path(self) -> Path:
        p = Path(self.calibration)
        return p if p.is_absolute() else repo_root() / p


def load_target(name_or_path: str | os.PathLike[str]) -> ExportTarget:
    """Read ``export/<name>.toml`` (``"android"``, ``"ios"``) or a toml file path."""
    p = Path(name_or_path)
    if str(name_or_path) in TARGET_NAMES:
        p = repo_root() / "export" / f"{name_or_path}.toml"
    if not p.is_file():
        raise FileNotFoundError(f"no export target {str(name_or_path)!r} (looked for {p})")
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    with open(p, "rb") as f:
        d = tomllib.load(f)
    graph, quant = d.get("graph", {}), d.get("quantization", {})
    ops, parity = d.get("ops", {}), d.get("parity", {})
    fmt = d["format"]
    if fmt not in ("tflite", "coreml"):
        raise ValueError(f"{p}: format must be 'tflite' or 'coreml', got {fmt!r}")
    tile = tuple(int(v) for v in graph.get("tile", (256, 256)))
    if len(tile) != 2:
        raise ValueError(f"{p}: graph.tile must be [h, w] (packed pixels), got {tile}")
    psnr_key = "int8_psnr_min_db" if fmt == "tflite" else "w8a8_psnr_min_db"
    return ExportTarget(
        name=d.get("name", p.stem),
        format=fmt,
        model=d.get("model", "student"),
        artifact=d.get(
            "artifact", "rawpipe_{model}." + ("tflite" if fmt == "tflite" else "mlpackage")
        ),
        tile=tile,  # type: ignore[arg-type]
        layout=graph.get("layout", "NHWC" if fmt == "tflite" else "NCHW"),
        io_dtype=graph.get("io_dtype", "int8" if fmt == "tflite" else "float32"),
        minimum_deployment_target=graph.get("minimum_deployment_target"),
        quantize=bool(quant.get("int8", quant.get("w8a8", True))),
        recipe=quant.get("recipe", ""),
        activation_scheme=quant.get("activation_scheme", "affine"),
        activation_observer=quant.get("activation_observer", "min_max"),
        calibration=quant.get("calibration", "calibration/ptq/recipe.toml"),
        buckets=make_buckets(quant.get("bucket_edges", [])),
        allowed_ops=frozenset(ops.get("allowed", [])),
        forbid_float=bool(ops.get("forbid_float", True)),
        forbid_dynamic=bool(ops.get("forbid_dynamic", True)),
        ort_max_abs=float(parity.get("ort_max_abs", 1e-4)),
        psnr_min_db=float(parity.get(psnr_key, 45.0)),
        tiles_per_level=int(parity.get("tiles_per_level", 4)),
        source=str(p),
        raw=d,
    )
