"""Sensor calibration: raw frames → ``IsoNoiseModel`` (→ JSON profile).

``calibrate_profile`` groups frames by ISO, measures Foi-2008 level sets on each frame
(``estimate_noise_mosaic``), pools the frames of one ISO and fits ``(a, b)`` per ISO, then fits the
ISO polynomials (``IsoNoiseModel.fit``). Scene texture only ever *adds* variance to a single-image
measurement, so where several frames of one ISO cover the same signal band, only the levels of the
frame that is smoothest there (lowest variance relative to the pooled fit) are kept: a bracketed
series then takes its dark levels from the long exposure of shadows and its bright levels from
the short exposure of the sky, rather than from textured surfaces.

``calibrate_command(paths, out_path)`` is what ``rawpipe calibrate FRAMES... -o PATH`` runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rawpipe.noise.estimate import (
    LevelSets,
    _pattern_str,
    estimate_noise_mosaic,
    fit_noise_curve,
)
from rawpipe.noise.params import NoiseParams
from rawpipe.noise.profiles import IsoNoiseModel, save_profile

__all__ = [
    "calibrate_command",
    "calibrate_profile",
    "lower_envelope",
    "measure_frame",
    "resolve_noise",
]


def measure_frame(raw: Any) -> tuple[float | None, LevelSets, NoiseParams, tuple[float, float]]:
    """(ISO, level sets, single-frame fit, (low, high) clipping points) of one ``RawImage``/path."""
    from rawpipe.noise.estimate import _auto_clip, _load, pack_sites

    raw = _load(raw)
    meta = raw.metadata
    x = np.asarray(raw.normalized(), np.float64)
    pattern = _pattern_str(meta.cfa_pattern)
    black = np.asarray(meta.black_level, np.float64).reshape(-1)
    low_dn0 = float(np.mean(-black / np.maximum(float(meta.white_level) - black, 1.0)))
    planes = pack_sites(x, pattern)
    clip_low = low_dn0 if float(np.mean(planes <= low_dn0 + 1e-9)) >= 1e-4 else None
    lo, hi = _auto_clip(planes, clip_low, None)
    params, levels = estimate_noise_mosaic(planes, low=lo, high=hi, return_levels=True)  # type: ignore[misc]
    iso = None if meta.iso is None else float(meta.iso)
    return iso, levels, params, (lo, hi)


def lower_envelope(
    frames: Sequence[LevelSets], reference: NoiseParams, *, bands: int = 24
) -> LevelSets:
    """Pool level sets of several frames, keeping per signal band only the smoothest frame's.

    Bands are log-spaced over the pooled signal range; in each band the frame whose levels have
    the lowest median ratio ``var / (a·x + b)`` (``reference``: a fit to all levels) wins.
    """
    if len(frames) == 1:
        return frames[0]
    allm = np.concatenate([f.mean for f in frames])
    lo = max(float(np.min(allm[allm > 0])) if np.any(allm > 0) else 1e-4, 1e-5)
    edges = np.geomspace(lo, max(float(allm.max()), lo * 1.01), bands + 1)
    edges[0], edges[-1] = -np.inf, np.inf
    a, b = reference.mean().shot, reference.mean().read
    keep: list[list[int]] = [[] for _ in frames]
    for k in range(bands):
        best, best_ratio = -1, np.inf
        for i, f in enumerate(frames):
            sel = np.nonzero((f.mean > edges[k]) & (f.mean <= edges[k + 1]))[0]
            if len(sel) == 0:
                continue
            ratio = float(
                np.median(f.var[sel] / np.maximum(a * np.maximum(f.mean[sel], 0) + b, 1e-30))
            )
            if ratio < best_ratio:
                best, best_ratio = i, ratio
        if best >= 0:
            f = frames[best]
            keep[best].extend(
                np.nonzero((f.mean > edges[k]) & (f.mean <= edges[k + 1]))[0].tolist()
            )
    parts = [
        LevelSets(f.mean[idx], f.var[idx], f.count[idx])
        for f, idx in zip(frames, (np.array(sorted(k), int) for k in keep))
        if len(idx)
    ]
    return LevelSets.concat(parts)


def calibrate_profile(
    paths: Sequence[str | os.PathLike[str] | Any],
    *,
    name: str | None = None,
    iso: float | None = None,
    description: str = "",
) -> IsoNoiseModel:
    """Fit an ``IsoNoiseModel`` from raw frames (paths or ``RawImage``s), pooled over channels.

    Frames are grouped by their ISO (``iso`` overrides a missing or wrong tag). Per ISO: level
    sets of every frame, the lower envelope across frames (see the module docstring), one clipped
    maximum-likelihood fit. Across ISOs: ``a`` linear and ``b`` quadratic in ISO (PMRID's forms),
    fewer terms with fewer ISOs; a single ISO scales as an analogue gain (``IsoNoiseModel.fit``).
    """
    from rawpipe.noise.estimate import _load

    if not paths:
        raise ValueError("calibrate_profile: no frames")
    groups: dict[float, list[tuple[LevelSets, NoiseParams, tuple[float, float]]]] = {}
    make = model = None
    for p in paths:
        raw = _load(p)
        make = make or (raw.metadata.make or None)
        model = model or (raw.metadata.model or None)
        f_iso, levels, params, clip = measure_frame(raw)
        key = float(iso) if iso is not None else f_iso
        if key is None:
            raise ValueError(f"{p}: no ISO in the metadata; pass iso=")
        groups.setdefault(key, []).append((levels, params, clip))
        del raw
    points = []
    notes = []
    for key, items in sorted(groups.items()):
        lo = min(c[0] for _, _, c in items)
        hi = max(c[1] for _, _, c in items)
        pooled = LevelSets.concat([ls for ls, _, _ in items])
        ref = fit_noise_curve(pooled, low=lo, high=hi)
        env = lower_envelope([ls for ls, _, _ in items], ref)
        fit = fit_noise_curve(env, low=lo, high=hi)
        points.append((key, fit))
        singles = ", ".join(f"a={p.shot:.3e} b={p.read:.2e}" for _, p, _ in items)
        notes.append(
            f"ISO {key:g}: {len(items)} frame(s) [{singles}] -> a={fit.shot:.4e} b={fit.read:.3e}"
        )
    label = name or "-".join(v for v in (make, model) if v).lower().replace(" ", "-") or "sensor"
    desc = (
        description or "Calibrated by rawpipe.noise.calibrate_profile from single-frame level sets."
    )
    return IsoNoiseModel.fit(
        points,
        name=label,
        make=make,
        model=model,
        description=desc + " " + "; ".join(notes),
    )


def calibrate_command(
    paths: Sequence[str | os.PathLike[str]], out_path: str | os.PathLike[str], **kwargs: Any
) -> IsoNoiseModel:
    """``rawpipe calibrate FRAMES... -o OUT.json``: calibrate and write the JSON profile.

    The profile name defaults to the output file's stem.
    """
    out = Path(out_path)
    kwargs.setdefault("name", out.stem)
    prof = calibrate_profile(list(paths), **kwargs)
    save_profile(prof, out)
    return prof


def resolve_noise(raw: Any, noise: Any = None) -> tuple[NoiseParams, str]:
    """Noise parameters for a ``RawImage`` in ``process_raw``'s order, and where they came from.

    1. ``noise`` given: a ``NoiseParams``, an ``(a, b)`` pair, an ``IsoNoiseModel`` (evaluated at
       the raw's ISO), or a profile name/path (``load_profile``) → ``"argument"``;
    2. the DNG NoiseProfile tag → ``"dng"``;
    3. a packaged profile matching make/model, at the raw's ISO → ``"profile:<name>"``;
    4. the single-image estimate (``estimate_noise``) → ``"estimate"``.
    """
    from rawpipe.noise.estimate import estimate_noise
    from rawpipe.noise.profiles import find_profile, load_profile

    meta = raw.metadata
    iso = meta.iso
    if noise is not None:
        if isinstance(noise, NoiseParams):
            return noise, "argument"
        if isinstance(noise, (str, os.PathLike)):
            noise = load_profile(noise)
        if isinstance(noise, IsoNoiseModel):
            if iso is None:
                raise ValueError("noise profile given but the raw has no ISO")
            return noise.params_at(float(iso)), "argument"
        a, b = noise
        return NoiseParams(a, b), "argument"
    if meta.noise_profile:
        return NoiseParams.from_noise_profile(meta.noise_profile), "dng"
    prof = find_profile(meta.make, meta.model)
    if prof is not None and iso is not None:
        return prof.params_at(float(iso)), f"profile:{prof.name}"
    return estimate_noise(raw), "estimate"
