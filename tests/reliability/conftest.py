"""Malformed-input corpus for the reliability tests: generated, seeded, written to tmp dirs.

Each generator returns ``[(kind, filename, bytes)]``. The kinds are what the issue lists:
truncations, flipped bytes in IFD entries and tag values, absurd declared sizes and bit depths,
zero-size files, wrong or missing CFA tags, NaN/inf in float DNGs and float tags, non-RAW files with
RAW extensions. The tests hand every case to ``process_raw`` (through the isolated batch worker) and
accept only a valid output or a typed :class:`rawpipe.errors.RawpipeError`.

Helpers are exposed through the ``corpus`` fixture (a namespace), because tests are imported with
``--import-mode=importlib`` and cannot import each other.
"""

from __future__ import annotations

import collections
import hashlib
import io
import struct
import types
from pathlib import Path

import numpy as np
import pytest

SMALL_SHAPE = (24, 32)  # LibRaw decodes CFA DNGs from 22×22 up
RAW_EXTS = (".dng", ".nef", ".cr2", ".arw")
CM_D65 = (0.7309, -0.1403, -0.0519, -0.8474, 1.6008, 0.2622, -0.2433, 0.2826, 0.8064)


# ------------------------------------------------------------------------------- valid files


def small_metadata(pattern: str = "RGGB", *, gain_map: bool = False):
    from rawpipe.raw import GainMap, RawMetadata

    maps = ()
    if gain_map:
        maps = (
            GainMap(
                top=0, left=0, bottom=SMALL_SHAPE[0], right=SMALL_SHAPE[1], row_pitch=2,
                col_pitch=2, points_v=2, points_h=3, spacing_v=20.0, spacing_h=14.0,
                origin_v=0.0, origin_h=0.0, gains=(1.0, 1.1, 1.2, 1.3, 1.2, 1.0),
            ),
        )  # fmt: skip
    return RawMetadata(
        cfa_pattern=pattern,
        black_level=(64.0, 64.0, 64.0, 64.0),
        white_level=4095.0,
        wb_gains=(2.0, 1.0, 1.5),
        color_matrix1=tuple(tuple(CM_D65[3 * i : 3 * i + 3]) for i in range(3)),
        calibration_illuminant1=21,
        noise_profile=((2e-4, 1e-6), (2e-4, 1e-6), (2e-4, 1e-6)),
        iso=200.0,
        exposure_time=0.01,
        make="Testmake",
        model="Testmodel",
        gain_maps=maps,
    )


