"""Evaluation: the metrics, methods and tables behind ``make eval``, the benchmarks and notebooks.

- :mod:`rawpipe.evaluation.metrics`: CPSNR, dark-region masks, bias, PSNR and chroma noise,
  bias-versus-signal curves, flat-patch level accuracy;
- :mod:`rawpipe.evaluation.methods`: every compared method as ``method(item) -> (3, H, W)``
  linear camera RGB (networks with a chosen inverse VST, any engine, LibRaw AHD ± fastNlMeans);
- :mod:`rawpipe.evaluation.report`: runs over the fixed validation split and the flat dark
  patches, NLM strength tuning, markdown tables;
- :mod:`rawpipe.evaluation.bracket`: the real hdrmerge bracket as an item (dark frame vs a
  registered, exposure-matched brighter frame).
"""

from __future__ import annotations

from rawpipe.evaluation.bracket import bracket_item, register_translation
from rawpipe.evaluation.methods import EngineMethod, LibRawMethod, NetworkMethod, item_noise
from rawpipe.evaluation.metrics import (
    BORDER,
    DARK_FRACTION,
    bias_vs_signal,
    chroma_noise,
    cpsnr,
    dark_mask,
    flat_patch_level_error,
    luminance,
    region_bias,
    region_psnr,
    srgb_linear,
)
from rawpipe.evaluation.report import (
    LEVELS,
    NLM_STRENGTHS,
    evaluate_flat_patches,
    evaluate_levels,
    score_item,
    table_markdown,
    tune_nlm,
)

__all__ = [
    "BORDER",
    "DARK_FRACTION",
    "LEVELS",
    "NLM_STRENGTHS",
    "EngineMethod",
    "LibRawMethod",
    "NetworkMethod",
    "bias_vs_signal",
    "bracket_item",
    "chroma_noise",
    "cpsnr",
    "dark_mask",
    "evaluate_flat_patches",
    "evaluate_levels",
    "flat_patch_level_error",
    "item_noise",
    "luminance",
    "region_bias",
    "region_psnr",
    "register_translation",
    "score_item",
    "srgb_linear",
    "table_markdown",
    "tune_nlm",
]
