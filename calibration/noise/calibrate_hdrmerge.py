"""Calibrate the Nikon D5000 (ISO 200) from the three hdrmerge DNGs and record the measurements.

    .venv/bin/python calibration/noise/calibrate_hdrmerge.py

Data: sample1/2/3.dng from Debian's hdrmerge source package (fetched by rawpipe.data.fetch; one
handheld scene bracketed 1/640, 1/160, 1/40 s at ISO 200). Writes
- calibration/profiles/nikon-d5000.json   (the `rawpipe calibrate` output; make/model from the
  files)
- rawpipe/profiles/nikon-d5000.json       (the same profile, shipped as package data)
- calibration/noise/results/hdrmerge-d5000.json  (per-frame level sets and fits, and the
  exposure-ratio cross-check below)

Cross-check independent of the single-image method: texture scales with exposure squared, noise
linearly. For 96x96 blocks of the green plane unclipped in all frames, the mean squared detail
coefficient per signal ``r_k = var_k / x_k`` follows ``a + T·x_k``; two exposures of the same block
give ``a = (r_i·x_j − r_j·x_i)/(x_j − x_i)``. Frames are handheld, so blocks only roughly match; the
median over blocks is reported.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from rawpipe.data.fetch import fetch_raw_samples
from rawpipe.noise.calibrate import calibrate_command, measure_frame
from rawpipe.noise.estimate import _window_detail, _window_mean, pack_sites
from rawpipe.raw import read_raw

ROOT = Path(__file__).resolve().parents[2]
BLOCK = 96


def exposure_ratio_check(paths: list[Path]) -> dict[str, float]:
    stats = []
    for p in paths:
        raw = read_raw(p)
        planes = pack_sites(
            np.asarray(raw.normalized(), np.float64), raw.metadata.cfa_pattern.value
        )
        g = planes[1]
        d, m = _window_detail(g), _window_mean(g)
        h, w = (d.shape[0] // BLOCK) * BLOCK, (d.shape[1] // BLOCK) * BLOCK
        shape = (h // BLOCK, BLOCK, w // BLOCK, BLOCK)
        stats.append(
            (
                (d[:h, :w] ** 2).reshape(shape).mean((1, 3)),
                m[:h, :w].reshape(shape).mean((1, 3)),
                m[:h, :w].reshape(shape).max((1, 3)),
            )
        )
    (v2, x2, _), (v1, x1, m1), (v3, x3, m3) = stats[1], stats[0], stats[2]  # 1/640, 1/160, 1/40
    ok = (m3 < 0.9) & (m1 < 0.9) & (x2 > 0.005)
    r1, r2, r3 = v1 / x1, v2 / x2, v3 / x3
    a21 = (r2 * x1 - r1 * x2) / (x1 - x2)
    a13 = (r1 * x3 - r3 * x1) / (x3 - x1)
    return {
        "blocks": int(ok.sum()),
        "a_from_1_640_and_1_160": float(np.median(a21[ok])),
        "a_from_1_160_and_1_40": float(np.median(a13[ok])),
    }


def main() -> None:
    paths = fetch_raw_samples()
    t = time.time()
    frames = []
    for p in paths:
        iso, levels, params, clip = measure_frame(p)
        frames.append(
            {
                "file": p.name,
                "iso": iso,
                "single_frame_fit": {"a": params.shot, "b": params.read},
                "clip": list(clip),
                "levels": {
                    "mean": levels.mean.round(6).tolist(),
                    "var": levels.var.tolist(),
                    "count": levels.count.astype(int).tolist(),
                },
            }
        )
        print(f"{p.name}: ISO {iso} a = {params.shot:.4e} b = {params.read:.3e}")
    prof = calibrate_command(paths, ROOT / "calibration" / "profiles" / "nikon-d5000.json")
    (ROOT / "rawpipe" / "profiles" / "nikon-d5000.json").write_text(prof.to_json())
    check = exposure_ratio_check(paths)
    p200 = prof.params_at(200)
    print(f"profile at ISO 200: a = {p200.shot:.4e} b = {p200.read:.3e}")
    print("exposure-ratio cross-check:", check)
    out = ROOT / "calibration" / "noise" / "results" / "hdrmerge-d5000.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "frames": frames,
                "profile_iso200": {"a": p200.shot, "b": p200.read},
                "exposure_ratio_check": check,
                "seconds": round(time.time() - t, 1),
            },
            indent=1,
        )
        + "\n"
    )
    print("wrote", out)


if __name__ == "__main__":
    main()
