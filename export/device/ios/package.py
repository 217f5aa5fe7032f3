"""Package the iOS export for the XCTest in RawpipeParityTests/ (host side; see README.md).

    python export/device/ios/package.py [--build export/build/ios]
                                        [--out export/build/device-ios] [--per-level 2]

Writes the folder the test bundle needs: package.json, manifest.json, inverse_vst_table.npy, the
.mlpackage, and per tile `tile_NNN.in.npy` (float32 NCHW graph input) and `tile_NNN.ref.npy`
(ONNX Runtime fp32 final linear RGB). Thin wrapper over rawpipe.export.device.make_package.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def main(argv: list[str] | None = None) -> int:
    from rawpipe.export.device import make_package

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--build", default=str(ROOT / "export" / "build" / "ios"))
    p.add_argument("--out", default=str(ROOT / "export" / "build" / "device-ios"))
    p.add_argument("--per-level", type=int, default=2)
    args = p.parse_args(argv)
    print(make_package(args.build, args.out, per_level=args.per_level))
    return 0


if __name__ == "__main__":
    sys.exit(main())
