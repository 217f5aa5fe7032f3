"""Fuzz targets over rawpipe's own code: one function per target, ``target(data: bytes) -> None``.

A target returns normally for every input rawpipe handles as designed (a result, or a typed
:class:`rawpipe.errors.RawpipeError`) and raises anything else (an untyped exception or a failed
property check): that is a finding. The functions do not import atheris, so the regression test
(``tests/reliability/test_fuzz_regressions.py``) replays saved findings without it; ``run.py``
drives them with atheris.

Targets (LibRaw is C code atheris cannot see into; only ``roundtrip`` reaches it, with files
rawpipe itself wrote):

- ``dng_parse``: bytes → everything ``read_raw`` checks before LibRaw (TIFF/IFD structure, DNG
  tags, CFA, sizes) + every tag value + the opcode lists.
- ``opcodes``: bytes → ``parse_opcode_list`` → apply each GainMap to a small image.
- ``metadata``: bytes → DNG tags → ``RawMetadata`` (colour interpolation, levels, crop, gain maps)
  → what the outputs make of it (sRGB matrix, EXIF, DNG writer tags).
- ``roundtrip``: bytes → parameters → ``write_dng`` → ``read_raw`` must give the same mosaic and
  metadata; ``write_linear_dng`` → ``read_raw`` must refuse it.
- ``vst``: bytes → signal and noise parameters → GAT forward/inverse and k-Sigma: numpy and torch
  agree, forward and inverse monotone, finite in → finite out.
"""

from __future__ import annotations

import io
import math
import os
import struct
import tempfile
from pathlib import Path

import numpy as np

from rawpipe.errors import CorruptRawError, RawpipeError, UnsupportedRawError

__all__ = ["TARGETS", "ByteReader"]


