"""The batch CLI and process_files with the REAL worker (no monkeypatching): malformed files fail
alone with their reason, a file whose read hangs (a FIFO nobody writes to, like a dead network
mount) is killed at the time limit, the good files are processed, the exit status is non-zero.
(tests/test_batch.py covers a simulated decoder crash.)"""

from __future__ import annotations

import multiprocessing
import os

import pytest

from rawpipe.batch import process_files
from rawpipe.cli import main


@pytest.fixture
def batch_inputs(tmp_path, corpus):
    from rawpipe.raw import write_dng

    d = tmp_path / "in"
    d.mkdir()
    good = write_dng(d / "good.dng", corpus.small_mosaic(1), corpus.small_metadata("GRBG"))
    data = good.read_bytes()
    (d / "truncated.dng").write_bytes(data[: len(data) // 3])
    (d / "text.nef").write_text("not a raw file\n" * 20)
    (d / "empty.cr2").write_bytes(b"")
    (d / "jpeg.arw").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    (d / "xtrans.dng").write_bytes(
        corpus.tiff_bytes(
            corpus.small_mosaic(2),
            tags=corpus.dng_tags(cfa_dim=(6, 6), cfa=bytes([1, 1, 0, 1, 1, 2] * 6)),
        )
    )
    write_dng(d / "good2.dng", corpus.small_mosaic(3), corpus.small_metadata("RGGB"))
    return d


EXPECTED = {
    "good.dng": None,
    "truncated.dng": "CorruptRawError",
    "text.nef": "CorruptRawError",
    "empty.cr2": "CorruptRawError",
    "jpeg.arw": "CorruptRawError",
    "xtrans.dng": "UnsupportedRawError",
    "good2.dng": None,
}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_real_worker_survives_bad_and_hanging_files(tmp_path, batch_inputs, sha256):
    fifo = batch_inputs / "hang.dng"
    os.mkfifo(fifo)  # opening it for reading blocks until a writer appears: a real hang
    files = sorted(p for p in batch_inputs.iterdir())
    children_before = {p.pid for p in multiprocessing.active_children()}
    digests = {p: sha256(p) for p in files if p != fifo}
    results = process_files(files, tmp_path / "out", jobs=2, timeout=6, model="classical:bilinear")
    assert [r.path for r in results] == files
    by_name = {r.path.name: r for r in results}
    for name, err in EXPECTED.items():
        res = by_name[name]
        if err is None:
            assert res.ok and res.out_path.is_file(), res.error
        else:
            assert not res.ok and res.error.startswith(err + ": "), res.error
            assert name.split(".")[0] in res.error  # the message names the file
    assert by_name["hang.dng"].error.startswith("Timeout")
    assert {p: sha256(p) for p in digests} == digests
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png", "good2.png"]
    # the killed worker and the pools are gone
    assert {p.pid for p in multiprocessing.active_children()} <= children_before


def test_cli_reports_each_failure_and_exits_non_zero(tmp_path, batch_inputs, capsys):
    files = sorted(str(p) for p in batch_inputs.iterdir())
    rc = main(["process", *files, "-o", str(tmp_path / "out"), "--model", "classical:bilinear",
               "--jobs", "2", "--timeout", "60", "-q"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 1
    failed = [line for line in err.splitlines() if line.startswith("FAILED ")]
    assert len(failed) == 5
    for name, kind in EXPECTED.items():
        if kind:
            assert any(name in line and f": {kind}: " in line for line in failed), (name, err)
    assert "5 of 7 files failed" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png", "good2.png"]
    # all good: exit 0
    rc = main(["process", str(batch_inputs / "good.dng"), "-o", str(tmp_path / "out2"),
               "--model", "classical:bilinear", "--no-isolate", "-q"])  # fmt: skip
    assert rc == 0
