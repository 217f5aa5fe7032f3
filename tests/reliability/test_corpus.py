"""The malformed-input corpus: every case ends in a valid output or a typed RawpipeError.

No other exception type, no hang (a per-file time limit in the isolated batch worker, an alarm for
in-process runs), no unbounded allocation (absurd declared sizes run under RLIMIT_AS in a
subprocess), inputs unchanged (sha256 before and after). Run with ``-s`` to see the counts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from rawpipe.batch import process_files
from rawpipe.errors import RawpipeError

PER_FILE_TIMEOUT = 60.0  # s; the slowest legitimate case here takes well under a second


class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: int):
    """Raise :class:`Hang` in this (main) thread after ``seconds``."""

    def fire(signum, frame):
        raise Hang(f"no result after {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _default_cases(corpus, tmp: Path) -> list[tuple[str, str, bytes]]:
    valid = corpus.small_dng_bytes(tmp)  # RGGB, no opcodes
    rich = corpus.small_dng_bytes(tmp, seed=1, pattern="GBRG", gain_map=True)  # + OpcodeList2
    head = max(e["vpos"] + e["size"] for e in corpus.ifd0_entries(rich) if e["size"] > 4)
    cases = []
    cases += corpus.truncations(rich, kind="truncated", header_step=2, n_tail=30, seed=0)
    cases += corpus.ifd_field_mutations(rich)
    cases += corpus.tag_value_mutations(rich)
    cases += corpus.random_flips(rich, n=200, seed=0, head=head)
    cases += corpus.absurd_dimensions(valid)
    cases += corpus.bit_depths(valid)
    cases += corpus.zero_size()
    cases += corpus.cfa_variants()
    cases += corpus.nan_inf_variants()
    cases += corpus.string_variants()
    cases += corpus.not_raw()
    cases += corpus.format_variants(tmp)
    return cases


def _outcome(error: str | None, typed: set[str]) -> str:
    if error is None:
        return "ok"
    kind = error.split(":", 1)[0]
    if kind in typed:
        return kind
    if kind == "Timeout":
        return "HANG"
    return f"CRASH {kind}"  # WorkerCrashed or any untyped exception


def _check_png(path: Path) -> str | None:
    """None when ``path`` is a readable H×W×3 8-bit PNG, else what is wrong with it."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            a = np.asarray(im)
    except Exception as err:
        return f"unreadable output ({type(err).__name__})"
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or a.size == 0:
        return f"output has shape {a.shape} {a.dtype}"
    return None


def run_corpus_through_batch(cases, tmp: Path, corpus, *, title: str, jobs: int = 2):
    """Write ``cases``, process them in ONE process_files call (isolated workers, per-file time
    limit), check outcomes, outputs and input hashes; return the tally."""
    files = corpus.write_corpus(cases, tmp / "in")
    out_dir = tmp / "out"
    results = process_files(
        list(files), out_dir, jobs=jobs, timeout=PER_FILE_TIMEOUT, model="classical:bilinear"
    )
    typed = corpus.typed_error_names()
    tally = corpus.Tally()
    expected_outputs = set()
    for res in results:
        kind, digest = files[res.path]
        outcome = _outcome(res.error, typed)
        if outcome == "ok":
            problem = _check_png(res.out_path)
            outcome = f"INVALID {problem}" if problem else "ok"
            expected_outputs.add(res.out_path.name)
        tally.add(kind, outcome, f"{res.path.name} ({res.error})")
    for path, (kind, digest) in files.items():
        if corpus.sha256_bytes(path.read_bytes()) != digest:
            tally.add(kind, "MODIFIED input", path.name)
    leftovers = {p.name for p in out_dir.iterdir()} - expected_outputs
    tally.report(title)
    assert len(results) == len(files)
    assert leftovers == set(), f"partial or temporary files left in the output dir: {leftovers}"
    return tally


def test_malformed_corpus(tmp_path, corpus):
    """~2000 generated cases through the real batch worker: valid output or a typed error."""
    cases = _default_cases(corpus, tmp_path)
    tally = run_corpus_through_batch(cases, tmp_path, corpus, title="malformed corpus")
    assert tally.bad == []
    kinds = tally.by_kind
    # the corpus really exercises both outcomes and every kind the issue lists
    for kind in ("truncated", "ifd_fields", "tag_values", "random_flips", "absurd_dims",
                 "bit_depth", "zero_size", "cfa_tags", "nan_inf", "not_raw"):  # fmt: skip
        assert sum(kinds[kind].values()) > 0, kind
    assert kinds["truncated"]["ok"] == 0  # a truncated DNG is never silently decoded
    assert kinds["zero_size"] == {"CorruptRawError": len(corpus.RAW_EXTS)}
    assert set(kinds["not_raw"]) == {"CorruptRawError"}
    assert kinds["ifd_fields"]["ok"] > 0 and kinds["ifd_fields"]["CorruptRawError"] > 0


