"""Atomic file writes: write to a temporary file in the target directory, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "check_output_path"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary file keeps ``path``'s suffix (writers pick the format from it). On any exception
    the temporary file is removed and ``path`` is untouched. The result gets the permissions a
    plain ``open()`` would give it (``0o666`` less the umask; an existing file's own mode when it
    is replaced), not ``mkstemp``'s private ``0o600``.
    """
    from rawpipe.errors import OutputExistsError

    path = Path(path)
    if not overwrite and path.exists():
        raise OutputExistsError(f"{path} exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if not overwrite and path.exists():
            raise OutputExistsError(f"{path} appeared while writing; not replacing it")
        if tmp_path.exists():  # a writer may have replaced the file: only chmod what is there
            os.chmod(tmp_path, _mode_for(path))
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _mode_for(path: Path) -> int:
    """The mode a new file at ``path`` would get from ``open()``, or the existing file's mode."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    # Linux reports it without changing it; os.umask(0) briefly would race with other threads.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True
) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def check_output_path(
    out_path: str | os.PathLike[str], in_path: str | os.PathLike[str] | None, *, overwrite: bool
) -> Path:
    """Refuse an output equal to the input, or an existing output unless ``overwrite``."""
    from rawpipe.errors import OutputExistsError

    out = Path(out_path)
    if in_path is not None:
        src = Path(in_path)
        if out.resolve() == src.resolve() or (out.exists() and src.exists() and out.samefile(src)):
            raise OutputExistsError(
                f"output path {out} is the input file; refusing to overwrite it"
            )
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass overwrite=True to replace it")
    return out
