"""On-device parity and latency for the Android export (host side; see README.md).

    run.py package [--build export/build/android] [--out DIR] [--per-level 2]
    run.py device  [--out DIR] [--serial S] [--runner PATH] [--threads 4]
    run.py local   [--out DIR]      # the same loop with LiteRT on this machine
    run.py compare [--out DIR]

(run.py = python export/device/android/run.py)

`device` = push the package, run every tile with the minimal runner on the phone, pull the
outputs, compare with the ONNX Runtime reference and print PSNR per noise level and latency.
Thin wrapper over rawpipe.export.device.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_OUT = ROOT / "export" / "build" / "device-android"


def main(argv: list[str] | None = None) -> int:
    from rawpipe.export.device import Adb, compare_outputs, make_package, run_package_locally

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("command", choices=["package", "device", "local", "compare"])
    p.add_argument("--build", default=str(ROOT / "export" / "build" / "android"))
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--per-level", type=int, default=2)
    p.add_argument("--serial")
    p.add_argument("--runner", default="/data/local/tmp/rawpipe_runner")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.command == "package":
        make_package(args.build, out, per_level=args.per_level)
        print(out)
        return 0
    if args.command == "device":
        adb = Adb(
            serial=args.serial, runner=args.runner, threads=args.threads, repeats=args.repeats
        )
        adb.push_package(out)
        latency = adb.run_package(out)
        adb.pull_outputs(out, latency)
    elif args.command == "local":
        run_package_locally(out)
    res = compare_outputs(out)
    for level, db in res["psnr_db"].items():
        print(f"{level:8s} PSNR {db:7.2f} dB (≥ {res['threshold']})")
    if "latency_ms" in res:
        lat = res["latency_ms"]
        print(
            f"latency  median {lat['median']:.1f} ms/tile "
            f"(min {lat['min']:.1f}, {lat['tiles']} tiles)"
        )
    print("PASSED" if res["passed"] else "FAILED")
    (out / "result.json").write_text(json.dumps(res, indent=2) + "\n")
    return 0 if res["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
