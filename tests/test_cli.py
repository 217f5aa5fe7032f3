"""The console entry: batch processing with failures reported, info, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rawpipe.cli import main


@pytest.fixture()
def good_dng(tmp_path):
    from rawpipe.demo import synthesize_demo_dng

    return synthesize_demo_dng(tmp_path / "in" / "good.dng")


def test_process_reports_bad_files_and_continues(tmp_path, good_dng, capsys, sha256):
    bad = tmp_path / "in" / "bad.dng"
    bad.write_text("not a raw file")
    before = sha256(bad)
    out = tmp_path / "out"
    code = main(["process", str(bad), str(good_dng), "-o", str(out), "--jobs", "1", "--no-isolate"])
    err = capsys.readouterr().err
    assert code == 1
    assert "FAILED" in err and "bad.dng" in err and "CorruptRawError" in err
    assert "1 of 2 files failed" in err
    assert (out / "good.png").is_file()
    assert sha256(bad) == before


def test_process_in_isolated_workers(tmp_path, good_dng, capsys):
    out = tmp_path / "out"
    code = main(["process", str(good_dng), "-o", str(out), "--output", "linear", "--jobs", "1"])
    assert code == 0, capsys.readouterr().err
    assert (out / "good.npy").is_file()
    # Existing outputs are kept unless --overwrite.
    assert (
        main(["process", str(good_dng), "-o", str(out), "--output", "linear", "--jobs", "1"]) == 1
    )
    assert "OutputExistsError" in capsys.readouterr().err


def test_info_prints_json(good_dng, capsys):
    assert main(["info", str(good_dng)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["cfa_pattern"] in ("RGGB", "CFAPattern.RGGB")
    assert info["visible_size"] == [512, 512]


def test_console_script_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "rawpipe.cli", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "rawpipe" in proc.stdout