class ByteReader:
    """Turns fuzzer bytes into typed values (like atheris' FuzzedDataProvider, but replayable
    without atheris). Reads past the end give zeros."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b.ljust(n, b"\x00")

    def remaining(self) -> bytes:
        b = self.data[self.pos :]
        self.pos = len(self.data)
        return b

    def int(self, lo: int, hi: int) -> int:
        """An int in [lo, hi]."""
        (v,) = struct.unpack("<Q", self.take(8))
        return lo + v % (hi - lo + 1)

    def unit(self) -> float:
        """A float in [0, 1]."""
        (v,) = struct.unpack("<I", self.take(4))
        return v / 0xFFFFFFFF

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.unit()

    def log_uniform(self, lo: float, hi: float) -> float:
        return math.exp(self.uniform(math.log(lo), math.log(hi)))

    def any_float(self) -> float:
        """Any float64, NaN and infinities included."""
        (v,) = struct.unpack("<d", self.take(8))
        return v

    def choice(self, options):
        return options[self.int(0, len(options) - 1)]

    def text(self, max_len: int) -> str:
        n = self.int(0, max_len)
        return self.take(n).decode("latin-1")


# ----------------------------------------------------------------------------- dng_parse


def dng_parse(data: bytes) -> None:
    from rawpipe.raw.io import inspect_bytes

    try:
        _kind, _what, reader, tags = inspect_bytes(data, name="fuzz")
    except RawpipeError:
        return
    if reader is not None:
        try:
            ifds = reader.walk()
        except CorruptRawError:
            ifds = reader.ifds
        for ifd in ifds:
            for tag in list(ifd.entries)[:256]:
                try:
                    reader.get(ifd, tag)
                    reader.get_array(ifd, tag)
                except CorruptRawError:
                    pass
    if tags is not None:
        top, left, bottom, right = tags.active_area
        for blob in tags.opcode_lists.values():
            _parse_and_apply(blob, (bottom - top, right - left), (0, 0))


def _parse_and_apply(blob: bytes, size: tuple[int, int], offset: tuple[int, int]) -> None:
    from rawpipe.raw.opcodes import parse_opcode_list

    try:
        maps, _names = parse_opcode_list(blob, image_size=size, offset=offset, name="fuzz")
    except CorruptRawError:
        return
    h, w = min(size[0], 64), min(size[1], 64)
    x = np.ones((h, w), dtype=np.float32)
    for gm in maps:
        gm.apply(x)
    if not np.isfinite(x).all():
        raise AssertionError("a parsed gain map made a finite image non-finite")


# ------------------------------------------------------------------------------- opcodes


def opcodes(data: bytes) -> None:
    r = ByteReader(data[:6])
    size = (r.int(1, 256), r.int(1, 256)) if len(data) >= 6 else (16, 16)
    offset = (data[4] % 5 - 2, data[5] % 5 - 2) if len(data) >= 6 else (0, 0)
    del r
    _parse_and_apply(data[6:], size, offset)


# ------------------------------------------------------------------------------ metadata


def metadata(data: bytes) -> None:
    from rawpipe.raw.io import inspect_bytes

    try:
        _kind, _what, _reader, tags = inspect_bytes(data, name="fuzz")
    except RawpipeError:
        return
    if tags is None:
        return
    md = _metadata_from_tags(tags)
    if md is None:
        return
    _check_outputs_accept(md)


def _metadata_from_tags(tags):
    """What ``read_raw`` makes of the tags, with a stand-in for LibRaw's view of the file."""
    from rawpipe.raw.cfa import CFAPattern
    from rawpipe.raw.io import _dng_metadata
    from rawpipe.raw.rawpy_backend import LibRawData

    top, left, bottom, right = tags.active_area
    h, w = min(bottom - top, 64), min(right - left, 64)
    lr = LibRawData(
        mosaic=np.zeros((h, w), dtype=np.uint16),
        tile=tags.cfa_tile,
        black_per_site=(0.0, 0.0, 0.0, 0.0),
        white_level=float(2**tags.bits_per_sample - 1),
        camera_wb=(2.0, 1.0, 1.5, 1.0),
        daylight_wb=(2.0, 1.0, 1.5, 1.0),
        rgb_xyz_matrix=np.zeros((4, 3)),
        color_matrix=np.eye(3, 4),
        iso=0.0,
        shutter=0.0,
        aperture=0.0,
        focal_length=0.0,
        orientation=1,
        top_margin=top,
        left_margin=left,
        raw_height=tags.height,
        raw_width=tags.width,
    )
    pattern = CFAPattern.from_tile(tags.cfa_tile)
    try:
        return _dng_metadata(tags, lr, pattern, "fuzz")
    except ValueError as err:  # read_raw turns these into CorruptRawError
        raise CorruptRawError(str(err)) from err
    except RawpipeError:
        return None


def _check_outputs_accept(md) -> None:
    """Every output stage takes any metadata read_raw produced."""
    import tifffile

    from rawpipe.color import camera_to_srgb_matrix
    from rawpipe.image_io import _pil_exif
    from rawpipe.pipeline import _exif_of
    from rawpipe.raw.writer import _common_tags

    m = np.asarray(camera_to_srgb_matrix(np.asarray(md.xyz_to_camera)))
    if not np.all(np.isfinite(m)):
        raise AssertionError(f"non-finite camera→sRGB matrix from {md.xyz_to_camera}")
    if not all(math.isfinite(g) and g > 0 for g in md.wb_gains):
        raise AssertionError(f"white balance gains {md.wb_gains}")
    _pil_exif(_exif_of(md))
    x = np.ones((32, 32), dtype=np.float32)
    for gm in md.gain_maps:
        gm.apply(x)
    if not np.isfinite(x).all():
        raise AssertionError("the file's gain maps make a finite image non-finite")
    for linear in (False, True):
        tags = _common_tags(md, linear=linear)
        tifffile.imwrite(io.BytesIO(), np.zeros((2, 2), np.uint16), extratags=tags, metadata=None)


# ----------------------------------------------------------------------------- roundtrip

_TMP = Path(tempfile.gettempdir()) / f"rawpipe-fuzz-{os.getpid()}"


