"""``make eval``: the issue-4 acceptance table on the fixed validation split.

    python scripts/evaluate.py                       # everything, full validation images
    python scripts/evaluate.py --max-size 256 --limit 4 --skip-demosaicnet   # quick look

Measures, per level (clean, ISO 400/1600/6400, dark scene) and method (teacher, student, student
with the algebraic inverse, Menon 2007, LibRaw AHD + fastNlMeans tuned per level, and
demosaicnet noise-free): CPSNR after white balance and the sRGB curve (10 px border), PSNR,
per-channel bias and chroma noise over the darkest 20 % of true luminance; the flat-dark-patch
level accuracy (0.5–20 e⁻); MACs per output megapixel and parameters. Writes ``eval.json`` and
``eval.md`` into ``--out`` (default ``build/eval``) and prints the markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def model_stats(name: str) -> dict[str, float]:
    from rawpipe.models import count_parameters, create_model, macs_per_output_megapixel

    net = create_model(name, pretrained=False).eval()
    s = int(net.total_stride)
    return {
        "gmac_per_mp": macs_per_output_megapixel(net, (8 * s, 8 * s)) / 1e9,
        "params": float(count_parameters(net)),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="*", default=["teacher", "student"])
    p.add_argument("--levels", nargs="*", default=None)
    p.add_argument("--max-size", type=int, default=None, help="centre-crop validation photos")
    p.add_argument("--limit", type=int, default=None, help="first N validation photos")
    p.add_argument("--out", default="build/eval")
    p.add_argument("--skip-demosaicnet", action="store_true")
    p.add_argument("--skip-libraw", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from rawpipe.evaluation import (
        LEVELS,
        EngineMethod,
        NetworkMethod,
        evaluate_flat_patches,
        evaluate_levels,
        table_markdown,
        tune_nlm,
    )
    from rawpipe.models import create_engine, shipped_weights_path

    levels = tuple(args.levels or LEVELS)
    t0 = time.time()
    methods: dict = {}
    missing = [m for m in args.models if not shipped_weights_path(m).is_file()]
    if missing:
        print(
            f"no shipped weights for {missing}: train them first (make train-teacher / distill)",
            file=sys.stderr,
        )
        return 2
    for m in args.models:
        methods[m] = NetworkMethod(m)
    if "student" in args.models:
        methods["student (algebraic inverse)"] = NetworkMethod("student", inverse="algebraic")
    methods["Menon 2007"] = EngineMethod(create_engine("classical"), "Menon 2007")
    sweep = None
    if not args.skip_libraw:
        tuned, sweep = tune_nlm(levels=levels, max_size=args.max_size, limit=args.limit)
        methods["LibRaw AHD + NLM (tuned)"] = tuned

    results = evaluate_levels(
        methods, levels=levels, max_size=args.max_size, limit=args.limit, curves=True
    )
    from rawpipe.data import flat_dark_patches

    patch_levels = [lvl for lvl in ("iso400", "iso1600", "iso6400") if lvl in levels]
    flat = (
        evaluate_flat_patches(
            {k: v for k, v in methods.items() if k != "Menon 2007"},
            patches=flat_dark_patches(levels=patch_levels),
        )
        if patch_levels
        else {}
    )

    demosaicnet = None
    if not args.skip_demosaicnet and "clean" in levels:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from demosaicnet_baseline import demosaic_srgb, load_demosaicnet, srgb_cpsnr

        from rawpipe.data import validation_set

        net = load_demosaicnet()
        scores = [
            srgb_cpsnr(demosaic_srgb(net, it["srgb"]), it["srgb"])
            for it in validation_set("clean", max_size=args.max_size)[: args.limit]
        ]
        demosaicnet = float(np.mean(scores))
        results["clean"]["demosaicnet (sRGB domain)"] = {
            "cpsnr": demosaicnet,
            "images": len(scores),
        }

    stats = {m: model_stats(m) for m in args.models}
    report = {
        "levels": list(levels),
        "max_size": args.max_size,
        "limit": args.limit,
        "results": results,
        "flat_patches": {
            k: {kk: vv for kk, vv in v.items() if kk != "rows"} for k, v in flat.items()
        },
        "flat_patch_rows": flat,
        "nlm_sweep": sweep,
        "models": stats,
        "seconds": time.time() - t0,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(report, indent=1, default=float))

    md = ["# rawpipe evaluation (fixed validation split)", ""]
    md += [f"Images per level: {args.limit or 'all'}; crop: {args.max_size or 'none'}.", ""]
    md += ["## CPSNR (dB; after WB + sRGB curve, 10 px border)", "", table_markdown(results)]
    dark_results = {
        lvl: {k: v for k, v in r.items() if "dark_psnr" in v} for lvl, r in results.items()
    }
    md += [
        "## Dark region (darkest 20 % of true luminance): PSNR (dB)",
        "",
        table_markdown(dark_results, "dark_psnr"),
    ]
    md += ["## Dark region: mean bias (relative, R/G/B; − is black crush)", ""]
    md += ["| method | " + " | ".join(levels) + " |", "|---|" + "---|" * len(levels)]
    for m in methods:
        cells = []
        for lvl in levels:
            b = results[lvl][m]["dark_bias"]
            cells.append("/".join(f"{100 * v:+.1f}%" for v in b))
        md.append(f"| {m} | " + " | ".join(cells) + " |")
    md += [
        "",
        f"## Flat dark patches (0.5–20 e⁻, {'/'.join(patch_levels) or 'none'}): level accuracy",
        "",
        "| method | within max(2 %, 0.05 e⁻) | worst error / tolerance |",
        "|---|---|---|",
    ]
    for m, r in flat.items():
        md.append(f"| {m} | {r['ok']}/{r['patches']} | {r['worst_ratio']:.2f} |")
    md += ["", "## Models", "", "| model | GMAC / output MP | parameters |", "|---|---|---|"]
    for m, s in stats.items():
        md.append(f"| {m} | {s['gmac_per_mp']:.3f} | {int(s['params']):,} |")
    if sweep:
        md += [
            "",
            "NLM strengths chosen per level: "
            + ", ".join(f"{lvl} h={max(v, key=v.get):g}" for lvl, v in sweep.items()),
        ]
    md += [
        "",
        f"Command: `python scripts/evaluate.py {' '.join(sys.argv[1:])}`; "
        f"{report['seconds']:.0f} s.",
    ]
    text = "\n".join(md) + "\n"
    (out / "eval.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