def test_float_and_odd_tags_give_finite_linear_output(tmp_path, corpus):
    """Cases that decode must give finite linear RGB (NaN/inf tags never reach the pixels) and
    must write as a 16-bit TIFF with EXIF and as a linear DNG (odd strings and numbers in the
    file's metadata never break a writer)."""
    from rawpipe.pipeline import process_raw

    cases = (
        corpus.nan_inf_variants()
        + corpus.string_variants()
        + corpus.cfa_variants()
        + corpus.format_variants(tmp_path)
    )
    files = corpus.write_corpus(cases, tmp_path / "in")
    out_dir = tmp_path / "out"
    tally = corpus.Tally()
    for path, (kind, digest) in files.items():
        try:
            with time_limit(30):
                out = process_raw(path, output="linear", model="classical:bilinear")
                ok = out.ndim == 3 and out.shape[2] == 3 and bool(np.isfinite(out).all())
                # every writer takes the file's metadata: 16-bit TIFF with EXIF, the linear DNG
                writers = ((".tif", "srgb"), (".dng", "dng")) if kind != "cfa_tags" else ()
                for suffix, output in writers:
                    dst = out_dir / (path.stem + suffix)
                    kw = {"bit_depth": 16} if output == "srgb" else {}
                    process_raw(path, output=output, model="classical:bilinear", out_path=dst, **kw)
                    ok = ok and dst.stat().st_size > 0
            outcome = "ok" if ok else "INVALID non-finite linear output"
        except RawpipeError as err:
            outcome = type(err).__name__
        except Hang:
            outcome = "HANG"
        except Exception as err:
            outcome = f"CRASH {type(err).__name__}: {err}"
        if corpus.sha256_bytes(path.read_bytes()) != digest:
            outcome = "MODIFIED input"
        tally.add(kind, outcome, path.name)
    tally.report("NaN/inf and CFA tags, linear output")
    assert tally.bad == []
    assert tally.by_kind["nan_inf"]["ok"] > 10  # most damaged float tags are survivable


