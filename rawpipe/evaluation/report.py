"""Run methods over the fixed validation split and the flat dark patches; tables for ``make eval``.

>>> from rawpipe.evaluation import LibRawMethod, evaluate_levels   # doctest: +SKIP
>>> table = evaluate_levels({"AHD": LibRawMethod()}, levels=("iso1600",), max_size=256)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from rawpipe.evaluation.metrics import (
    bias_vs_signal,
    chroma_noise,
    cpsnr,
    dark_mask,
    flat_patch_level_error,
    region_bias,
    region_psnr,
)

__all__ = [
    "LEVELS",
    "NLM_STRENGTHS",
    "evaluate_flat_patches",
    "evaluate_levels",
    "score_item",
    "table_markdown",
    "tune_nlm",
]

LEVELS = ("clean", "iso400", "iso1600", "iso6400", "dark")
"""The acceptance levels of issue 4 (:data:`rawpipe.data.VALIDATION_LEVELS`)."""
NLM_STRENGTHS = (0, 2, 3, 4, 6, 8, 11, 15, 20)
"""fastNlMeans strengths (``h`` = ``hColor``, 8-bit units) tried by :func:`tune_nlm`; 0 = none."""

Method = Callable[[dict[str, Any]], torch.Tensor]


def _progress(iterable: Any, desc: str, enabled: bool) -> Any:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False)


def score_item(pred: torch.Tensor, item: Mapping[str, Any]) -> dict[str, Any]:
    """All per-image metrics of one prediction: CPSNR, and over the dark region (darkest 20 % of
    true luminance) PSNR, per-channel bias and chroma noise.

    An item with ``valid`` (``(H, W)`` bool, e.g. :func:`rawpipe.evaluation.bracket_item`) is
    scored on those pixels only (CPSNR becomes the PSNR over them), and one with ``display_gain``
    after multiplying prediction and target by it."""
    wb, m, target = item["wb"], item["cam_to_srgb"], item["target"]
    gain = float(item.get("display_gain", 1.0))
    pred, target = pred * gain, target * gain
    valid = item.get("valid")
    mask = dark_mask(target, wb, m, valid=valid)
    bias = region_bias(pred, target, mask)
    if valid is None:
        overall = cpsnr(pred, target, wb, m)
    else:
        overall = region_psnr(pred, target, wb, m, torch.as_tensor(valid)[None])
    return {
        "cpsnr": overall,
        "dark_psnr": region_psnr(pred, target, wb, m, mask),
        "dark_bias": bias["rel"],
        "dark_bias_abs": bias["abs"],
        "dark_chroma": chroma_noise(pred, target, wb, m, mask),
    }


def _mean_scores(scores: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"images": len(scores)}
    for key in scores[0]:
        vals = np.asarray([s[key] for s in scores], dtype=np.float64)
        out[key] = vals.mean(axis=0).tolist()
    return out


def evaluate_levels(
    methods: Mapping[str, Method],
    *,
    levels: Sequence[str] = LEVELS,
    max_size: int | None = None,
    limit: int | None = None,
    progress: bool = True,
    curves: bool = False,
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{level: {method: scores}}`` over the validation photos (first ``limit``, centre-cropped to
    ``max_size``): mean CPSNR, dark-region PSNR, bias per channel (relative), chroma noise; with
    ``curves`` also the bias-versus-signal curve over all images of the level.

    A method may be a callable of a level (``method.for_level(level)`` returning a method), which
    is how a per-level tuned baseline (:func:`tune_nlm`) takes part."""
    from rawpipe.data import validation_set

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for level in levels:
        items = validation_set(level, max_size=max_size)[:limit]
        out[level] = {}
        for name, method in methods.items():
            fn = method.for_level(level) if hasattr(method, "for_level") else method
            scores, preds = [], []
            for item in _progress(items, f"{level}: {name}", progress):
                pred = fn(item)
                scores.append(score_item(pred, item))
                if curves:
                    preds.append((pred, item))
            res = _mean_scores(scores)
            if curves:
                res["bias_curve"] = _pooled_curve(preds)
            out[level][name] = res
    return out


