"""Batch processing isolates crashes and hangs to the file that caused them."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from rawpipe import batch
from rawpipe.batch import output_path_for, process_files


def _crash_or_hang(path: str, out_path: str, kwargs, threads) -> str:
    name = Path(path).name
    if name.startswith("crash"):
        os.kill(os.getpid(), signal.SIGKILL)  # what a segfaulting decoder looks like
    if name.startswith("hang"):
        import time

        time.sleep(60)
    Path(out_path).write_text("ok")
    return out_path


def test_crash_and_hang_fail_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "_work", _crash_or_hang)
    files = []
    for name in ["a.dng", "crash.dng", "b.dng", "hang.dng", "c.dng"]:
        p = tmp_path / name
        p.write_bytes(b"x")
        files.append(p)
    results = process_files(files, tmp_path / "out", jobs=2, timeout=5)
    by_name = {r.path.name: r for r in results}
    assert [r.path.name for r in results] == [p.name for p in files]
    assert by_name["a.dng"].ok and by_name["b.dng"].ok and by_name["c.dng"].ok
    assert "WorkerCrashed" in by_name["crash.dng"].error
    assert "Timeout" in by_name["hang.dng"].error


def test_output_names():
    out = Path("o")
    assert output_path_for(Path("x/a.nef"), out, "srgb") == out / "a.png"
    assert output_path_for(Path("x/a.nef"), out, "srgb", "jpg") == out / "a.jpg"
    assert output_path_for(Path("x/a.nef"), out, "linear") == out / "a.npy"
    assert output_path_for(Path("x/a.dng"), out, "dng") == out / "a.linear.dng"


@pytest.mark.parametrize("isolate", [False])
def test_errors_are_reported_not_raised(tmp_path, isolate):
    bad = tmp_path / "empty.dng"
    bad.write_bytes(b"")
    (res,) = process_files([bad], tmp_path / "out", isolate=isolate)
    assert not res.ok and res.error.startswith("CorruptRawError")
