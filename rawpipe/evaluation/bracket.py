"""A real exposure bracket as an evaluation item: a dark frame scored against a brighter one.

The hdrmerge DNGs (../shared/DATA.md) are one handheld Nikon D5000 scene at ISO 200, bracketed
1/640, 1/160 and 1/40 s. :func:`bracket_item` turns a dark frame (sample2, 1/640 s) and a frame 4×
brighter (sample1) into an item of the same shape as :func:`rawpipe.data.validation_set`'s:

    crop          a window of both frames (``size`` raw pixels, centred by default)
    register      the reference is shifted by whole 2×2 cells (phase correlation of the green
                  planes, so the CFA phase is kept): handheld frames are not aligned
    reference     the bright frame demosaiced (Menon 2007: at 4× the light its noise is small)
                  and divided by the measured exposure ratio (a robust fit over unclipped
                  pixels, close to the nominal 4)
    valid         pixels unclipped in the bright frame and away from the registration border

Scoring (:func:`rawpipe.evaluation.score_item`) multiplies prediction and reference by
``display_gain`` (the exposure ratio), i.e. the dark frame is brightened to the bright frame's
level, and restricts every metric to ``valid``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

__all__ = ["bracket_item", "register_translation"]

CLIP_LEVEL = 0.9
"""Bright-frame pixels at or above this normalised level (any channel) are excluded."""


def register_translation(moving: np.ndarray, fixed: np.ndarray) -> tuple[int, int]:
    """Integer shift ``(dy, dx)`` with ``moving[y + dy, x + dx] ≈ fixed[y, x]``: the peak of the
    phase correlation (normalised cross-power spectrum) of the two same-size 2-D images, each
    mean-removed and Hann-windowed. Shifts are found modulo the image size (|shift| < size/2)."""
    a = np.asarray(fixed, np.float64)
    b = np.asarray(moving, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"need two 2-D images of one size, got {a.shape} and {b.shape}")
    win = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa = np.fft.rfft2((a - a.mean()) * win)
    fb = np.fft.rfft2((b - b.mean()) * win)
    cross = fb * np.conj(fa)
    cross /= np.maximum(np.abs(cross), 1e-30)
    corr = np.fft.irfft2(cross, s=a.shape)
    py, px = np.unravel_index(int(np.argmax(corr)), corr.shape)
    h, w = a.shape
    dy = py - h if py > h // 2 else py
    dx = px - w if px > w // 2 else px
    # the correlation peaks at d with moving[y + d] ≈ fixed[y] (modulo the size)
    return int(dy), int(dx)


def _packed_green(x: np.ndarray) -> np.ndarray:
    return 0.5 * (x[0::2, 1::2] + x[1::2, 0::2])


def bracket_item(
    dark: str | os.PathLike[str],
    bright: str | os.PathLike[str],
    *,
    size: int = 512,
    center: tuple[float, float] = (0.5, 0.5),
    noise: Any = None,
    max_shift: int = 64,
) -> dict[str, Any]:
    """The dark frame ``dark`` with a registered, exposure-matched reference from ``bright``.

    Args:
        size: crop side in raw pixels (even); ``center``: its centre as fractions of the frame.
        noise: the dark frame's NoiseParams (default: resolved as ``process_raw`` does — DNG tag,
            calibration profile, estimate).
        max_shift: search margin in raw pixels around the crop for the registration.

    Returns:
        an item (``mosaic``, ``target``, ``shot``, ``read``, ``wb``, ``cam_to_srgb``) plus
        ``valid`` ``(H, W)`` bool, ``display_gain`` (the measured exposure ratio),
        ``nominal_gain`` (from the exposure times), ``shift`` (raw pixels), ``name``.
    """
    from rawpipe.color import camera_to_srgb_matrix
    from rawpipe.models.classical import ClassicalEngine
    from rawpipe.pipeline import resolve_noise
    from rawpipe.raw import normalize_cfa, read_raw

    if size % 2 or size < 64:
        raise ValueError(f"size must be even and >= 64, got {size}")
    raw_d, raw_b = read_raw(dark), read_raw(bright)
    if raw_d.mosaic.shape != raw_b.mosaic.shape or raw_d.cfa_pattern != raw_b.cfa_pattern:
        raise ValueError("the two frames must come from the same sensor mode (size, CFA)")
    xd, _ = normalize_cfa(raw_d.normalized(), raw_d.cfa_pattern)
    xb, _ = normalize_cfa(raw_b.normalized(), raw_b.cfa_pattern)
    h, w = xd.shape
    m = 2 * (max_shift // 2)
    y0 = int(np.clip(round(center[0] * h - size / 2), m, h - size - m)) // 2 * 2
    x0 = int(np.clip(round(center[1] * w - size / 2), m, w - size - m)) // 2 * 2
    crop_d = xd[y0 : y0 + size, x0 : x0 + size]

    # register on the green planes (packed pixels: whole 2×2 cells keep the CFA phase)
    big_b = xb[y0 - m : y0 + size + m, x0 - m : x0 + size + m]
    g_fixed = np.pad(_packed_green(crop_d), m // 2, mode="reflect")
    dy, dx = register_translation(_packed_green(big_b), g_fixed)
    dy, dx = int(np.clip(dy, -m // 2, m // 2)), int(np.clip(dx, -m // 2, m // 2))
    ys, xs = y0 + 2 * dy, x0 + 2 * dx
    crop_b = xb[ys : ys + size, xs : xs + size]

    md = raw_d.metadata
    wb = torch.tensor(md.wb_gains, dtype=torch.float32)
    engine = ClassicalEngine()
    with torch.inference_mode():
        ref = engine(torch.from_numpy(np.ascontiguousarray(crop_b))[None, None], wb_gains=wb)[0]
    ref = ref.double()

    # exposure ratio: least squares of bright ≈ g·dark over unclipped, smoothed pixels
    import cv2

    with torch.inference_mode():
        dem_d = engine(torch.from_numpy(np.ascontiguousarray(crop_d))[None, None], wb_gains=wb)[0]
    blur = [
        np.stack([cv2.blur(ch, (9, 9)) for ch in c.numpy().astype(np.float64)])
        for c in (dem_d.double(), ref)
    ]
    a, b = blur[0].ravel(), blur[1].ravel()
    unclipped = (ref.numpy() < CLIP_LEVEL).all(axis=0)
    sel = np.concatenate([unclipped.ravel()] * 3)
    sel &= (b > 0.02) & (b < CLIP_LEVEL)
    gain = float((a[sel] * b[sel]).sum() / (a[sel] ** 2).sum())

    valid = torch.from_numpy(unclipped)
    border = 16
    valid[:border] = valid[-border:] = False
    valid[:, :border] = valid[:, -border:] = False

    params = resolve_noise(raw_d, noise)
    from rawpipe.models.jdd import noise_tensors

    shot, read = noise_tensors(params.shot, params.read, 1)
    nominal = (
        float(raw_b.metadata.exposure_time / raw_d.metadata.exposure_time)
        if raw_d.metadata.exposure_time and raw_b.metadata.exposure_time
        else float("nan")
    )
    cam = np.asarray(camera_to_srgb_matrix(np.asarray(md.xyz_to_camera)), dtype=np.float32)
    return {
        "mosaic": torch.from_numpy(np.ascontiguousarray(crop_d))[None],
        "target": (ref / gain).float(),
        "shot": shot[0],
        "read": read[0],
        "wb": wb,
        "cam_to_srgb": torch.from_numpy(cam),
        "black_level": float(np.mean(md.black_level)),  # DN, for the LibRaw baseline
        "white_level": float(md.white_level),
        "valid": valid,
        "display_gain": gain,
        "nominal_gain": nominal,
        "shift": (2 * dy, 2 * dx),
        "name": f"{os.path.basename(str(dark))} vs {os.path.basename(str(bright))}",
    }
