"""``make demo``: run ``process_raw`` on a real RAW file and print the output path.

Uses the first hdrmerge DNG (fetched and verified on first use). If the data cannot be fetched
(no network to Debian), a DNG is synthesised from a scikit-image photograph instead, so the demo
still shows the whole pipeline.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["main", "synthesize_demo_dng"]


def synthesize_demo_dng(path: Path) -> Path:
    """Write a 12-bit RGGB DNG made from skimage's astronaut (gamma-expanded, mosaicked)."""
    import numpy as np
    import skimage.data

    from rawpipe.raw import CFAPattern, RawMetadata, write_dng

    srgb = skimage.data.astronaut().astype(np.float64) / 255.0
    lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    gains = np.array([2.0, 1.0, 1.6])
    cam = lin / gains  # as a camera would see it before white balance
    mosaic = np.empty(cam.shape[:2])
    mosaic[0::2, 0::2] = cam[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = cam[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = cam[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = cam[1::2, 1::2, 2]
    black, white = 256, 4095
    dn = np.round(black + mosaic * (white - black)).astype(np.uint16)
    from rawpipe.color import XYZ_TO_CAMERA

    cam = "Nikon D5000"
    meta = RawMetadata(
        cfa_pattern=CFAPattern.RGGB,
        black_level=(float(black),) * 4,
        white_level=float(white),
        wb_gains=tuple(float(g) for g in gains),
        xyz_to_camera=tuple(tuple(float(v) for v in row) for row in XYZ_TO_CAMERA[cam]),
        make="rawpipe",
        model="synthetic",
        iso=100.0,
    )
    return write_dng(path, dn, meta, overwrite=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rawpipe.demo", description=__doc__)
    parser.add_argument("--out-dir", default="out/demo")
    parser.add_argument("--model", default=None)
    args = parser.parse_args(argv)

    from rawpipe.data.fetch import DataFetchError, fetch_raw_samples
    from rawpipe.pipeline import DEFAULT_MODEL, process_raw

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        src = fetch_raw_samples(verbose=True)[0]
    except DataFetchError as err:
        print(f"real RAW unavailable ({err}); synthesising one", file=sys.stderr)
        src = synthesize_demo_dng(out_dir / "synthetic.dng")
    model = args.model or DEFAULT_MODEL
    out = out_dir / f"{src.stem}_{model.replace(':', '-')}.jpg"
    t0 = time.perf_counter()
    rgb = process_raw(src, model=model, out_path=out, overwrite=True, progress=True)
    dt = time.perf_counter() - t0
    print(
        f"processed {src} ({rgb.shape[1]}×{rgb.shape[0]}, model={model}) in {dt:.1f} s",
        file=sys.stderr,
    )
    print(out.resolve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