def _pooled_curve(preds: Sequence[tuple[torch.Tensor, Mapping[str, Any]]]) -> dict[str, list]:
    """Bias versus signal over all images (pixel-weighted per bin)."""
    edges = np.geomspace(1e-4, 1.0, 13)
    acc: dict[int, list[float]] = {}
    for pred, item in preds:
        c = bias_vs_signal(pred, item["target"], item["wb"], item["cam_to_srgb"], edges=edges)
        for s, b, n in zip(c["signal"], c["bias"], c["pixels"]):
            k = int(np.searchsorted(edges, s, side="right")) - 1
            tot = acc.setdefault(k, [0.0, 0.0, 0.0])
            tot[0] += s * n
            tot[1] += s * (1 + b) * n
            tot[2] += n
    keys = sorted(acc)
    return {
        "signal": [acc[k][0] / acc[k][2] for k in keys],
        "bias": [acc[k][1] / acc[k][0] - 1 for k in keys],
        "pixels": [acc[k][2] for k in keys],
    }


class _TunedNLM:
    """LibRaw AHD + fastNlMeans with the strength tuned per level."""

    def __init__(self, strengths: Mapping[str, float]) -> None:
        self.strengths = dict(strengths)

    def for_level(self, level: str) -> Method:
        from rawpipe.evaluation.methods import LibRawMethod

        if level not in self.strengths:
            raise ValueError(f"NLM not tuned for level {level!r} (tuned: {sorted(self.strengths)})")
        return LibRawMethod(self.strengths[level])


def tune_nlm(
    *,
    levels: Sequence[str] = LEVELS,
    strengths: Sequence[float] = NLM_STRENGTHS,
    max_size: int | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> tuple[_TunedNLM, dict[str, dict[float, float]]]:
    """Tune the fastNlMeans strength of the LibRaw AHD baseline per level on the validation set
    (mean CPSNR); returns the tuned method (use it in :func:`evaluate_levels`) and the sweep
    ``{level: {h: cpsnr}}``. AHD runs once per image; only the denoiser is swept."""
    from rawpipe.data import validation_set
    from rawpipe.evaluation.methods import LibRawMethod

    sweep: dict[str, dict[float, float]] = {}
    best: dict[str, float] = {}
    for level in levels:
        items = validation_set(level, max_size=max_size)[:limit]
        per_h: dict[float, list[float]] = {float(h): [] for h in strengths}
        for item in _progress(items, f"tune NLM {level}", progress):
            linear = torch.from_numpy(LibRawMethod.linear_ahd(item))
            wb, m = item["wb"], item["cam_to_srgb"]
            for h in per_h:
                pred = linear if h == 0 else LibRawMethod.denoise_nlm(linear, wb, m, h)
                per_h[h].append(cpsnr(pred, item["target"], wb, m))
        sweep[level] = {h: float(np.mean(v)) for h, v in per_h.items()}
        best[level] = max(sweep[level], key=sweep[level].__getitem__)
    return _TunedNLM(best), sweep


def evaluate_flat_patches(
    methods: Mapping[str, Method], *, patches: Sequence[dict[str, Any]] | None = None,
    progress: bool = True,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Level accuracy on :func:`rawpipe.data.flat_dark_patches` (0.5–20 e⁻, ISO 400/1600/6400):
    per method the worst |error|/tolerance, the number of patches within tolerance, and each
    patch's result (``level``, ``counts``, ``error`` in e⁻ per channel)."""
    from rawpipe.data import flat_dark_patches

    patches = flat_dark_patches() if patches is None else patches
    out: dict[str, dict[str, Any]] = {}
    for name, method in methods.items():
        rows = []
        for p in _progress(patches, f"flat patches: {name}", progress):
            # a per-level method (the tuned NLM) runs with the strength of the patch's level
            fn = method.for_level(p["level"]) if hasattr(method, "for_level") else method
            shot = float(torch.as_tensor(p["shot"]).flatten()[0])
            r = flat_patch_level_error(fn(p), p["target"], shot)
            rows.append({"level": p["level"], "counts": [float(c) for c in p["counts"]], **r})
        out[name] = {
            "worst_ratio": max(max(r["ratio"]) for r in rows),
            "ok": sum(r["ok"] for r in rows),
            "patches": len(rows),
            "rows": rows,
        }
    return out


def table_markdown(
    results: Mapping[str, Mapping[str, Mapping[str, Any]]], key: str = "cpsnr"
) -> str:
    """A markdown table ``method × level`` of ``key`` (a scalar metric of :func:`score_item`)."""
    levels = list(results)
    methods: list[str] = []
    for lvl in levels:
        methods += [m for m in results[lvl] if m not in methods]
    lines = ["| method | " + " | ".join(levels) + " |", "|---|" + "---|" * len(levels)]
    for m in methods:
        cells = []
        for lvl in levels:
            r = results[lvl].get(m)
            cells.append("" if r is None else f"{float(np.mean(r[key])):.2f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
