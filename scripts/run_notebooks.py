"""Execute the notebooks top to bottom and render HTML reports (``make notebooks``).

    python scripts/run_notebooks.py                 # full run -> notebooks/build/*.html
    python scripts/run_notebooks.py --fast          # small inputs (what ``make test`` runs)
    python scripts/run_notebooks.py notebooks/noise_calibration.ipynb

The committed notebooks carry no outputs; executed copies (HTML and ``.executed.ipynb``) go to
``notebooks/build/`` (ignored).
A cell error fails the run (exit 1) and names the notebook and cell.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def execute(path: Path, *, fast: bool, timeout: int = 1800) -> object:
    """Run ``path`` in a fresh kernel (cwd: the notebooks folder); return the executed notebook.
    ``fast`` sets ``RAWPIPE_NB_FAST=1`` for the kernel. Raises nbclient's CellExecutionError."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env_before = os.environ.get("RAWPIPE_NB_FAST")
    os.environ["RAWPIPE_NB_FAST"] = "1" if fast else "0"
    try:
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.execute()
    finally:
        if env_before is None:
            os.environ.pop("RAWPIPE_NB_FAST", None)
        else:
            os.environ["RAWPIPE_NB_FAST"] = env_before
    return nb


def to_html(nb: object, out: Path) -> Path:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, out)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("notebooks", nargs="*", type=Path)
    p.add_argument("--fast", action="store_true", help="small inputs (RAWPIPE_NB_FAST=1)")
    p.add_argument("--out", type=Path, default=ROOT / "notebooks" / "build")
    args = p.parse_args()
    import nbformat

    failed = 0
    for path in args.notebooks or NOTEBOOKS:
        t0 = time.time()
        try:
            nb = execute(path.resolve(), fast=args.fast)
        except Exception as err:  # nbclient.exceptions.CellExecutionError and kernel failures
            print(f"FAILED {path.name}: {err}", file=sys.stderr)
            failed += 1
            continue
        html = to_html(nb, args.out / f"{path.stem}.html")
        nbformat.write(nb, args.out / f"{path.stem}.executed.ipynb")
        print(f"{path.name}: {time.time() - t0:.0f} s -> {html}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
