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


def test_build_exit_codes_tell_a_parity_miss_from_a_lint_failure(monkeypatch):
    """3: artifact and manifest written but a parity threshold missed (make bench goes on);
    1: op lint failed (nothing usable)."""
    import rawpipe.export.build as build
    from rawpipe.export.cli import export_main
    from rawpipe.export.lint import LintReport, OpLintError

    def miss(*a, **k):
        raise build.ParityError("missed a parity threshold")

    monkeypatch.setattr(build, "export_target", miss)
    assert export_main(["build", "--target", "android", "--random-init"]) == 3

    def lint(*a, **k):
        raise OpLintError(LintReport("x.tflite", "android", {}, ["TRANSPOSE_CONV in float"]))

    monkeypatch.setattr(build, "export_target", lint)
    assert export_main(["build", "--target", "android", "--random-init"]) == 1