def small_mosaic(seed: int = 0, shape: tuple[int, int] = SMALL_SHAPE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(64, 4000, shape).astype(np.uint16)


def small_dng_bytes(tmp: Path, *, seed: int = 0, pattern: str = "RGGB", gain_map: bool = False):
    """A small valid CFA DNG written by ``write_dng`` (the writer the SDK ships)."""
    from rawpipe.raw import write_dng

    path = Path(tmp) / f"valid_{pattern}_{seed}_{int(gain_map)}.dng"
    write_dng(path, small_mosaic(seed), small_metadata(pattern, gain_map=gain_map), overwrite=True)
    return path.read_bytes()


def _srational(values, den: int = 10000) -> tuple[int, ...]:
    out: list[int] = []
    for v in values:
        out += [round(v * den), den]
    return tuple(out)


def dng_tags(
    *,
    cfa_dim: tuple[int, ...] | None = (2, 2),
    cfa: bytes | None = bytes((0, 1, 1, 2)),
    white: int = 4095,
    extra: list[tuple] = (),
    drop: tuple[int, ...] = (),
) -> list[tuple]:
    """tifffile extratags of a minimal CFA DNG; ``extra`` replaces tags by code, ``drop`` omits."""
    tags = [
        (33422, 1, len(cfa or b""), cfa, True),
        (50706, 1, 4, bytes((1, 4, 0, 0)), True),
        (50708, 2, 0, "Test Camera", True),
        (50710, 1, 3, bytes((0, 1, 2)), True),
        (50711, 3, 1, 1, True),
        (50713, 3, 2, (2, 2), True),
        (50714, 4, 4, (64, 64, 64, 64), True),
        (50717, 4, 1, white, True),
        (50721, 10, 9, _srational(CM_D65), True),
        (50728, 5, 3, (500000, 1000000, 1000000, 1000000, 700000, 1000000), True),
        (50778, 3, 1, 21, True),
        (271, 2, 0, "Testmake", True),
    ]
    if cfa_dim is not None:
        tags.append((33421, 3, len(cfa_dim), tuple(cfa_dim), True))
    if cfa is None:
        drop = (*drop, 33422)
    codes = {t[0] for t in extra} | set(drop)
    return sorted([t for t in tags if t[0] not in codes] + list(extra), key=lambda t: t[0])


def tiff_bytes(data: np.ndarray, *, photometric: int | str = 32803, tags=None, **kw) -> bytes:
    """A TIFF/DNG written by tifffile (independent of rawpipe's writer) into memory."""
    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(
        buf,
        data,
        photometric=photometric,
        metadata=None,
        extratags=dng_tags() if tags is None else tags,
        planarconfig="contig" if data.ndim == 3 else None,
        **kw,
    )
    return buf.getvalue()


# ------------------------------------------------------------------- classic TIFF IFD surgery

_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


def ifd0_entries(data: bytes) -> list[dict]:
    """The entries of IFD0 of a little-endian classic TIFF: position, tag, type, count, value
    position and size (the independent reading the mutations are built on)."""
    assert data[:4] == b"II*\x00"
    (off,) = struct.unpack_from("<I", data, 4)
    (n,) = struct.unpack_from("<H", data, off)
    out = []
    for k in range(n):
        pos = off + 2 + 12 * k
        tag, typ, count = struct.unpack_from("<HHI", data, pos)
        size = _TYPE_SIZE.get(typ, 1) * count
        vpos = pos + 8 if size <= 4 else struct.unpack_from("<I", data, pos + 8)[0]
        out.append(dict(pos=pos, tag=tag, type=typ, count=count, vpos=vpos, size=size))
    return out


def set_tag(data: bytes, tag: int, typ: int, values: tuple) -> bytes:
    """Rewrite IFD0's ``tag`` in place with an inline value (≤ 4 bytes) of type ``typ``."""
    fmt = {1: "B", 3: "H", 4: "I", 11: "f", 8: "h", 9: "i"}[typ]
    packed = struct.pack("<" + fmt * len(values), *values)
    assert len(packed) <= 4
    b = bytearray(data)
    for e in ifd0_entries(data):
        if e["tag"] == tag:
            struct.pack_into("<HHI", b, e["pos"], tag, typ, len(values))
            b[e["pos"] + 8 : e["pos"] + 12] = packed.ljust(4, b"\x00")
            return bytes(b)
    raise KeyError(tag)


# -------------------------------------------------------------------------------- corpus kinds


def truncations(data: bytes, *, kind: str, header_step: int, n_tail: int, seed: int):
    """``data`` cut at every ``header_step``-th offset of its structure (IFD and tag values, the
    part a parser walks) and at ``n_tail`` seeded offsets in the pixel data."""
    rng = np.random.default_rng(seed)
    ends = [e["vpos"] + e["size"] for e in ifd0_entries(data) if e["size"] > 4]
    structure_end = min(max(ends, default=64), len(data))
    cuts = set(range(0, structure_end, header_step)) | {1, 7, 8, 9, len(data) - 1}
    cuts |= {int(c) for c in rng.integers(structure_end, len(data), n_tail)}
    return [(kind, f"{kind}_{c:07d}.dng", data[:c]) for c in sorted(cuts) if c < len(data)]


def ifd_field_mutations(data: bytes, *, kind: str = "ifd_fields"):
    """Systematic: every IFD0 entry's tag, type, count and value/offset field set to values that
    break readers (0, 1, a wrong type, all ones, large, off by one, pointing past the end)."""
    out = []
    n = len(data)
    for k, e in enumerate(ifd0_entries(data)):
        p = e["pos"]
        variants = {
            "tag0": (p, "<H", 0),
            "tagdup": (p, "<H", 256),  # a second ImageWidth
            **{f"type{t}": (p + 2, "<H", t) for t in (0, 1, 2, 5, 7, 11, 12, 13, 16, 99)},
            **{f"count{c}": (p + 4, "<I", c) for c in (0, 1, 2, e["count"] + 1, 0xFFFF)},
            "countmax": (p + 4, "<I", 0xFFFFFFFF),
            "val0": (p + 8, "<I", 0),
            "val1": (p + 8, "<I", 1),
            "valend": (p + 8, "<I", n - 1),
            "valpast": (p + 8, "<I", n + 8),
            "valmax": (p + 8, "<I", 0xFFFFFFFF),
        }
        for label, (pos, fmt, value) in variants.items():
            b = bytearray(data)
            struct.pack_into(fmt, b, pos, value)
            out.append((kind, f"{kind}_e{k:02d}_t{e['tag']}_{label}.dng", bytes(b)))
    # the IFD's own entry count and next-IFD pointer
    (off,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, off)
    end = off + 2 + 12 * count
    for label, (pos, fmt, value) in {
        "ifdcount0": (off, "<H", 0),
        "ifdcount1": (off, "<H", 1),
        "ifdcount+1": (off, "<H", count + 1),
        "ifdcountmax": (off, "<H", 0xFFFF),
        "next_self": (end, "<I", off),
        "next_past": (end, "<I", n + 100),
        "next_1": (end, "<I", 1),
        "first_0": (4, "<I", 0),
        "first_past": (4, "<I", n),
        "first_odd": (4, "<I", off + 1),
    }.items():
        b = bytearray(data)
        struct.pack_into(fmt, b, pos, value)
        out.append((kind, f"{kind}_{label}.dng", bytes(b)))
    return out


def tag_value_mutations(data: bytes, *, kind: str = "tag_values", seed: int = 0):
    """Every out-of-line tag value: each byte set to 0x00, 0xFF and XOR 0x80 for the first 8 bytes,
    plus the whole value zeroed and filled with 0xFF; inline values too."""
    rng = np.random.default_rng(seed)
    out = []
    for k, e in enumerate(ifd0_entries(data)):
        if e["tag"] in (273, 279, 324, 325):  # strip layout is covered by ifd_fields
            continue
        start, size = e["vpos"], max(min(e["size"], len(data) - e["vpos"]), 0)
        if size == 0:
            continue
        for j in range(min(size, 8)):
            for label, fn in (("ff", lambda v: 0xFF), ("x80", lambda v: v ^ 0x80)):
                b = bytearray(data)
                b[start + j] = fn(b[start + j])
                out.append((kind, f"{kind}_e{k:02d}_t{e['tag']}_b{j}{label}.dng", bytes(b)))
        for label, fill in (("zero", 0), ("ones", 0xFF)):
            b = bytearray(data)
            b[start : start + size] = bytes([fill]) * size
            out.append((kind, f"{kind}_e{k:02d}_t{e['tag']}_{label}.dng", bytes(b)))
        b = bytearray(data)  # a random value of the right length
        b[start : start + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        out.append((kind, f"{kind}_e{k:02d}_t{e['tag']}_rand.dng", bytes(b)))
    return out


def random_flips(data: bytes, *, kind: str = "random_flips", n: int, seed: int, head: int = 0):
    """``n`` copies with 1–8 random bytes replaced (seeded); ``head`` > 0 confines them to the
    first ``head`` bytes (the IFD and tag values) for 80 % of the cases."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        b = bytearray(data)
        limit = head if head and rng.random() < 0.8 else len(b)
        for _ in range(int(rng.integers(1, 9))):
            b[int(rng.integers(0, limit))] = int(rng.integers(0, 256))
        out.append((kind, f"{kind}_{seed}_{i:04d}.dng", bytes(b)))
    return out


def absurd_dimensions(valid: bytes):
    """Declared sizes no camera makes, in DNGs and in a plain TIFF renamed to a RAW extension."""
    out = []
    sizes = [(100000, 100000), (65535, 65535), (0xFFFFFFFF, 1), (1, 0xFFFFFFFF),
             (20001, 20001), (0, 24), (32, 0), (1, 1), (2, 2), (1, 24), (32, 1), (33, 24),
             (100000, 24)]  # fmt: skip
    for w, h in sizes:
        b = set_tag(set_tag(valid, 256, 4, (w,)), 257, 4, (h,))
        out.append(("absurd_dims", f"absurd_dims_{w}x{h}.dng", b))
    # lossless-JPEG compression claimed for a huge image with a few bytes of data
    b = set_tag(set_tag(set_tag(valid, 256, 4, (20000,)), 257, 4, (20000,)), 259, 3, (7,))
    out.append(("absurd_dims", "absurd_dims_ljpeg_20000x20000.dng", b))
    b = set_tag(set_tag(set_tag(valid, 256, 4, (4000,)), 257, 4, (3000,)), 259, 3, (7,))
    out.append(("absurd_dims", "absurd_dims_ljpeg_4000x3000.dng", b))
    # a plain (non-DNG) TIFF: LibRaw decides what it is
    plain = tiff_bytes(np.zeros((8, 8), np.uint16), photometric="minisblack", tags=[])
    for w, h in [(100000, 100000), (65535, 65535)]:
        b = set_tag(set_tag(plain, 256, 4, (w,)), 257, 4, (h,))
        out.append(("absurd_dims", f"absurd_dims_plain_{w}x{h}.nef", b))
    return out


def bit_depths(valid: bytes):
    """BitsPerSample changed on a valid DNG (0, 1, 3, 8, 12, 15, 17, 24, 32, 64, 65535)."""
    return [
        ("bit_depth", f"bit_depth_{bps}.dng", set_tag(valid, 258, 3, (bps,)))
        for bps in (0, 1, 3, 8, 12, 15, 17, 24, 32, 64, 65535)
    ]


def zero_size():
    return [("zero_size", f"zero_size{ext}", b"") for ext in RAW_EXTS]


def cfa_variants():
    """Wrong or missing CFA tags on an otherwise valid tifffile DNG."""
    m = small_mosaic(3)
    cases = {
        "dim3x3": dict(cfa_dim=(3, 3), cfa=bytes((0, 1, 2, 1, 2, 0, 2, 0, 1))),
        "dim3x3_short_pattern": dict(cfa_dim=(3, 3)),
        "dim1x1": dict(cfa_dim=(1, 1), cfa=bytes((1,))),
        "dim0x0": dict(cfa_dim=(0, 0)),
        "dim0x2": dict(cfa_dim=(0, 2)),
        "dim2x0": dict(cfa_dim=(2, 0)),
        "dim1": dict(cfa_dim=(2,)),
        "dim65535": dict(cfa_dim=(65535, 65535)),
        "dim6x6_xtrans": dict(cfa_dim=(6, 6), cfa=bytes([1, 1, 0, 1, 1, 2] * 6)),
        "dim4x4_bayer": dict(cfa_dim=(4, 4), cfa=bytes([0, 1, 0, 1, 1, 2, 1, 2] * 2)),
        "dim2x4_nonperiodic": dict(cfa_dim=(2, 4), cfa=bytes([0, 1, 2, 1, 1, 2, 1, 0])),
        "values_out_of_range": dict(cfa=bytes((0, 3, 7, 255))),
        "values_all_green": dict(cfa=bytes((1, 1, 1, 1))),
        "values_rgbg_no_bayer": dict(cfa=bytes((0, 2, 1, 1))),
        "pattern_short": dict(cfa=bytes((0, 1))),
        "pattern_missing": dict(cfa=None),
        "dim_missing": dict(cfa_dim=None),
        "both_missing": dict(cfa_dim=None, cfa=None),
        "pattern_as_short": dict(extra=[(33422, 3, 4, (0, 1, 1, 2), True)]),
        "pattern_as_long_big": dict(extra=[(33422, 4, 4, (0, 1, 1, 70000), True)]),
        "pattern_as_float_nan": dict(extra=[(33422, 11, 4, (0.0, float("nan"), 1.0, 2.0), True)]),
        "plane_color_cmy": dict(extra=[(50710, 1, 3, bytes((3, 4, 5)), True)]),
        "plane_color_short": dict(extra=[(50710, 1, 1, bytes((0,)), True)]),
        "plane_color_99": dict(extra=[(50710, 1, 3, bytes((99, 1, 2)), True)]),
        "layout_2": dict(extra=[(50711, 3, 1, 2, True)]),
        "layout_0": dict(extra=[(50711, 3, 1, 0, True)]),
    }
    out = [("cfa_tags", f"cfa_{k}.dng", tiff_bytes(m, tags=dng_tags(**kw)))
           for k, kw in cases.items()]  # fmt: skip
    # photometric lies: a CFA DNG that says RGB / LinearRaw / 0, and one with 3 samples per pixel
    for ph in (2, 34892, 0, 1):
        out.append(("cfa_tags", f"cfa_photometric_{ph}.dng", set_tag(out[0][2], 262, 3, (ph,))))
    return out


def nan_inf_variants():
    """NaN/inf in float sample data (SampleFormat 3) and in float or rational tags."""
    nan, inf = float("nan"), float("inf")
    out = []
    for label, fill in (("nan", nan), ("inf", inf), ("ninf", -inf), ("mixed", None)):
        f = np.random.default_rng(4).random(SMALL_SHAPE).astype(np.float32)
        if fill is None:
            f[::3, ::5], f[1::4, ::7] = nan, inf
        else:
            f[::2, ::3] = fill
        for dt in (np.float32, np.float16):
            out.append(("nan_inf", f"nan_inf_data_{label}_{dt.__name__}.dng",
                        tiff_bytes(f.astype(dt))))  # fmt: skip
    m = small_mosaic(5)
    tag_cases = {
        "white_float_nan": [(50717, 11, 1, nan, True)],
        "white_float_inf": [(50717, 11, 1, inf, True)],
        "white_double_ninf": [(50717, 12, 1, -inf, True)],
        "white_rational_0_0": [(50717, 5, 1, (0, 0), True)],
        "white_float_tiny": [(50717, 11, 1, 1e-30, True), (50714, 4, 4, (0, 0, 0, 0), True)],
        "white_just_above_black": [(50717, 11, 1, 64.00001, True)],
        "black_rational_0_0": [(50714, 5, 4, (0, 0, 64, 1, 64, 1, 64, 1), True)],
        "black_float_nan": [(50714, 11, 4, (nan, 64.0, 64.0, 64.0), True)],
        "black_float_inf": [(50714, 11, 4, (inf, 64.0, 64.0, 64.0), True)],
        "black_delta_h_nan": [(50715, 5, 2, (0, 0, 1, 1), True)],
        "black_delta_v_inf": [(50716, 11, 2, (inf, 0.0), True)],
        "color_matrix_zero_den": [(50721, 10, 9, (1, 0) * 9, True)],
        "color_matrix_zeros": [(50721, 10, 9, (0, 1) * 9, True)],
        "color_matrix_huge": [(50721, 10, 9, (2**31 - 1, 1) * 9, True)],
        "color_matrix_singular": [(50721, 10, 9, (1, 1) * 9, True)],
        "color_matrix_double_nan": [(50721, 12, 9, (nan,) * 9, True)],
        "as_shot_neutral_zero": [(50728, 5, 3, (0, 1, 0, 1, 0, 1), True)],
        "as_shot_neutral_0_0": [(50728, 5, 3, (0, 0, 0, 0, 0, 0), True)],
        "as_shot_neutral_huge": [(50728, 5, 3, (4294967295, 1, 1, 4294967295, 1, 1), True)],
        "as_shot_white_xy_nan": [(50729, 5, 2, (0, 0, 1, 0), True)],
        "noise_profile_nan": [(51041, 12, 2, (nan, 1e-6), True)],
        "noise_profile_inf": [(51041, 12, 6, (inf, 1e-6) * 3, True)],
        "noise_profile_negative": [(51041, 12, 2, (-1.0, -1.0), True)],
        "baseline_exposure_inf": [(50730, 10, 1, (1, 0), True)],
        "default_crop_nan": [(50719, 5, 2, (0, 0, 0, 0), True), (50720, 5, 2, (1, 0, 8, 1), True)],
        "default_crop_huge": [(50719, 4, 2, (2**31, 2**31), True), (50720, 4, 2, (2**31, 9), True)],
        "active_area_float_nan": [(50829, 11, 4, (nan, 0.0, 24.0, 32.0), True)],
        "active_area_inverted": [(50829, 4, 4, (20, 30, 2, 2), True)],
        "analog_balance_inf": [(50727, 5, 3, (1, 0, 1, 1, 1, 1), True)],
        "exposure_time_nan": [(33434, 5, 1, (0, 0), True)],
        "iso_float_inf": [(34855, 11, 1, inf, True)],
        "orientation_99": [(274, 3, 1, 99, True)],
        "illuminant_float_nan": [(50778, 11, 1, nan, True)],
    }
    for label, extra in tag_cases.items():
        data = tiff_bytes(m, tags=dng_tags(extra=extra))
        out.append(("nan_inf", f"nan_inf_tag_{label}.dng", data))
    # GainMap opcode with NaN/inf parameters and gains (OpcodeList2), from a rawpipe-written file
    from rawpipe.raw.metadata import GainMap
    from rawpipe.raw.opcodes import encode_gain_maps

    gm = small_metadata(gain_map=True).gain_maps[0]
    blob = bytearray(encode_gain_maps([gm], SMALL_SHAPE))
    body = 4 + 16  # list count, then the opcode header (id, version, flags, size)
    for label, (off, fmt, value) in {
        "gain_nan": (body + 76, ">f", nan),
        "gain_inf": (body + 80, ">f", inf),
        "spacing_nan": (body + 40, ">d", nan),
        "spacing_inf": (body + 48, ">d", inf),
        "origin_inf": (body + 56, ">d", -inf),
        "origin_huge": (body + 64, ">d", 1e308),
        "spacing_tiny": (body + 40, ">d", 5e-324),
        "spacing_and_origin_inf": (body + 40, ">dddd", (inf, inf, inf, inf)),
        "points_huge": (body + 32, ">I", 0xFFFFFFFF),
        "planes_huge": (body + 72, ">I", 0xFFFFFFFF),
        "pitch_0": (body + 24, ">I", 0),
        "plane_1": (body + 16, ">I", 1),
        "bottom_huge": (body + 8, ">I", 0xFFFFFFFF),
        "size_huge": (16, ">I", 0xFFFFFFF0),
        "count_huge": (0, ">I", 0xFFFFFFFF),
        "count_0": (0, ">I", 0),
    }.items():
        b = bytearray(blob)
        struct.pack_into(fmt, b, off, *(value if isinstance(value, tuple) else (value,)))
        extra = [(51009, 7, len(b), bytes(b), True)]
        out.append(("nan_inf", f"nan_inf_opcode_{label}.dng",
                    tiff_bytes(m, tags=dng_tags(extra=extra))))  # fmt: skip
    del GainMap
    return out


def string_variants():
    """Make/Model/UniqueCameraModel that are not clean ASCII: Latin-1 and UTF-8 bytes, control
    characters, no NUL terminator, 64 kB long, empty, a numeric type."""
    m = small_mosaic(8)
    placeholder = "P" * 16
    base = tiff_bytes(m, tags=dng_tags(extra=[(271, 2, 0, placeholder, True)]))
    out = []
    for label, value in {
        "latin1": "Caf\xe9 Cam\xe9ra".encode("latin-1"),
        "utf8": "Kamera \u00fc\u00df \u2603".encode(),
        "control": b"\x01\x02\x1b[31m\x7f\x08",
        "no_nul": b"ABCDEFGHIJKLMNOP",
        "all_nul": bytes(16),
        "high": bytes(range(128, 144)),
    }.items():
        b = base.replace(placeholder.encode(), value.ljust(16, b"\x00")[:16], 1)
        out.append(("strings", f"strings_make_{label}.dng", b))
    for label, extra in {
        "model_64k": [(272, 2, 0, "M" * 65536, True)],
        "model_empty": [(272, 2, 1, "", True)],
        "unique_empty": [(50708, 2, 1, "", True)],
        "make_as_short": [(271, 3, 2, (65, 66), True)],
        "make_as_double": [(271, 12, 1, 1e300, True)],
        "exposure_huge": [(33434, 12, 1, 1e300, True)],
        "fnumber_huge": [(33437, 12, 1, 1e300, True)],
        "focal_huge": [(37386, 12, 1, 1e300, True)],
        "baseline_exposure_huge": [(50730, 12, 1, -1e300, True)],
        "white_huge": [(50717, 12, 1, 1e300, True)],
        "matrix_huge": [(50721, 12, 9, (1e300, 0, 0, 0, 1e300, 0, 0, 0, 1e300), True)],
        "neutral_huge": [(50728, 12, 3, (1e300, 1e300, 1e300), True)],
        "crop_huge": [(50719, 12, 2, (1e300, 1e300), True), (50720, 12, 2, (1e300, 1), True)],
    }.items():
        out.append(("strings", f"strings_{label}.dng", tiff_bytes(m, tags=dng_tags(extra=extra))))
    return out


def not_raw(seed: int = 0):
    """Files that are not camera RAW, under RAW extensions."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    jpeg, png = io.BytesIO(), io.BytesIO()
    img.save(jpeg, format="JPEG")
    img.save(png, format="PNG")
    contents = {
        "jpeg": jpeg.getvalue(),
        "png": png.getvalue(),
        "text": b"This is not a RAW file.\n" * 50,
        "html": b"<!doctype html><html><body>404 Not Found</body></html>\n",
        "zeros": bytes(4096),
        "random": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "random_big": rng.integers(0, 256, 1 << 16, dtype=np.uint8).tobytes(),
        "tiff_header_only": b"II*\x00\x08\x00\x00\x00",
        "tiff_header_short": b"II*\x00",
        "bigtiff_header_only": b"II+\x00\x08\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00",
        "tiff_rgb": tiff_bytes(
            rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), photometric="rgb", tags=[]
        ),
        "zip": b"PK\x03\x04" + bytes(60),
        "pdf": b"%PDF-1.4\n" + bytes(100),
        "utf16_text": "not a raw file\n".encode("utf-16") * 20,
        "one_byte": b"\x00",
    }
    return [("not_raw", f"not_raw_{k}{ext}", v) for k, v in contents.items() for ext in RAW_EXTS]


def format_variants(tmp: Path):
    """Valid Bayer data in containers the reader must take or refuse cleanly."""
    m = small_mosaic(6)
    return [
        ("variants", "variant_big_endian.dng", tiff_bytes(m, byteorder=">")),
        ("variants", "variant_bigtiff.dng", tiff_bytes(m, bigtiff=True)),
        ("variants", "variant_tiled.dng", tiff_bytes(m, tile=(16, 16))),
        ("variants", "variant_deflate.dng", tiff_bytes(m, compression="zlib")),
        ("variants", "variant_odd_size.dng", tiff_bytes(small_mosaic(7, (23, 31)))),
        ("variants", "variant_gbrg_gm.dng", small_dng_bytes(tmp, pattern="GBRG", gain_map=True)),
    ]


# ----------------------------------------------------------------------------- bookkeeping


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def write_corpus(cases, directory: Path) -> dict[Path, tuple[str, str]]:
    """Write the cases; return ``{path: (kind, sha256)}``."""
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for kind, name, data in cases:
        p = directory / name
        assert p not in out, f"duplicate corpus name {name}"
        p.write_bytes(data)
        out[p] = (kind, sha256_bytes(data))
    return out


def typed_error_names() -> set[str]:
    """Names of every RawpipeError subclass (what a batch result may report)."""
    from rawpipe.errors import RawpipeError

    names, todo = set(), [RawpipeError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


class Tally:
    """Counts per kind and outcome; ``bad`` collects crashes, hangs and modified inputs."""

    def __init__(self) -> None:
        self.by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.bad: list[str] = []

    def add(self, kind: str, outcome: str, label: str = "") -> None:
        self.by_kind[kind][outcome] += 1
        if outcome.startswith(("CRASH", "HANG", "MODIFIED", "INVALID")):
            self.bad.append(f"{kind}/{label}: {outcome}")

    def report(self, title: str) -> str:
        lines = [f"== {title}"]
        total: collections.Counter = collections.Counter()
        for kind in sorted(self.by_kind):
            c = self.by_kind[kind]
            total.update(c)
            lines.append(f"{kind:>14}: {sum(c.values()):5d} cases  " + _fmt(c))
        lines.append(f"{'total':>14}: {sum(total.values()):5d} cases  " + _fmt(total))
        crashes = sum(v for k, v in total.items() if k.startswith("CRASH"))
        hangs = sum(v for k, v in total.items() if k.startswith("HANG"))
        modified = sum(v for k, v in total.items() if k.startswith("MODIFIED"))
        invalid = sum(v for k, v in total.items() if k.startswith("INVALID"))
        lines.append(f"crashes {crashes}, hangs {hangs}, modified inputs {modified}, ")
        lines[-1] += f"invalid outputs {invalid}"
        text = "\n".join(lines)
        print(text)
        return text


def _fmt(c: collections.Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


@pytest.fixture(scope="session")
def corpus():
    """The corpus generators and bookkeeping helpers as one namespace."""
    return types.SimpleNamespace(
        SMALL_SHAPE=SMALL_SHAPE,
        RAW_EXTS=RAW_EXTS,
        small_metadata=small_metadata,
        small_mosaic=small_mosaic,
        small_dng_bytes=small_dng_bytes,
        dng_tags=dng_tags,
        tiff_bytes=tiff_bytes,
        ifd0_entries=ifd0_entries,
        set_tag=set_tag,
        truncations=truncations,
        ifd_field_mutations=ifd_field_mutations,
        tag_value_mutations=tag_value_mutations,
        random_flips=random_flips,
        absurd_dimensions=absurd_dimensions,
        bit_depths=bit_depths,
        zero_size=zero_size,
        cfa_variants=cfa_variants,
        nan_inf_variants=nan_inf_variants,
        not_raw=not_raw,
        string_variants=string_variants,
        format_variants=format_variants,
        sha256_bytes=sha256_bytes,
        write_corpus=write_corpus,
        typed_error_names=typed_error_names,
        Tally=Tally,
    )
