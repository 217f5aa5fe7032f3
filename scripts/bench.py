"""``make bench``: wall time and peak memory of ``process_raw`` against LibRaw, OpenCV and
demosaicnet, measured side by side in one run on this machine.

    python scripts/bench.py                      # 12 MP synthetic DNG + the real hdrmerge DNGs
    python scripts/bench.py --quick              # 2 MP only, fewer cases (a smoke run)
    python scripts/bench.py --memory             # also the 6/12/24 MP peak-RSS series

Every case runs in a fresh subprocess (so its peak RSS is its own): one warm-up call (model
load, graph build), then ``--repeats`` timed calls of the whole job, from the file path to the
sRGB array in memory; the median is reported. Cases:

- ``rawpy AHD``: ``rawpy.imread(path).postprocess(use_camera_wb=True)`` (LibRaw AHD, 8-bit sRGB);
- ``OpenCV + NLM``: rawpipe's RAW reader, OpenCV's bilinear Bayer demosaicing, the sRGB
  rendering, ``fastNlMeansDenoisingColored`` (h = 5);
- ``demosaicnet``: the noise-free Bayer network (Gharbi et al. 2016) on the sRGB-domain mosaic,
  tiled (its weights converted to safetensors outside rawpipe; it is 143 GMAC/MP, so it runs on a
  crop and is reported in MP/s);
- ``process_raw`` for each model × backend: classical (torch), student (torch, onnx, tflite
  int8), teacher (torch).

Writes ``bench.json`` and ``bench.md`` into ``--out`` (default ``build/bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "rawpy AHD": {"kind": "rawpy"},
    "OpenCV + NLM": {"kind": "opencv"},
    "demosaicnet": {"kind": "demosaicnet"},
    "classical (torch)": {"kind": "process_raw", "model": "classical", "backend": "torch"},
    "student (torch)": {"kind": "process_raw", "model": "student", "backend": "torch"},
    "student (onnx)": {"kind": "process_raw", "model": "student", "backend": "onnx"},
    "student int8 (tflite)": {"kind": "process_raw", "model": "student", "backend": "tflite"},
    "teacher (torch)": {"kind": "process_raw", "model": "teacher", "backend": "torch"},
}
QUICK = ("rawpy AHD", "classical (torch)", "student (torch)", "student int8 (tflite)")
DEMOSAICNET_CROP = 1024  # raw pixels per side of the crop demosaicnet runs on


# ---------------------------------------------------------------------------------- inputs


def synthetic_dng(path: Path, megapixels: float, seed: int = 0) -> Path:
    """A 12-bit RGGB DNG of about ``megapixels`` MP (3:2) tiled from a real photo, with noise."""
    import skimage.data
    import torch

    from rawpipe.color import XYZ_TO_CAMERA
    from rawpipe.data import mosaic_rggb
    from rawpipe.noise import NoiseParams, add_poisson_gaussian_noise
    from rawpipe.raw import CFAPattern, RawMetadata, write_dng

    if path.is_file():
        return path
    w = round((megapixels * 1e6 * 1.5) ** 0.5) // 2 * 2
    h = round(w / 1.5) // 2 * 2
    srgb = skimage.data.astronaut().astype(np.float64) / 255.0
    lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    reps = (-(-h // lin.shape[0]), -(-w // lin.shape[1]), 1)
    lin = np.tile(lin, reps)[:h, :w] / np.array([2.0, 1.0, 1.6])
    mosaic = mosaic_rggb(torch.from_numpy(np.ascontiguousarray(lin.transpose(2, 0, 1))))[0]
    noisy = add_poisson_gaussian_noise(mosaic.numpy(), NoiseParams(1e-3, 3.2e-6), seed)
    black, white = 256, 4095
    dn = np.clip(np.round(black + noisy * (white - black)), 0, white).astype(np.uint16)
    meta = RawMetadata(
        cfa_pattern=CFAPattern.RGGB,
        black_level=(float(black),) * 4,
        white_level=float(white),
        wb_gains=(2.0, 1.0, 1.6),
        xyz_to_camera=tuple(tuple(float(v) for v in r) for r in XYZ_TO_CAMERA["Nikon D5000"]),
        make="rawpipe",
        model="bench",
        iso=1600.0,
        noise_profile=((1e-3, 3.2e-6),) * 3,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_dng(path, dn, meta, overwrite=True)


# ------------------------------------------------------------------------- one case (child)


def _job(case: dict, path: str, threads: int):
    """The callable that does the whole job once, and the megapixels it processes."""
    kind = case["kind"]
    if kind == "rawpy":
        import rawpy

        def run():
            with rawpy.imread(path) as r:
                return r.postprocess(use_camera_wb=True)

    elif kind == "opencv":
        import cv2
        import torch

        from rawpipe.color import camera_to_srgb_matrix, process
        from rawpipe.raw import normalize_cfa, read_raw

        cv2.setNumThreads(threads)

        def run():
            raw = read_raw(path)
            x, _ = normalize_cfa(raw.normalized(), raw.cfa_pattern)
            u16 = np.clip(x * 65535.0, 0, 65535).astype(np.uint16)
            rgb = cv2.cvtColor(u16, cv2.COLOR_BayerBG2RGB).astype(np.float32) / 65535.0
            m = camera_to_srgb_matrix(np.asarray(raw.metadata.xyz_to_camera))
            t = torch.from_numpy(rgb.transpose(2, 0, 1))[None]
            s = process(t, torch.tensor(raw.metadata.wb_gains), torch.as_tensor(m).float())
            u8 = (s[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
            return cv2.fastNlMeansDenoisingColored(u8, None, 5, 5, 7, 21)

    elif kind == "demosaicnet":
        import torch

        sys.path.insert(0, str(ROOT / "scripts"))
        from demosaicnet_baseline import demosaic_srgb, load_demosaicnet

        from rawpipe.color import srgb_gamma_compression
        from rawpipe.raw import normalize_cfa, read_raw

        net = load_demosaicnet()

        def run():
            raw = read_raw(path)
            x, _ = normalize_cfa(raw.normalized(), raw.cfa_pattern)
            h, w = x.shape
            c = DEMOSAICNET_CROP
            y0, x0 = (h - c) // 4 * 2, (w - c) // 4 * 2
            crop = torch.from_numpy(np.ascontiguousarray(x[y0 : y0 + c, x0 : x0 + c]))
            srgb = srgb_gamma_compression(crop.clamp(0, 1))[None].expand(3, c, c)
            return demosaic_srgb(net, srgb.contiguous())

    else:
        import rawpipe

        def run():
            return rawpipe.process_raw(
                path, model=case["model"], backend=case["backend"], threads=threads
            )

    return run


def run_case(name: str, path: str, threads: int, repeats: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    case = CASES[name]
    job = _job(case, path, threads)
    t0 = time.perf_counter()
    out = job()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = job()
        times.append(time.perf_counter() - t0)
    shape = tuple(int(s) for s in np.asarray(out).shape) if hasattr(out, "shape") else None
    if case["kind"] == "demosaicnet":
        mp = DEMOSAICNET_CROP**2 / 1e6
    else:
        from rawpipe.raw import read_raw

        raw = read_raw(path)
        mp = raw.height * raw.width / 1e6
    wall = statistics.median(times)
    return {
        "case": name,
        "input": path,
        "megapixels": mp,
        "first_call_s": first,
        "wall_s": wall,
        "times_s": times,
        "mp_per_s": mp / wall,
        "peak_rss_mb": peak_rss_mb(),
        "output_shape": shape,
        "threads": threads,
    }


def peak_rss_mb() -> float:
    """This process's peak resident set (MB): Linux's ``VmHWM``, which starts afresh at
    ``exec``. ``ru_maxrss`` does not: Linux carries it over ``fork`` + ``exec``, so a child of a
    parent that once held a 24 MP frame would report the parent's peak. Elsewhere ``ru_maxrss``
    (kB on Linux, bytes on macOS)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0)


