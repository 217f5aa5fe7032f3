"""Replay the fuzz targets' saved findings (fuzz/regressions/<target>/*) and their seed inputs:
each must now pass its target (a result or a typed error, and the target's property checks).
The targets are plain functions (fuzz/targets.py); atheris is only needed to search for new ones."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
REGRESSIONS = sorted(p for p in (FUZZ / "regressions").glob("*/*") if p.is_file())


@pytest.fixture(scope="module")
def targets():
    spec = importlib.util.spec_from_file_location("rawpipe_fuzz_targets", FUZZ / "targets.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.TARGETS


def test_every_target_has_regressions_or_seeds(targets):
    assert set(targets) == {"dng_parse", "opcodes", "metadata", "roundtrip", "vst"}
    assert len(REGRESSIONS) >= 10
    assert {p.parent.name for p in REGRESSIONS} <= set(targets)


@pytest.mark.parametrize("case", REGRESSIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_saved_finding_passes(targets, case):
    targets[case.parent.name](case.read_bytes())


def test_seed_inputs_pass(targets, tmp_path):
    spec = importlib.util.spec_from_file_location("rawpipe_fuzz_run", FUZZ / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    run.write_seeds(tmp_path)
    seeds = sorted(p for p in (tmp_path / "seeds").glob("*/*"))
    assert {p.parent.name for p in seeds} == set(targets)
    for p in seeds:
        targets[p.parent.name](p.read_bytes())
