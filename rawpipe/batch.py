"""Batch processing of many files in isolated worker processes.

LibRaw is C code: a hostile file could crash or hang the process decoding it. Each file is
therefore processed in a worker process; a crash or a timeout fails that file only (the pool is
rebuilt and the remaining files go on), and every failure is reported with its reason.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FileResult", "output_path_for", "process_files"]


@dataclass(frozen=True)
class FileResult:
    """The outcome for one input file."""

    path: Path
    out_path: Path | None
    error: str | None = None  # "<ErrorType>: message" when the file failed

    @property
    def ok(self) -> bool:
        return self.error is None


_SUFFIX = {"srgb": ".png", "linear": ".npy", "dng": ".dng"}


def output_path_for(path: Path, out_dir: Path, output: str, fmt: str | None = None) -> Path:
    """``OUTDIR/<stem><suffix>``; the suffix follows the output kind (or ``fmt`` for sRGB)."""
    suffix = "." + fmt.lstrip(".") if (fmt and output == "srgb") else _SUFFIX[output]
    if output == "dng":
        return out_dir / f"{path.stem}.linear.dng"
    return out_dir / f"{path.stem}{suffix}"


def _work(path: str, out_path: str, kwargs: dict[str, Any], threads: int) -> str:
    from rawpipe.pipeline import process_raw

    process_raw(path, out_path=out_path, threads=threads, **kwargs)
    return out_path


def _format_error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def process_files(
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    jobs: int | None = None,
    timeout: float | None = 600.0,
    isolate: bool = True,
    fmt: str | None = None,
    on_result: Callable[[FileResult], None] | None = None,
    **kwargs: Any,
) -> list[FileResult]:
    """Process ``paths`` into ``out_dir`` with ``process_raw(**kwargs)``; never raise per file.

    ``jobs`` worker processes (default: CPU count) share the cores (each gets
    ``cpu_count // jobs`` torch threads). ``isolate=False`` runs in this process (no crash
    protection; handy for debugging). ``timeout`` seconds per file; a file that takes longer is
    failed and its worker killed.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    output = kwargs.get("output", "srgb")
    items = [(Path(p), output_path_for(Path(p), out, output, fmt)) for p in paths]
    cpus = os.cpu_count() or 1
    jobs = max(1, min(jobs or cpus, len(items) or 1))
    threads = max(1, cpus // jobs)
    results: dict[int, FileResult] = {}

    def record(i: int, res: FileResult) -> None:
        results[i] = res
        if on_result is not None:
            on_result(res)

    if not isolate:
        for i, (p, o) in enumerate(items):
            try:
                _work(str(p), str(o), kwargs, threads)
                record(i, FileResult(p, o))
            except Exception as err:  # report and go on: one bad file must not stop a batch
                record(i, FileResult(p, None, _format_error(err)))
        return [results[i] for i in range(len(items))]

    ctx = multiprocessing.get_context("spawn")
    retry: list[int] = []
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {
            pool.submit(_work, str(p), str(o), kwargs, threads): i for i, (p, o) in enumerate(items)
        }
        waiting = set(futures)
        while waiting:
            done, waiting = cf.wait(waiting, timeout=timeout, return_when=cf.FIRST_COMPLETED)
            if not done:  # nothing finished within the limit: the running workers hang
                for proc in list(pool._processes.values()):
                    proc.kill()
                retry.extend(futures[f] for f in waiting)
                break
            for fut in done:
                i = futures[fut]
                p, o = items[i]
                try:
                    fut.result()
                    record(i, FileResult(p, o))
                except cf.process.BrokenProcessPool:
                    retry.append(i)
                except Exception as err:
                    record(i, FileResult(p, None, _format_error(err)))
    # A worker died or hung (a LibRaw crash, say): every file whose result was lost is re-run alone,
    # so the one that kills its worker is identified and failed by itself.
    for i in sorted(retry):
        p, o = items[i]
        record(i, _run_alone(p, o, kwargs, threads, timeout, ctx))
    return [results[i] for i in range(len(items))]


def _run_alone(p: Path, o: Path, kwargs: dict[str, Any], threads: int, timeout, ctx) -> FileResult:
    with cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        fut = pool.submit(_work, str(p), str(o), kwargs, threads)
        try:
            fut.result(timeout=timeout)
            return FileResult(p, o)
        except cf.process.BrokenProcessPool:
            return FileResult(p, None, "WorkerCrashed: the decoder process died on this file")
        except cf.TimeoutError:
            for proc in list(pool._processes.values()):  # a hung decoder: kill it
                proc.kill()
            return FileResult(p, None, f"Timeout: no result after {timeout} s")
        except Exception as err:
            return FileResult(p, None, _format_error(err))
