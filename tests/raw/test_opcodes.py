"""DNG opcode lists: GainMap parsing against the DNG SDK's relative-coordinate formula."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from rawpipe.errors import CorruptRawError
from rawpipe.raw.opcodes import encode_gain_maps, parse_opcode_list


def gain_map_opcode(area, points, spacing, origin, gains, plane=0) -> bytes:
    top, left, bottom, right, rp, cp = area
    body = struct.pack(">8I", top, left, bottom, right, plane, 1, rp, cp)
    body += struct.pack(">II", *points) + struct.pack(">4d", *spacing, *origin)
    body += struct.pack(">I", 1) + np.asarray(gains, dtype=">f4").tobytes()
    return struct.pack(">IIII", 9, 0x01030000, 0, len(body)) + body


def other_opcode(op_id: int, payload: bytes = b"\x00" * 8) -> bytes:
    return struct.pack(">IIII", op_id, 0x01030000, 1, len(payload)) + payload


def sdk_gain(r, c, h, w, points, spacing, origin, grid):
    """DNG SDK: index = ((pixel + 0.5) / size − origin) / spacing, clamped, bilinear."""

    def idx(pos, size, o, s, n):
        f = ((pos + 0.5) / size - o) / s
        if f <= 0:
            return 0, 0, 0.0
        i = int(f)
        if i >= n - 1:
            return n - 1, n - 1, 0.0
        return i, i + 1, f - i

    r0, r1, fr = idx(r, h, origin[0], spacing[0], points[0])
    c0, c1, fc = idx(c, w, origin[1], spacing[1], points[1])
    row0 = grid[r0, c0] * (1 - fc) + grid[r0, c1] * fc
    row1 = grid[r1, c0] * (1 - fc) + grid[r1, c1] * fc
    return row0 * (1 - fr) + row1 * fr


@pytest.mark.parametrize("offset", [(0, 0), (1, 1), (2, 0)])
def test_gain_map_matches_sdk_formula(offset):
    h, w = 24, 30  # active area
    points, spacing, origin = (4, 5), (1 / 3, 0.25), (0.0, 0.0)
    grid = np.linspace(1.0, 2.5, 20, dtype=np.float32).reshape(4, 5)
    area = (1, 0, h, w, 2, 2)  # the G2-like phase: odd rows, even columns
    blob = (
        struct.pack(">I", 2)
        + other_opcode(4)
        + gain_map_opcode(area, points, spacing, origin, grid)
    )
    maps, others = parse_opcode_list(blob, image_size=(h, w), offset=offset)
    assert others == ["FixBadPixelsConstant"] and len(maps) == 1
    dy, dx = offset
    vis = np.ones((h - dy, w - dx), dtype=np.float32)
    maps[0].apply(vis)
    for r in range(h - dy):
        for c in range(w - dx):
            ra, ca = r + dy, c + dx  # active-area coordinates
            if ra % 2 == 1 and ca % 2 == 0:
                want = sdk_gain(ra, ca, h, w, points, spacing, origin, grid)
            else:
                want = 1.0
            assert vis[r, c] == pytest.approx(want, rel=1e-5), (r, c)


def test_gain_map_for_other_plane_is_ignored_and_named():
    grid = np.ones((2, 2))
    blob = (
        struct.pack(">I", 2)
        + gain_map_opcode((0, 0, 4, 4, 1, 1), (2, 2), (1.0, 1.0), (0.0, 0.0), grid, plane=1)
        + other_opcode(1)
    )
    maps, others = parse_opcode_list(blob, image_size=(4, 4))
    assert maps == [] and others == ["GainMap(plane 1)", "WarpRectilinear"]


def test_encode_parse_roundtrip():
    grid = np.random.default_rng(0).uniform(1, 2, (3, 3)).astype(np.float32)
    blob = struct.pack(">I", 1) + gain_map_opcode(
        (0, 1, 20, 16, 2, 2), (3, 3), (0.5, 0.5), (0.0, 0.0), grid
    )
    maps, _ = parse_opcode_list(blob, image_size=(20, 16))
    again, _ = parse_opcode_list(encode_gain_maps(maps, (20, 16)), image_size=(20, 16))
    assert again[0].gains == maps[0].gains
    for f in ("top", "left", "bottom", "right", "row_pitch", "col_pitch", "points_v", "points_h"):
        assert getattr(again[0], f) == getattr(maps[0], f)
    for f in ("spacing_v", "spacing_h", "origin_v", "origin_h"):
        assert getattr(again[0], f) == pytest.approx(getattr(maps[0], f), abs=1e-9)


@pytest.mark.parametrize("cut", [2, 10, 30, 60])
def test_truncated_opcode_list(cut):
    blob = struct.pack(">I", 1) + gain_map_opcode(
        (0, 0, 4, 4, 1, 1), (2, 2), (1.0, 1.0), (0.0, 0.0), np.ones((2, 2))
    )
    with pytest.raises(CorruptRawError, match="opcode"):
        parse_opcode_list(blob[:cut], image_size=(4, 4))
