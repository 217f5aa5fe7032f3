"""Distillation versus no teacher: final validation CPSNR of seed-matched runs, side by side.

    python scripts/compare_runs.py            # runs/student-seed*/ vs runs/student-scratch-seed*/
    python scripts/compare_runs.py --a runs/x-seed --b runs/y-seed --seeds 0 1 2

Reads each run's ``val.csv`` (its last step), prints a markdown table per seed and level, the
mean of the per-seed differences, and exits 0.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np


def final_scores(run: Path) -> tuple[int, dict[str, float]]:
    rows = list(csv.DictReader((run / "val.csv").open()))
    last = max(int(r["step"]) for r in rows)
    return last, {r["level"]: float(r["cpsnr"]) for r in rows if int(r["step"]) == last}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--a", default="runs/student-seed", help="prefix of the distilled runs")
    p.add_argument("--b", default="runs/student-scratch-seed", help="prefix of the baseline runs")
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    args = p.parse_args()
    diffs, lines, levels = [], [], None
    for s in args.seeds:
        (sa, a), (sb, b) = final_scores(Path(f"{args.a}{s}")), final_scores(Path(f"{args.b}{s}"))
        if sa != sb:
            raise SystemExit(f"seed {s}: runs stopped at different steps ({sa} vs {sb})")
        levels = levels or list(a)
        d = [a[k] - b[k] for k in levels]
        diffs.append(d)
        lines.append(
            f"| {s} | {sa} | "
            + " | ".join(f"{a[k]:.2f} / {b[k]:.2f} ({dk:+.2f})" for k, dk in zip(levels, d))
            + f" | {np.mean(d):+.2f} |"
        )
    head = (
        "| seed | steps | "
        + " | ".join(f"{k}: distilled / scratch" for k in levels)
        + " | mean Δ |"
    )
    print(head + "\n|" + "---|" * (len(levels) + 3))
    print("\n".join(lines))
    m = np.mean(diffs, axis=0)
    print("| mean | | " + " | ".join(f"{v:+.2f}" for v in m) + f" | {np.mean(m):+.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
