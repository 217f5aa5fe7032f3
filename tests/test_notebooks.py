"""Every notebook runs top to bottom in fast mode (RAWPIPE_NB_FAST=1); any cell error fails."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

pytest.importorskip("nbclient")
pytestmark = pytest.mark.data


def _runner():
    spec = importlib.util.spec_from_file_location(
        "run_notebooks", ROOT / "scripts" / "run_notebooks.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_three_notebooks_exist_without_outputs():
    import nbformat

    assert {p.stem for p in NOTEBOOKS} >= {
        "dark_region_quality",
        "noise_calibration",
        "export_parity",
    }
    for p in NOTEBOOKS:
        nb = nbformat.read(p, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{p.name} has outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, photo_paths, hdrmerge_dngs, tmp_path):
    nb = _runner().execute(path, fast=True)
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors
    html = _runner().to_html(nb, tmp_path / f"{path.stem}.html")
    assert html.stat().st_size > 10_000
