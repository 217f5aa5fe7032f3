"""Hypothesis property suite (short; part of the default run).

- the DNG writer/reader round trip for random sizes, CFA phases, levels and metadata;
- rawpipe's own parsing (TIFF/IFD structure, DNG tags, opcode lists) on arbitrary bytes and on
  mutated valid files never raises anything but a RawpipeError;
- CFA normalisation/packing round trips and colour placement;
- the VST: numpy/torch agreement and monotonicity of the forward and inverse transforms.

The long-running counterpart is ``make fuzz`` (atheris, fuzz/).
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rawpipe.errors import CorruptRawError, RawpipeError
from rawpipe.raw import (
    CFAPattern,
    GainMap,
    RawMetadata,
    denormalize_cfa,
    normalize_cfa,
    pack_rggb,
    read_raw,
    unpack_rggb,
    write_dng,
)
from rawpipe.raw.io import inspect_bytes
from rawpipe.raw.opcodes import encode_gain_maps, parse_opcode_list

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PARSE = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PATTERNS = [p.value for p in CFAPattern]


# ------------------------------------------------------------------------ DNG round trip

ascii_text = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=0, max_size=24
)


@st.composite
def dng_inputs(draw):
    h = draw(st.integers(22, 48))
    w = draw(st.integers(22, 48))
    pattern = draw(st.sampled_from(PATTERNS))
    bits = draw(st.sampled_from([10, 12, 14, 16]))
    white = draw(st.integers(2 ** (bits - 1), 2**bits - 1))
    black = tuple(draw(st.integers(0, white // 4)) for _ in range(4))
    seed = draw(st.integers(0, 2**32 - 1))
    mosaic = np.random.default_rng(seed).integers(0, white + 1, (h, w)).astype(np.uint16)
    gains = (draw(st.floats(0.25, 8.0)), 1.0, draw(st.floats(0.25, 8.0)))
    noise = draw(
        st.none() | st.tuples(st.floats(1e-6, 1e-2), st.floats(1e-9, 1e-4)).map(lambda p: (p, p, p))
    )
    gain_map = None
    if draw(st.booleans()):
        pv, ph = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        gain_map = GainMap(
            top=draw(st.integers(0, 1)),
            left=draw(st.integers(0, 1)),
            bottom=h,
            right=w,
            row_pitch=2,
            col_pitch=2,
            points_v=pv,
            points_h=ph,
            spacing_v=float(h) / max(pv - 1, 1),
            spacing_h=float(w) / max(ph - 1, 1),
            origin_v=0.0,
            origin_h=0.0,
            gains=tuple(draw(st.floats(0.5, 3.0, width=32)) for _ in range(pv * ph)),
        )
    md = RawMetadata(
        cfa_pattern=pattern,
        black_level=tuple(float(b) for b in black),
        white_level=float(white),
        wb_gains=gains,
        noise_profile=noise,
        orientation=draw(st.integers(1, 8)),
        make=draw(ascii_text),
        model=draw(ascii_text),
        iso=float(draw(st.integers(50, 25600))),
        exposure_time=draw(st.sampled_from([1 / 8000, 1 / 250, 1 / 30, 0.5, 2.0, 30.0])),
        gain_maps=(gain_map,) if gain_map else (),
    )
    return mosaic, md


@FAST
@given(dng_inputs())
def test_dng_round_trip(case):
    """write_dng → read_raw gives back the mosaic bit-exact and the metadata it wrote."""
    mosaic, md = case
    with tempfile.TemporaryDirectory() as d:
        path = write_dng(Path(d) / "rt.dng", mosaic, md)
        before = path.read_bytes()
        img = read_raw(path)
        assert path.read_bytes() == before
    got = img.metadata
    np.testing.assert_array_equal(img.mosaic, mosaic)
    assert got.cfa_pattern is md.cfa_pattern
    assert got.black_level == md.black_level
    assert got.white_level == md.white_level
    np.testing.assert_allclose(got.wb_gains, md.wb_gains, rtol=1e-5)
    assert got.orientation == md.orientation
    assert (got.make, got.model) == (md.make, md.model)
    assert got.iso == md.iso
    assert got.exposure_time == pytest.approx(md.exposure_time, rel=1e-6)
    assert got.noise_profile == md.noise_profile
    assert len(got.gain_maps) == len(md.gain_maps)
    for g, m in zip(got.gain_maps, md.gain_maps):
        # geometry is stored relative to the image size, so (x / size) * size may come back 1 ulp
        # off in float64; a 1-point axis has no spacing or origin at all
        axes = {"v": m.points_v > 1, "h": m.points_h > 1}
        for f in dataclasses.fields(m):
            axis = f.name.rpartition("_")[2]
            if f.name.startswith(("spacing_", "origin_")) and not axes[axis]:
                continue
            assert getattr(g, f.name) == pytest.approx(getattr(m, f.name), rel=1e-12), f.name
        # compare what the maps do: that 1-ulp geometry moves a float32 gain by at most 1 ulp
        a, b = np.ones(mosaic.shape, np.float32), np.ones(mosaic.shape, np.float32)
        g.apply(a)
        m.apply(b)
        np.testing.assert_allclose(a, b, rtol=2.0 * np.finfo(np.float32).eps, atol=0)
    assert got.bits_per_sample == 16


# ------------------------------------------------------------- parsing never raises untyped


@functools.cache
def _valid_dng() -> bytes:
    md = RawMetadata(
        cfa_pattern="GBRG",
        black_level=(64.0, 64.0, 64.0, 64.0),
        white_level=4095.0,
        noise_profile=((1e-4, 1e-6),) * 3,
        make="Make",
        model="Model",
        exposure_time=0.01,
        iso=100.0,
        gain_maps=(GainMap(0, 0, 24, 32, 2, 2, 2, 2, 24.0, 32.0, 0.0, 0.0, (1.0, 1.5, 1.25, 2.0)),),
    )
    mosaic = np.random.default_rng(0).integers(0, 4096, (24, 32)).astype(np.uint16)
    with tempfile.TemporaryDirectory() as d:
        return write_dng(Path(d) / "v.dng", mosaic, md).read_bytes()


def _parse(data: bytes) -> None:
    """Everything rawpipe parses itself before LibRaw: structure, DNG tags, opcode lists."""
    try:
        _kind, _what, reader, tags = inspect_bytes(data, name="case")
        if tags is not None:
            for blob in tags.opcode_lists.values():
                parse_opcode_list(blob, image_size=(tags.height, tags.width), name="case")
        if reader is not None:
            for ifd in reader.walk():
                for tag in list(ifd.entries)[:64]:
                    reader.get(ifd, tag)
    except RawpipeError:
        pass


@PARSE
@given(st.binary(max_size=2048))
def test_parser_on_arbitrary_bytes(data):
    _parse(data)


@PARSE
@given(st.sampled_from([b"II*\x00", b"MM\x00*", b"II+\x00"]), st.binary(max_size=2048))
def test_parser_on_arbitrary_tiff_bodies(magic, body):
    _parse(magic + body)


@PARSE
@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), min_size=1, max_size=12))
def test_parser_on_mutated_valid_dng(flips):
    data = bytearray(_valid_dng())
    for pos, value in flips:
        data[pos % min(len(data), 1200)] = value  # the IFD and tag values live in front
    _parse(bytes(data))


@PARSE
@given(st.integers(0, 10**9))
def test_truncated_valid_dng_is_refused(cut):
    data = _valid_dng()
    with pytest.raises(CorruptRawError):
        inspect_bytes(data[: cut % len(data)])


# ------------------------------------------------------------------------------ opcodes


@PARSE
@given(
    st.binary(max_size=1024),
    st.tuples(st.integers(1, 64), st.integers(1, 64)),
    st.tuples(st.integers(-2, 2), st.integers(-2, 2)),
)
def test_opcode_parser_on_arbitrary_bytes(data, size, offset):
    _apply_opcodes(data, size, offset)


@PARSE
@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), min_size=1, max_size=8))
def test_opcode_parser_on_mutated_gain_map(flips):
    gm = GainMap(0, 1, 16, 16, 2, 2, 2, 3, 16.0, 8.0, 0.0, 0.0, (1.0, 1.1, 1.2, 1.3, 1.4, 1.5))
    blob = bytearray(encode_gain_maps([gm, gm], (16, 16)))
    for pos, value in flips:
        blob[pos % len(blob)] = value
    _apply_opcodes(bytes(blob), (16, 16), (0, 0))


def _apply_opcodes(data: bytes, size: tuple[int, int], offset: tuple[int, int]) -> None:
    try:
        maps, _names = parse_opcode_list(data, image_size=size, offset=offset, name="case")
    except CorruptRawError:
        return
    x = np.ones(size, dtype=np.float32)
    for gm in maps:
        gm.apply(x)  # whatever the file said, applying a parsed map is safe and finite
    assert np.isfinite(x).all()


# --------------------------------------------------------------------------------- CFA

shapes = st.tuples(st.integers(2, 11), st.integers(2, 11))


@FAST
@given(shapes, st.sampled_from(PATTERNS), st.integers(0, 2))
def test_normalize_cfa_round_trip_and_colours(shape, pattern, lead):
    """normalize → denormalize is exact; every normalised site holds a value of its RGGB colour;
    numpy and torch agree."""
    p = CFAPattern(pattern)
    h, w = shape
    colour = np.array([[p.index_at(y, x) for x in range(w)] for y in range(h)], dtype=np.int64)
    x = np.random.default_rng(h * 31 + w).integers(0, 2**16, (2,) * lead + shape).astype(np.uint16)
    y, pad = normalize_cfa(x, p)
    assert y.shape[-2] % 2 == 0 and y.shape[-1] % 2 == 0
    np.testing.assert_array_equal(denormalize_cfa(y, pad), x)
    c, _ = normalize_cfa(colour, p)
    rggb = np.array([[CFAPattern.RGGB.index_at(yy, xx) for xx in range(c.shape[1])]
                     for yy in range(c.shape[0])])  # fmt: skip
    np.testing.assert_array_equal(c, rggb)
    yt, pad_t = normalize_cfa(torch.from_numpy(x.astype(np.int32)), p)
    assert pad_t == pad
    np.testing.assert_array_equal(yt.numpy(), y.astype(np.int32))


@FAST
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 2), st.booleans())
def test_pack_unpack_round_trip(h2, w2, lead, use_torch):
    shape = (3,) * lead + (1, 2 * h2, 2 * w2)
    x = np.random.default_rng(h2 * 7 + w2).random(shape).astype(np.float32)
    xin = torch.from_numpy(x) if use_torch else x
    packed = pack_rggb(xin)
    assert tuple(packed.shape) == (3,) * lead + (4, h2, w2)
    back = unpack_rggb(packed)
    np.testing.assert_array_equal(np.asarray(back), x)
    # channel order R, G1, G2, B = pixel_unshuffle's
    ref = torch.nn.functional.pixel_unshuffle(torch.from_numpy(x).reshape(-1, 1, 2 * h2, 2 * w2), 2)
    np.testing.assert_array_equal(np.asarray(packed).reshape(ref.shape), ref.numpy())


@FAST
@given(st.sampled_from(PATTERNS), st.integers(0, 5), st.integers(0, 5))
def test_pattern_shift(pattern, dy, dx):
    p = CFAPattern(pattern)
    q = p.shifted(dy, dx)
    for y in range(2):
        for x in range(2):
            assert q.color_at(y, x) == p.color_at(y + dy, x + dx)


# --------------------------------------------------------------------------------- VST


def _vst():
    noise = pytest.importorskip("rawpipe.noise")
    return noise.generalized_anscombe, noise.inverse_generalized_anscombe


params_st = st.tuples(st.floats(1e-5, 5e-2), st.floats(1e-9, 1e-3))
signal_st = st.lists(st.floats(-0.05, 2.0), min_size=2, max_size=32)


@FAST
@given(params_st, signal_st)
def test_vst_numpy_torch_agree_and_forward_is_monotone(params, xs):
    fwd, inv = _vst()
    x = np.sort(np.asarray(xs, dtype=np.float64))
    f_np = fwd(x, params)
    f_t = fwd(torch.from_numpy(x), params)
    np.testing.assert_allclose(f_t.numpy(), f_np, rtol=1e-12, atol=1e-12)
    assert np.all(np.diff(f_np) >= 0) and np.all(np.isfinite(f_np))
    for method in ("exact_unbiased", "closed_form", "asymptotic", "algebraic"):
        i_np = inv(f_np, params, method=method)
        i_t = inv(torch.from_numpy(f_np), params, method=method).numpy()
        # the inverses subtract s² from ~D²/4 (counts): rounding of those bounds the agreement
        a, b = params
        cancel = a * (f_np**2 / 4 + b / a**2 + 1.0)
        assert np.all(np.abs(i_t - i_np) <= 1e-9 * np.abs(i_np) + 1e-12 * cancel), method


@FAST
@given(params_st, st.lists(st.floats(0.0, 400.0), min_size=2, max_size=32))
def test_vst_inverse_is_monotone(params, ds):
    _fwd, inv = _vst()
    d = np.sort(np.asarray(ds, dtype=np.float64))
    for method in ("exact_unbiased", "closed_form", "asymptotic", "algebraic"):
        y = inv(d, params, method=method)
        assert np.all(np.isfinite(y))
        assert np.all(np.diff(y) >= -1e-12 * np.maximum(1.0, np.abs(y[1:]))), method


@FAST
@given(params_st, st.floats(0.05, 2.0))
def test_vst_large_signal_inverse_undoes_forward(params, x):
    """For signals well above the noise the exact unbiased inverse of f(x) is close to x (the
    Jensen bias vanishes as counts grow); for the algebraic inverse it is exact by definition."""
    fwd, inv = _vst()
    a, _b = params
    assume(x / a > 50)  # ≥ 50 photo-electrons
    f = fwd(np.array([x]), params)
    assert inv(f, params, method="algebraic")[0] == pytest.approx(x, rel=1e-9, abs=1e-12)
    assert inv(f, params)[0] == pytest.approx(x, rel=0.02, abs=2 * a)


@pytest.mark.parametrize("use_torch", [False, True])
def test_vst_inverse_of_nan_does_not_raise(use_torch):
    """Fuzz finding F4 (fixed): a NaN in the VST domain indexed the table at INT64_MIN."""
    _fwd, inv = _vst()
    d = np.array([1.0, np.nan, 3.0])
    out = np.asarray(inv(torch.from_numpy(d) if use_torch else d, (1e-3, 1e-5)))
    assert np.isnan(out[1]) and np.isfinite(out[[0, 2]]).all()