_LIMITED = textwrap.dedent(
    """
    import json, resource, signal, sys
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import numpy as np, torch
    torch.set_num_threads(1)
    from rawpipe.errors import RawpipeError
    from rawpipe.pipeline import process_raw

    def fire(*a):
        raise TimeoutError
    signal.signal(signal.SIGALRM, fire)
    # control: the limit is real (an allocation over it fails here)
    try:
        np.ones(limit, dtype=np.uint8)
        control = "allocated"
    except MemoryError:
        control = "MemoryError"
    out = {"control": control}
    for path in sys.argv[2:]:
        signal.alarm(60)
        try:
            process_raw(path, model="classical:bilinear")
            out[path] = "ok"
        except RawpipeError as err:
            out[path] = type(err).__name__
        except TimeoutError:
            out[path] = "HANG"
        except BaseException as err:
            out[path] = "CRASH " + type(err).__name__
        finally:
            signal.alarm(0)
    print("RESULT " + json.dumps(out))
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS semantics are Linux's")
def test_absurd_sizes_under_memory_limit(tmp_path, corpus):
    """Absurd declared sizes and bit depths are refused before allocating: the whole run fits in
    a 3 GiB address space (RLIMIT_AS), which a single 100000×100000 uint16 mosaic (20 GB) would
    not."""
    valid = corpus.small_dng_bytes(tmp_path)
    cases = corpus.absurd_dimensions(valid) + corpus.bit_depths(valid)
    files = corpus.write_corpus(cases, tmp_path / "in")
    limit = 3 << 30
    proc = subprocess.run(
        [sys.executable, "-c", _LIMITED, str(limit), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    line = [s for s in proc.stdout.splitlines() if s.startswith("RESULT ")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    result = json.loads(line[-1][len("RESULT ") :])
    assert result.pop("control") == "MemoryError"  # the limit would have caught a big allocation
    typed = corpus.typed_error_names() | {"ok"}
    tally = corpus.Tally()
    for path, (kind, digest) in files.items():
        outcome = result[str(path)]
        tally.add(kind, outcome if outcome in typed else f"CRASH {outcome}", path.name)
        if corpus.sha256_bytes(path.read_bytes()) != digest:
            tally.add(kind, "MODIFIED input", path.name)
    tally.report("absurd sizes under RLIMIT_AS 3 GiB")
    assert tally.bad == []
    for name in ("100000x100000", "65535x65535", "20001x20001", "ljpeg_20000x20000"):
        assert result[str(tmp_path / "in" / f"absurd_dims_{name}.dng")] == "CorruptRawError"


@pytest.mark.data
def test_real_dng_truncated_and_damaged(tmp_path, corpus, hdrmerge_dngs):
    """The real Nikon DNG cut at a few offsets (IFDs, thumbnail, raw tiles, last byte) and with
    its raw IFD's tile tables damaged: refused before LibRaw decodes anything."""
    from rawpipe.raw import read_raw
    from rawpipe.raw._tiff import TiffReader

    src = hdrmerge_dngs[0]
    data = src.read_bytes()
    digest = corpus.sha256_bytes(data)
    reader = TiffReader(data)
    raw_ifd = next(i for i in reader.walk() if reader.get(i, 254, 0) == 0 and 33421 in i)
    tile_off = reader.get_array(raw_ifd, 324)
    cuts = [0, 7, 8, 100, raw_ifd.offset + 5, int(tile_off[0]) + 10, int(tile_off[-1]) + 1,
            len(data) // 2, len(data) - 1]  # fmt: skip
    tally = corpus.Tally()
    target = tmp_path / "case.dng"
    for cut in cuts:
        target.write_bytes(data[:cut])
        tally.add("real_truncated", _run_read(read_raw, target), str(cut))
    # the tile offset table pointing past the end / tile byte counts of 0xFFFFFFFF
    for tag, label in ((324, "offsets"), (325, "counts")):
        e = raw_ifd.entries[tag]
        b = bytearray(data)
        fmt = reader.endian + ("I" if e.type == 4 else "H")
        b[e.offset : e.offset + 4] = np.array([0xFFFFFFFF], dtype=fmt[0] + "u4").tobytes()
        target.write_bytes(bytes(b))
        tally.add("real_tiles", _run_read(read_raw, target), label)
    tally.report("real DNG (hdrmerge sample1)")
    assert corpus.sha256_bytes(src.read_bytes()) == digest
    assert tally.bad == []
    assert tally.by_kind["real_truncated"] == {"CorruptRawError": len(cuts)}


def _run_read(read_raw, path: Path) -> str:
    try:
        with time_limit(30):
            read_raw(path)
        return "ok"
    except RawpipeError as err:
        return type(err).__name__
    except Hang:
        return "HANG"
    except Exception as err:
        return f"CRASH {type(err).__name__}: {err}"


@pytest.mark.slow
@pytest.mark.data
def test_bigger_corpus(tmp_path, corpus, hdrmerge_dngs):
    """The slow variant: every truncation offset of the structure, more seeds of random flips,
    the other Bayer phases, and damaged copies of the real DNG through the batch worker."""
    cases = []
    for i, pattern in enumerate(("RGGB", "BGGR", "GRBG", "GBRG")):
        rich = corpus.small_dng_bytes(tmp_path, seed=10 + i, pattern=pattern, gain_map=True)
        head = max(e["vpos"] + e["size"] for e in corpus.ifd0_entries(rich) if e["size"] > 4)
        cases += corpus.truncations(
            rich, kind=f"truncated_{pattern}", header_step=1, n_tail=100, seed=i
        )
        cases += corpus.random_flips(rich, kind=f"flips_{pattern}", n=1000, seed=100 + i, head=head)
        cases += [(k, f"{pattern}_{n}", b) for k, n, b in corpus.ifd_field_mutations(rich)]
        cases += [(k, f"{pattern}_{n}", b) for k, n, b in corpus.tag_value_mutations(rich, seed=i)]
    cases += _default_cases(corpus, tmp_path)
    cases = list({n: (k, n, b) for k, n, b in cases}.values())
    # the real DNG: random flips in its IFDs and tables (first 140 kB), decoded when they pass
    data = hdrmerge_dngs[1].read_bytes()
    rng = np.random.default_rng(7)
    for i in range(8):
        b = bytearray(data)
        for _ in range(4):
            b[int(rng.integers(8, 140_000))] = int(rng.integers(0, 256))
        cases.append(("real_flips", f"real_flips_{i}.dng", bytes(b)))
    tally = run_corpus_through_batch(cases, tmp_path, corpus, title="bigger corpus (slow)")
    assert tally.bad == []


def test_libraw_filter_codes_rawpy_cannot_describe(tmp_path, corpus, monkeypatch):
    """Regression F12 (slow corpus, flips_GRBG_102_0155 in a batch worker): LibRaw left a damaged
    file with ``filters == 94``, for which rawpy's ``raw_pattern`` raises NotImplementedError. Not
    reproducible on demand (it depended on the worker's history), so simulated here."""
    import rawpy

    from rawpipe.errors import UnsupportedRawError
    from rawpipe.raw import read_raw, write_dng

    path = write_dng(tmp_path / "ok.dng", corpus.small_mosaic(), corpus.small_metadata())
    real_imread = rawpy.imread

    class Odd:
        def __init__(self, raw):
            self._raw = raw

        def __enter__(self):
            self._raw.__enter__()
            return self

        def __exit__(self, *exc):
            return self._raw.__exit__(*exc)

        @property
        def raw_pattern(self):
            raise NotImplementedError("filters: 94")

        def __getattr__(self, name):
            return getattr(self._raw, name)

    monkeypatch.setattr(rawpy, "imread", lambda f: Odd(real_imread(f)))
    with pytest.raises(UnsupportedRawError, match="filters: 94"):
        read_raw(path)
