"""Export the JDD student to phone NPUs: int8 TFLite (Android), W8A8 Core ML (iOS), with an
ONNX Runtime fp32 reference, op lint, parity checks and manifests.

The graph of every artifact is the network only (packed VST-domain RGGB in, 12 channels out at
packed resolution); the host steps around it (pack, VST, (de)quantisation, depth-to-space, exact
unbiased inverse VST, tiling) are described in each ``manifest.json`` and implemented beside it in
a dependency-free numpy reference (:mod:`rawpipe.export.host_reference`).

>>> from rawpipe.export import export_target
>>> result = export_target("android")  # doctest: +SKIP  (what `make export-android` runs)

Public API (imports are lazy: ``import rawpipe.export`` loads no converter):

- converters: :func:`to_onnx`, :func:`to_tflite`, :func:`to_coreml`;
- op listing and lint: :func:`list_tflite_ops`, :func:`list_coreml_ops`, :func:`lint_tflite`,
  :func:`lint_coreml`, :class:`OpLintError`;
- targets: :func:`load_target`, :class:`ExportTarget`, :class:`NoiseBucket`;
- build: :func:`export_target` (convert → lint → parity → manifest), :class:`ParityError`;
- runtimes: :class:`OnnxEngine`, :class:`TfliteEngine`, :class:`MilEngine`, :func:`onnx_engine`,
  :func:`tflite_engine`, :func:`benchmark_backends`;
- Core ML on Linux: :func:`load_mil_functions`, :func:`run_mil` (numpy MIL interpreter).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "to_onnx": "rawpipe.export.onnx",
    "ort_session": "rawpipe.export.onnx",
    "to_tflite": "rawpipe.export.tflite",
    "tflite_io": "rawpipe.export.tflite",
    "list_tflite_ops": "rawpipe.export.tflite",
    "to_coreml": "rawpipe.export.coreml",
    "coreml_io": "rawpipe.export.coreml",
    "list_coreml_ops": "rawpipe.export.coreml",
    "lint_tflite": "rawpipe.export.lint",
    "lint_coreml": "rawpipe.export.lint",
    "lint_ops": "rawpipe.export.lint",
    "LintReport": "rawpipe.export.lint",
    "OpLintError": "rawpipe.export.lint",
    "ExportTarget": "rawpipe.export.targets",
    "NoiseBucket": "rawpipe.export.targets",
    "load_target": "rawpipe.export.targets",
    "make_buckets": "rawpipe.export.targets",
    "select_bucket": "rawpipe.export.targets",
    "export_target": "rawpipe.export.build",
    "ExportResult": "rawpipe.export.build",
    "ParityError": "rawpipe.export.build",
    "OnnxEngine": "rawpipe.export.runtime",
    "TfliteEngine": "rawpipe.export.runtime",
    "MilEngine": "rawpipe.export.runtime",
    "ArtifactError": "rawpipe.export.runtime",
    "onnx_engine": "rawpipe.export.runtime",
    "tflite_engine": "rawpipe.export.runtime",
    "benchmark_backends": "rawpipe.export.runtime",
    "load_mil_functions": "rawpipe.export.mil",
    "run_mil": "rawpipe.export.mil",
    "load_recipe": "rawpipe.export.calibration",
    "calibration_batches": "rawpipe.export.calibration",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'rawpipe.export' has no attribute {name!r}")
    return getattr(importlib.import_module(mod), name)


def __dir__() -> list[str]:
    return __all__
