"""Outputs and weights are written atomically: an encoder that fails midway (an exception, an
interrupt, or the process killed) leaves no partial output, no temporary file (except after a
kill, where only a hidden temporary can remain), and an existing file untouched. ``process_raw``
refuses its own input as output and never overwrites unless asked.

Training checkpoints use the same ``atomic_path`` and are tested in tests/train/test_checkpoint.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from rawpipe.errors import OutputExistsError
from rawpipe.pipeline import process_raw

OLD = b"previous contents that must survive"


class EncoderCrash(RuntimeError):
    pass


@pytest.fixture
def raw(tmp_path, corpus):
    from rawpipe.raw import write_dng

    src = tmp_path / "src"
    src.mkdir()
    return write_dng(src / "in.dng", corpus.small_mosaic(2), corpus.small_metadata("BGGR"))


def _partial_then(exc: BaseException):
    """An encoder stand-in: writes some bytes where it was told to write, then fails."""

    def encoder(target, *args, **kwargs):
        if hasattr(target, "write"):
            target.write(b"PARTIAL")
        else:
            Path(target).write_bytes(b"PARTIAL")
        raise exc

    return encoder


def _pil_save(exc):
    def save(self, fp, *args, **kwargs):
        _partial_then(exc)(fp)

    return save


# (output, suffix, kwargs, what to patch)
CASES = {
    "png8": ("srgb", ".png", {}, "PIL.Image.Image.save"),
    "jpeg": ("srgb", ".jpg", {}, "PIL.Image.Image.save"),
    "png16": ("srgb", ".png", {"bit_depth": 16}, "rawpipe.image_io._png_with_iccp"),
    "tiff16": ("srgb", ".tif", {"bit_depth": 16}, "tifffile.imwrite"),
    "linear_npy": ("linear", ".npy", {}, "numpy.save"),
    "linear_tif": ("linear", ".tif", {}, "tifffile.imwrite"),
    "linear_dng": ("dng", ".dng", {}, "tifffile.imwrite"),
}


def _patch(monkeypatch, where: str, exc: BaseException) -> None:
    if where == "PIL.Image.Image.save":
        from PIL import Image

        monkeypatch.setattr(Image.Image, "save", _pil_save(exc))
    elif where == "rawpipe.image_io._png_with_iccp":
        import rawpipe.image_io

        def fail(png, icc):
            raise exc

        monkeypatch.setattr(rawpipe.image_io, "_png_with_iccp", fail)
    elif where == "tifffile.imwrite":
        import tifffile

        monkeypatch.setattr(tifffile, "imwrite", _partial_then(exc))
    elif where == "numpy.save":
        monkeypatch.setattr(np, "save", _partial_then(exc))
    else:  # pragma: no cover
        raise AssertionError(where)


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
@pytest.mark.parametrize("exc", [EncoderCrash("disk on fire"), KeyboardInterrupt()],
                         ids=["exception", "interrupt"])  # fmt: skip
@pytest.mark.parametrize("case", sorted(CASES))
def test_failed_write_leaves_nothing_behind(tmp_path, raw, monkeypatch, case, exc, existing):
    output, suffix, kwargs, where = CASES[case]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / f"result{suffix}"
    if existing:
        target.write_bytes(OLD)
    before_in = raw.read_bytes()
    _patch(monkeypatch, where, exc)
    with pytest.raises(type(exc)):
        process_raw(raw, output=output, model="classical:bilinear", out_path=target,
                    overwrite=existing, **kwargs)  # fmt: skip
    left = sorted(p.name for p in out_dir.iterdir())
    assert left == (["result" + suffix] if existing else []), left  # no partial, no temp
    if existing:
        assert target.read_bytes() == OLD
    assert raw.read_bytes() == before_in


@pytest.mark.parametrize("case", sorted(CASES))
def test_successful_write_replaces_only_when_asked(tmp_path, raw, case):
    output, suffix, kwargs, _where = CASES[case]
    target = tmp_path / f"result{suffix}"
    target.write_bytes(OLD)
    with pytest.raises(OutputExistsError):
        process_raw(raw, output=output, model="classical:bilinear", out_path=target, **kwargs)
    assert target.read_bytes() == OLD
    process_raw(raw, output=output, model="classical:bilinear", out_path=target, overwrite=True,
                **kwargs)  # fmt: skip
    assert target.read_bytes() != OLD and target.stat().st_size > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["src", target.name])


def test_output_equal_to_input_is_refused(tmp_path, raw):
    before = raw.read_bytes()
    links = [raw, Path(os.path.relpath(raw)), raw.parent / ".." / raw.parent.name / raw.name]
    hard = tmp_path / "hard.dng"
    os.link(raw, hard)
    sym = tmp_path / "sym.dng"
    sym.symlink_to(raw)
    for out in [*links, hard, sym]:
        for overwrite in (False, True):
            with pytest.raises(OutputExistsError):
                process_raw(raw, output="dng", model="classical:bilinear", out_path=out,
                            overwrite=overwrite)  # fmt: skip
    assert raw.read_bytes() == before


def test_write_dng_and_weights_fail_atomically(tmp_path, monkeypatch, corpus):
    import safetensors.torch
    import tifffile
    from torch import nn

    from rawpipe.models.weights import save_weights
    from rawpipe.raw import write_dng

    dng, weights = tmp_path / "m.dng", tmp_path / "w.safetensors"
    dng.write_bytes(OLD)
    weights.write_bytes(OLD)
    monkeypatch.setattr(tifffile, "imwrite", _partial_then(EncoderCrash("dng")))

    def save_file(tensors, filename, metadata=None):
        _partial_then(EncoderCrash("weights"))(filename)

    monkeypatch.setattr(safetensors.torch, "save_file", save_file)
    with pytest.raises(EncoderCrash):
        write_dng(dng, corpus.small_mosaic(), corpus.small_metadata(), overwrite=True)
    with pytest.raises(EncoderCrash):
        save_weights(nn.Linear(2, 2), weights, overwrite=True)
    assert dng.read_bytes() == OLD and weights.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.dng", "w.safetensors"]


_KILLED_MIDWAY = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from PIL import Image
    from rawpipe.image_io import write_image

    def save(self, fp, *a, **k):
        with open(fp, "wb") as f:
            f.write(b"PARTIAL")
            f.flush()
        os.kill(os.getpid(), signal.SIGKILL)  # the process dies mid-write

    Image.Image.save = save
    write_image(sys.argv[1], np.zeros((4, 4, 3), np.uint8), overwrite=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killed_during_write_never_leaves_a_partial_output(tmp_path):
    """A crash (SIGKILL) runs no cleanup: the target is still never partial, an existing file is
    intact, and what remains is a hidden ``.<stem>.*.tmp<suffix>`` file."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for name, existing in (("new.png", False), ("old.png", True)):
        target = out_dir / name
        if existing:
            target.write_bytes(OLD)
        proc = subprocess.run([sys.executable, "-c", _KILLED_MIDWAY, str(target)], timeout=120)
        assert proc.returncode == -signal.SIGKILL
        if existing:
            assert target.read_bytes() == OLD
        else:
            assert not target.exists()
    leftovers = sorted(p.name for p in out_dir.iterdir() if p.name not in ("old.png",))
    assert len(leftovers) == 2
    assert all(n.startswith((".new.", ".old.")) and n.endswith(".tmp.png") for n in leftovers)


def test_atomic_outputs_get_ordinary_permissions(tmp_path):
    """mkstemp creates 0o600 files; an output must be readable like any file the user writes."""
    import os
    import stat

    from rawpipe._atomic import atomic_write_bytes

    umask = os.umask(0o022)
    try:
        p = atomic_write_bytes(tmp_path / "new.bin", b"x")
        assert stat.S_IMODE(p.stat().st_mode) == 0o644
        q = tmp_path / "existing.bin"
        q.write_bytes(b"old")
        q.chmod(0o640)
        atomic_write_bytes(q, b"new")
        assert stat.S_IMODE(q.stat().st_mode) == 0o640 and q.read_bytes() == b"new"
    finally:
        os.umask(umask)