def _child(name: str, path: Path, threads: int, repeats: int, timeout: float) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--input",
        str(path),
        "--threads",
        str(threads),
        "--repeats",
        str(repeats),
    ]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"case": name, "input": str(path), "error": f"timed out after {timeout:.0f} s"}
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        return {"case": name, "input": str(path), "error": " | ".join(tail)}
    return json.loads(p.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- the report


def model_macs() -> dict:
    sys.path.insert(0, str(ROOT / "scripts"))
    from evaluate import model_stats

    out = {name: model_stats(name) for name in ("student", "teacher")}
    out["demosaicnet"] = {"gmac_per_mp": 143.0, "params": 561_000, "note": "REFERENCES.md"}
    return out


def markdown(rows: list[dict], macs: dict, memory: list[dict], threads: int) -> str:
    lines = [
        f"CPU: {os.cpu_count()} cores visible, {threads} threads per case; median of the "
        "timed calls after one warm-up call; peak RSS of the case's own process.",
        "",
    ]
    by_input: dict[str, list[dict]] = {}
    for r in rows:
        by_input.setdefault(r["input"], []).append(r)
    for inp, rs in by_input.items():
        ahd = next(
            (r["wall_s"] for r in rs if r.get("case") == "rawpy AHD" and "wall_s" in r), None
        )
        lines += [
            f"**{Path(inp).name}**",
            "",
            "| case | MP | wall (s) | × rawpy AHD | MP/s | peak RSS (MB) |",
            "|---|---|---|---|---|---|",
        ]
        for r in rs:
            if "error" in r:
                lines.append(f"| {r['case']} | | failed: {r['error'][:80]} | | | |")
                continue
            ratio = f"{r['wall_s'] / ahd:.2f}" if ahd and r["case"] != "demosaicnet" else "–"
            lines.append(
                f"| {r['case']} | {r['megapixels']:.1f} | {r['wall_s']:.2f} | {ratio} | "
                f"{r['mp_per_s']:.2f} | {r['peak_rss_mb']:.0f} |"
            )
        lines.append("")
    lines += ["| model | GMAC / output MP | parameters |", "|---|---|---|"]
    for m, s in macs.items():
        lines.append(f"| {m} | {s['gmac_per_mp']:.2f} | {int(s['params']):,} |")
    if memory:
        lines += [
            "",
            "**Peak RSS versus size** (`process_raw`, student int8 TFLite and torch)",
            "",
            "| case | MP | wall (s) | peak RSS (MB) |",
            "|---|---|---|---|",
        ]
        for r in memory:
            if "error" in r:
                lines.append(f"| {r['case']} | | failed: {r['error'][:80]} | |")
            else:
                lines.append(
                    f"| {r['case']} | {r['megapixels']:.1f} | {r['wall_s']:.2f} | "
                    f"{r['peak_rss_mb']:.0f} |"
                )
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--input", help="a RAW file (default: the synthetic 12 MP DNG + hdrmerge)")
    p.add_argument("--cases", nargs="*", default=None, choices=sorted(CASES))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--memory", action="store_true", help="also the 6/12/24 MP RSS series")
    p.add_argument("--no-real", action="store_true", help="skip the hdrmerge DNGs")
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--out", type=Path, default=ROOT / "build" / "bench")
    args = p.parse_args()
    if args.child:
        print(json.dumps(run_case(args.child, args.input, args.threads, args.repeats)))
        return 0

    cache = Path(os.environ.get("RAWPIPE_CACHE") or Path.home() / ".cache" / "rawpipe") / "bench"
    mp_main = 2.0 if args.quick else 12.0
    inputs = (
        [Path(args.input)]
        if args.input
        else [synthetic_dng(cache / f"synthetic_{mp_main:g}mp.dng", mp_main)]
    )
    if not args.input and not args.quick and not args.no_real:
        from rawpipe.data.fetch import fetch_raw_samples

        inputs += fetch_raw_samples()[:2]
    cases = args.cases or (list(QUICK) if args.quick else list(CASES))
    rows = []
    for inp in inputs:
        for name in cases:
            if name == "demosaicnet" and inp != inputs[0]:
                continue
            r = _child(name, inp, args.threads, args.repeats, args.timeout)
            rows.append(r)
            msg = r.get("error") or f"{r['wall_s']:.2f} s, {r['peak_rss_mb']:.0f} MB"
            print(f"{inp.name:28s} {name:24s} {msg}", file=sys.stderr)
    memory = []
    if args.memory:
        for mp in (6.0, 12.0, 24.0):
            path = synthetic_dng(cache / f"synthetic_{mp:g}mp.dng", mp)
            for name in ("student int8 (tflite)", "student (torch)"):
                r = _child(name, path, args.threads, 1, args.timeout)
                memory.append(r)
                msg = r.get("error") or f"{r['wall_s']:.2f} s, {r['peak_rss_mb']:.0f} MB"
                print(f"{path.name:28s} {name:24s} {msg}", file=sys.stderr)
    macs = model_macs()
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "rows": rows,
        "memory": memory,
        "macs": macs,
        "threads": args.threads,
        "command": " ".join(sys.argv),
    }
    (args.out / "bench.json").write_text(json.dumps(report, indent=1))
    text = markdown(rows, macs, memory, args.threads)
    (args.out / "bench.md").write_text(text)
    print(text)
    return 0 if all("error" not in r for r in rows + memory) else 1


if __name__ == "__main__":
    sys.exit(main())
