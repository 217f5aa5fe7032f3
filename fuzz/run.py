"""Run rawpipe's fuzz targets with atheris (libFuzzer for Python).

    python fuzz/run.py --all --seconds 600          # every target, the time split evenly
    python fuzz/run.py dng_parse --seconds 120      # one target
    python fuzz/run.py --seeds-only                 # just (re)write the seed corpora

Each target runs in its own process (libFuzzer exits on the first finding) with a corpus under
``fuzz/build/corpus/<target>`` that grows across runs, seeded from ``fuzz/build/seeds/<target>``
(valid DNGs written by rawpipe and by tifffile, opcode lists, round-trip parameters). A finding is
written to ``fuzz/build/findings/<target>/crash-*``; copy it into ``fuzz/regressions/<target>/``
once fixed, and ``tests/reliability/test_fuzz_regressions.py`` replays it in every test run.
Exit status: 0 when no target found anything.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"
NAMES = ("dng_parse", "opcodes", "metadata", "roundtrip", "vst")


def write_seeds(build: Path = BUILD) -> None:
    """Deterministic seed inputs per target (a few valid files and their building blocks), in
    ``build/seeds/<target>``."""
    import struct

    import numpy as np
    import tifffile

    from rawpipe.raw import GainMap, RawMetadata, write_dng
    from rawpipe.raw.opcodes import encode_gain_maps

    out = {name: build / "seeds" / name for name in NAMES}
    for d in out.values():
        d.mkdir(parents=True, exist_ok=True)
    gm = GainMap(0, 0, 24, 32, 2, 2, 2, 3, 24.0, 16.0, 0.0, 0.0, (1.0, 1.2, 1.4, 1.1, 1.3, 1.5))
    for i, pattern in enumerate(("RGGB", "BGGR", "GRBG", "GBRG")):
        md = RawMetadata(
            cfa_pattern=pattern,
            black_level=(64.0, 65.0, 66.0, 64.5),
            white_level=4095.0,
            wb_gains=(2.0, 1.0, 1.5),
            noise_profile=((1e-4, 1e-6),) * 3,
            make="Make",
            model="Model",
            iso=400.0,
            exposure_time=0.01,
            gain_maps=(gm,) if i % 2 else (),
            default_crop=(1, 1, 30, 22) if i == 3 else None,
        )
        mosaic = np.random.default_rng(i).integers(0, 4096, (24, 32)).astype(np.uint16)
        tmp = build / "seeds" / f"tmp{i}.dng"
        data = write_dng(tmp, mosaic, md, overwrite=True).read_bytes()
        tmp.unlink()
        for name in ("dng_parse", "metadata"):
            (out[name] / f"rawpipe_{pattern}.dng").write_bytes(data)
    # independent writer: tifffile, big-endian, tiled, with ActiveArea/crop/linearisation tags
    m = np.random.default_rng(9).integers(0, 4096, (24, 32)).astype(np.uint16)
    tags = [
        (33421, 3, 2, (2, 2), True), (33422, 1, 4, bytes((1, 2, 0, 1)), True),
        (50706, 1, 4, bytes((1, 4, 0, 0)), True), (50710, 1, 3, bytes((0, 1, 2)), True),
        (50711, 3, 1, 1, True), (50714, 5, 1, (128, 1), True), (50717, 4, 1, 4095, True),
        (50712, 3, 4, (0, 1000, 3000, 4095), True), (50829, 4, 4, (1, 1, 23, 31), True),
        (50719, 5, 2, (1, 1, 1, 1), True), (50720, 5, 2, (28, 1, 20, 1), True),
        (50721, 10, 9, (7309, 10000, -1403, 10000, -519, 10000, -8474, 10000, 16008, 10000,
                        2622, 10000, -2433, 10000, 2826, 10000, 8064, 10000), True),
        (50778, 3, 1, 21, True), (50728, 5, 3, (1, 2, 1, 1, 2, 3), True),
    ]  # fmt: skip
    for label, kw in (("be", {"byteorder": ">"}), ("tiled", {"tile": (16, 16)}), ("le", {})):
        buf = io.BytesIO()
        tifffile.imwrite(buf, m, photometric=32803, metadata=None, extratags=tags, **kw)
        for name in ("dng_parse", "metadata"):
            (out[name] / f"tifffile_{label}.dng").write_bytes(buf.getvalue())
    blob = encode_gain_maps([gm, gm], (24, 32))
    header = struct.pack("<I", 24) + bytes((32, 0))  # size/offset bytes the target reads first
    (out["opcodes"] / "gainmaps.bin").write_bytes(header + blob)
    other = struct.pack(">I", 2) + struct.pack(">IIII", 1, 0x01030000, 1, 4) + b"\0\0\0\1"
    other += struct.pack(">IIII", 9, 0x01030000, 0, 8) + bytes(8)
    (out["opcodes"] / "mixed.bin").write_bytes(header + other)
    rng = np.random.default_rng(0)
    for i in range(8):
        (out["roundtrip"] / f"params{i}.bin").write_bytes(rng.bytes(400))
        (out["vst"] / f"signal{i}.bin").write_bytes(rng.bytes(300))


def fuzz_one(name: str, libfuzzer_args: list[str]) -> None:
    """In this process: instrument rawpipe, then hand the target to libFuzzer (never returns)."""
    import atheris
    import numpy  # noqa: F401  - heavy dependencies are imported uninstrumented
    import PIL.Image  # noqa: F401
    import tifffile  # noqa: F401
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(HERE))
    with atheris.instrument_imports(include=["rawpipe", "targets"]):
        import targets

        import rawpipe.color
        import rawpipe.image_io
        import rawpipe.noise
        import rawpipe.pipeline
        import rawpipe.raw
        import rawpipe.raw.dng
        import rawpipe.raw.io
        import rawpipe.raw.opcodes
        import rawpipe.raw.writer  # noqa: F401
    target = targets.TARGETS[name]
    atheris.Setup([sys.argv[0], *libfuzzer_args], target)
    atheris.Fuzz()


def run(name: str, seconds: int, extra: list[str]) -> tuple[int, float]:
    corpus = BUILD / "corpus" / name
    findings = BUILD / "findings" / name
    corpus.mkdir(parents=True, exist_ok=True)
    findings.mkdir(parents=True, exist_ok=True)
    args = [
        f"-max_total_time={seconds}",
        "-timeout=20",  # one input taking longer than this is a hang finding
        "-rss_limit_mb=3072",  # and more memory than this an allocation finding
        "-max_len=65536",
        f"-artifact_prefix={findings}/",
        "-print_final_stats=1",
        *extra,
        str(corpus),
        str(BUILD / "seeds" / name),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    t0 = time.monotonic()
    rc = subprocess.call([sys.executable, __file__, "--child", name, *args], env=env)
    return rc, time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        fuzz_one(argv[1], argv[2:])
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("targets", nargs="*", metavar="TARGET", help=f"any of {', '.join(NAMES)}")
    p.add_argument("--all", action="store_true", help="run every target")
    p.add_argument("--seconds", type=int, default=600, help="total time (split over targets)")
    p.add_argument("--seeds-only", action="store_true")
    args, extra = p.parse_known_args(argv)
    unknown = sorted(set(args.targets) - set(NAMES))
    if unknown:
        p.error(f"unknown targets {unknown}; choose from {NAMES}")
    write_seeds()
    if args.seeds_only:
        return 0
    names = list(NAMES) if args.all or not args.targets else args.targets
    each = max(1, args.seconds // len(names))
    summary = []
    for name in names:
        print(f"== fuzz target {name}: {each} s", flush=True)
        rc, took = run(name, each, extra)
        found = sorted((BUILD / "findings" / name).glob("*"))
        summary.append((name, rc, took, found))
    print("\n== fuzz summary")
    bad = 0
    for name, rc, took, found in summary:
        status = "ok" if rc == 0 else f"FINDING (exit {rc})"
        bad += rc != 0
        print(f"{name:>10}: {took:6.0f} s  {status}  findings on disk: {len(found)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
