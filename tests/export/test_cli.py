"""``rawpipe export`` (export_main)."""

from __future__ import annotations

import json

from rawpipe.export.cli import export_main


def test_usage_errors(capsys):
    assert export_main([]) == 2
    assert "--target" in capsys.readouterr().err
    assert export_main(["build", "--target", "android", "--target", "ios"]) == 2


def test_check_command(android_build, tmp_path, capsys):
    out = tmp_path / "check.json"
    code = export_main(
        [
            "check",
            "--target",
            "android",
            "--out",
            str(android_build.out_dir),
            "--tiles-per-level",
            "1",
            "--levels",
            "dark",
            "--json",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0, text
    assert "android: ok" in text and "tflite_int8_vs_onnxruntime" in text
    assert json.loads(out.read_text())["android"]["passed"] is True