def roundtrip(data: bytes) -> None:
    from rawpipe.raw import GainMap, RawMetadata, read_raw, write_dng, write_linear_dng
    from rawpipe.raw.writer import _ascii

    r = ByteReader(data)
    h, w = r.int(22, 64), r.int(22, 64)
    pattern = r.choice(["RGGB", "BGGR", "GRBG", "GBRG"])
    bits = r.int(8, 16)
    white = r.int(2 ** (bits - 1), 2**bits - 1)
    integer_black = r.int(0, 1)
    black = tuple(
        float(r.int(0, white // 2)) if integer_black else round(r.uniform(0, white / 2), 2)
        for _ in range(4)
    )
    seed = r.int(0, 2**32 - 1)
    mosaic = np.random.default_rng(seed).integers(0, 2**bits, (h, w)).astype(np.uint16)
    gains = (r.log_uniform(0.1, 10.0), 1.0, r.log_uniform(0.1, 10.0))
    maps = ()
    if r.int(0, 1):
        pv, ph = r.int(1, 5), r.int(1, 5)
        maps = (
            GainMap(
                top=r.int(0, 3), left=r.int(0, 3), bottom=r.int(h // 2, h), right=r.int(w // 2, w),
                row_pitch=r.int(1, 4), col_pitch=r.int(1, 4), points_v=pv, points_h=ph,
                spacing_v=r.uniform(1.0, 2.0 * h), spacing_h=r.uniform(1.0, 2.0 * w),
                origin_v=r.uniform(-h, h), origin_h=r.uniform(-w, w),
                gains=tuple(r.uniform(0.25, 4.0) for _ in range(pv * ph)),
            ),
        )  # fmt: skip
    noise = None
    if r.int(0, 1):
        noise = tuple((r.log_uniform(1e-7, 1e-1), r.log_uniform(1e-10, 1e-2)) for _ in range(3))
    make, model = r.text(40), r.text(40)
    try:
        md = RawMetadata(
            cfa_pattern=pattern,
            black_level=black,
            white_level=float(white),
            wb_gains=gains,
            orientation=r.int(1, 8),
            make=make,
            model=model,
            iso=float(r.int(1, 200000)),
            exposure_time=r.log_uniform(1e-5, 1e4),
            noise_profile=noise,
            gain_maps=maps,
            baseline_exposure=r.uniform(-10, 10),
        )
    except ValueError:
        return  # not a valid RawMetadata: nothing to round-trip
    _TMP.mkdir(exist_ok=True)
    path = write_dng(_TMP / "rt.dng", mosaic, md, overwrite=True)
    before = path.read_bytes()
    img = read_raw(path)
    if path.read_bytes() != before:
        raise AssertionError("read_raw modified its input")
    got = img.metadata
    if not np.array_equal(img.mosaic, mosaic):
        raise AssertionError("mosaic differs after write_dng → read_raw")
    _expect(got.cfa_pattern == md.cfa_pattern, "pattern", got.cfa_pattern, md.cfa_pattern)
    _expect(got.white_level == md.white_level, "white", got.white_level, md.white_level)
    _expect(np.allclose(got.black_level, md.black_level, rtol=1e-6, atol=1e-6), "black",
            got.black_level, md.black_level)  # fmt: skip
    _expect(np.allclose(got.wb_gains, md.wb_gains, rtol=1e-4), "wb", got.wb_gains, md.wb_gains)
    _expect(got.orientation == md.orientation, "orientation", got.orientation, md.orientation)
    _expect(got.make == _ascii(make).strip(), "make", got.make, make)
    _expect(got.model == _ascii(model).strip(), "model", got.model, model)
    _expect(got.iso == min(md.iso, 65535), "iso", got.iso, md.iso)
    _expect(got.noise_profile == md.noise_profile, "noise", got.noise_profile, md.noise_profile)
    _expect(len(got.gain_maps) == len(maps), "gain maps", got.gain_maps, maps)
    for g, m in zip(got.gain_maps, maps):
        a, b = np.ones((h, w), np.float32), np.ones((h, w), np.float32)
        g.apply(a)
        m.apply(b)
        _expect(np.allclose(a, b, rtol=1e-5), "gain map effect", g, m)
    lin = write_linear_dng(_TMP / "lin.dng", np.zeros((4, 4, 3), np.float32), md, overwrite=True)
    try:
        read_raw(lin)
    except UnsupportedRawError:
        pass
    else:
        raise AssertionError("read_raw accepted rawpipe's own linear DNG")


def _expect(ok: bool, what: str, got, want) -> None:
    if not ok:
        raise AssertionError(f"round trip changed {what}: got {got!r}, wrote {want!r}")


# ----------------------------------------------------------------------------------- vst


def vst(data: bytes) -> None:
    import torch

    from rawpipe.noise import (
        generalized_anscombe,
        inverse_generalized_anscombe,
        inverse_k_sigma,
        k_sigma,
    )

    r = ByteReader(data)
    a, b = r.log_uniform(1e-6, 1.0), r.choice([0.0, r.log_uniform(1e-12, 1.0)])
    n = r.int(1, 32)
    raw = [r.any_float() for _ in range(n)]
    # any float64 bit pattern, NaN and infinities included: nothing may raise (finding F4)
    anything = np.array(raw, dtype=np.float64)
    with np.errstate(all="ignore"):
        for values in (anything, torch.from_numpy(anything)):
            generalized_anscombe(values, (a, b))
            for method in ("exact_unbiased", "closed_form", "asymptotic", "algebraic"):
                inverse_generalized_anscombe(values, (a, b), method=method)
    x = np.sort(np.clip(anything[np.isfinite(anything)], -1e6, 1e6))
    if x.size == 0:
        return
    params = (a, b)
    f_np = generalized_anscombe(x, params)
    f_t = generalized_anscombe(torch.from_numpy(x), params).numpy()
    if not np.allclose(f_np, f_t, rtol=1e-12, atol=1e-12, equal_nan=True):
        raise AssertionError("GAT: numpy and torch disagree")
    if not np.all(np.isfinite(f_np)) or np.any(np.diff(f_np) < 0):
        raise AssertionError("GAT: not finite and monotone on finite input")
    d = np.sort(np.concatenate([f_np, x[np.abs(x) < 1e4]]))
    for method in ("exact_unbiased", "closed_form", "asymptotic", "algebraic"):
        i_np = inverse_generalized_anscombe(d, params, method=method)
        i_t = inverse_generalized_anscombe(torch.from_numpy(d), params, method=method).numpy()
        # the inverses subtract s² (read noise in counts) from ~D²/4: the rounding of both terms
        # bounds how closely two float64 implementations can agree
        cancel = a * (d * d / 4 + b / a**2 + 1.0)
        if np.any(np.abs(i_np - i_t) > 1e-9 * np.abs(i_np) + 1e-12 * cancel):
            raise AssertionError(f"inverse GAT ({method}): numpy and torch disagree")
        if not np.all(np.isfinite(i_np)):
            raise AssertionError(f"inverse GAT ({method}): finite in, non-finite out")
        # exact_unbiased and closed_form are monotone everywhere (linear continuation / clip);
        # the asymptotic and algebraic inverses are quadratics in D, monotone for D >= 0 only
        keep = slice(None) if method in ("exact_unbiased", "closed_form") else d >= 0
        y = i_np[keep]
        if np.any(np.diff(y) < -1e-9 * np.maximum(1.0, np.abs(y[1:]))):
            raise AssertionError(f"inverse GAT ({method}) is not monotone")
    anchor = (r.log_uniform(1e-6, 1.0), r.log_uniform(1e-12, 1.0))
    back = inverse_k_sigma(k_sigma(x, params, anchor), params, anchor)
    offset = abs((b / a**2 - anchor[1] / anchor[0] ** 2) * a)  # k-Sigma's offset in x units
    if not np.all(np.abs(back - x) <= 1e-9 * (np.abs(x) + offset) + 1e-300):
        raise AssertionError("k-Sigma inverse does not undo the forward transform")


TARGETS = {
    "dng_parse": dng_parse,
    "opcodes": opcodes,
    "metadata": metadata,
    "roundtrip": roundtrip,
    "vst": vst,
}
