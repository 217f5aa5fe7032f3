"""DNG opcode lists (OpcodeList1/2/3): parse GainMap opcodes, name the others, write GainMaps back.

An opcode list is big-endian whatever the file's byte order: a uint32 count, then per opcode
uint32 id, uint32 DNG version, uint32 flags, uint32 byte count and the parameters (DNG 1.3+ §6).
GainMap (id 9): area spec (Top, Left, Bottom, Right, Plane, Planes, RowPitch, ColPitch: uint32),
MapPointsV/H (uint32), MapSpacingV/H, MapOriginV/H (float64, relative to the image size),
MapPlanes (uint32), then the gains (float32, row by row, column by column, plane by plane).
"""

from __future__ import annotations

import struct

import numpy as np

from rawpipe.errors import CorruptRawError
from rawpipe.raw.metadata import GainMap

__all__ = ["OPCODE_NAMES", "encode_gain_maps", "parse_opcode_list"]

OPCODE_NAMES = {
    1: "WarpRectilinear",
    2: "WarpFisheye",
    3: "FixVignetteRadial",
    4: "FixBadPixelsConstant",
    5: "FixBadPixelsList",
    6: "TrimBounds",
    7: "MapTable",
    8: "MapPolynomial",
    9: "GainMap",
    10: "DeltaPerRow",
    11: "DeltaPerColumn",
    12: "ScalePerRow",
    13: "ScalePerColumn",
    14: "WarpRectilinear2",
}
GAIN_MAP_ID = 9
_MAX_POINTS = 1 << 20
# Lens-shading gains are ~1-10; a map beyond this, or maps whose gains multiply beyond the total
# (they may overlap), would overflow float32 pixels: the file is damaged.
_MAX_GAIN = 1e4
_MAX_TOTAL_GAIN = 1e8


def parse_opcode_list(
    data: bytes,
    *,
    image_size: tuple[int, int],
    offset: tuple[int, int] = (0, 0),
    name: str = "file",
) -> tuple[list[GainMap], list[str]]:
    """Parse an opcode list; return its usable GainMaps and the names of the other opcodes.

    ``image_size`` is the (height, width) the map's relative coordinates refer to (the DNG active
    area); ``offset`` = (dy, dx) is where the visible mosaic starts inside that area. GainMaps are
    returned in visible-mosaic pixel units (see :class:`GainMap`). A GainMap for a plane other
    than 0 does not touch a CFA image (the DNG SDK skips it too) and is reported as ignored.
    """
    h, w = image_size
    dy, dx = offset
    maps: list[GainMap] = []
    others: list[str] = []
    try:
        (count,) = struct.unpack(">I", data[:4])
        pos = 4
        for _ in range(min(count, 4096)):
            op_id, _ver, _flags, size = struct.unpack(">IIII", data[pos : pos + 16])
            pos += 16
            body = data[pos : pos + size]
            if len(body) != size:
                raise CorruptRawError(f"{name}: truncated DNG opcode list")
            pos += size
            op_name = OPCODE_NAMES.get(op_id, f"Opcode{op_id}")
            if op_id != GAIN_MAP_ID:
                others.append(op_name)
                continue
            top, left, bottom, right, plane, _planes, rpitch, cpitch = struct.unpack(
                ">8I", body[:32]
            )
            pv, ph = struct.unpack(">II", body[32:40])
            sv, sh, ov, oh = struct.unpack(">4d", body[40:72])
            (mplanes,) = struct.unpack(">I", body[72:76])
            if not (0 < pv * ph <= _MAX_POINTS and mplanes >= 1 and rpitch >= 1 and cpitch >= 1):
                raise CorruptRawError(f"{name}: damaged GainMap opcode")
            n = pv * ph * mplanes
            if len(body) < 76 + 4 * n:
                raise CorruptRawError(f"{name}: truncated GainMap opcode")
            gains = np.frombuffer(body, dtype=">f4", count=n, offset=76).reshape(pv, ph, mplanes)
            if plane != 0:
                others.append(f"GainMap(plane {plane})")
                continue
            if pv == 1:
                sv, ov = 1.0, 0.0
            if ph == 1:
                sh, oh = 1.0, 0.0
            if not (sv > 0 and sh > 0):
                raise CorruptRawError(f"{name}: GainMap with non-positive spacing")
            geometry = (sv * h, sh * w, ov * h, oh * w)  # in pixels: must stay finite
            if not (np.all(np.isfinite(geometry)) and np.all(np.isfinite(gains))):
                raise CorruptRawError(f"{name}: GainMap with non-finite values")
            if not (np.all(gains >= 0) and np.all(gains <= _MAX_GAIN)):
                raise CorruptRawError(f"{name}: GainMap with gains outside [0, {_MAX_GAIN:g}]")
            # DNG SDK: index = ((row + 0.5)/H - origin)/spacing, row in active-area pixels.
            maps.append(
                GainMap(
                    top=int(top) - dy,
                    left=int(left) - dx,
                    bottom=int(bottom) - dy,
                    right=int(right) - dx,
                    row_pitch=int(rpitch),
                    col_pitch=int(cpitch),
                    points_v=int(pv),
                    points_h=int(ph),
                    spacing_v=float(sv) * h,
                    spacing_h=float(sh) * w,
                    origin_v=float(ov) * h - 0.5 - dy,
                    origin_h=float(oh) * w - 0.5 - dx,
                    gains=tuple(float(g) for g in gains[:, :, 0].ravel()),
                )
            )
    except struct.error as err:
        raise CorruptRawError(f"{name}: truncated DNG opcode list ({err})") from err
    with np.errstate(over="ignore"):
        total = np.prod([max(gm.gains) for gm in maps])
    if total > _MAX_TOTAL_GAIN:
        raise CorruptRawError(f"{name}: GainMaps multiply pixels by more than {_MAX_TOTAL_GAIN:g}")
    return maps, others


def encode_gain_maps(
    maps: tuple[GainMap, ...] | list[GainMap], image_size: tuple[int, int]
) -> bytes:
    """An OpcodeList2 holding ``maps`` for an image of ``image_size`` = (height, width)."""
    h, w = image_size
    out = [struct.pack(">I", len(maps))]
    for gm in maps:
        top, left = max(gm.top, 0), max(gm.left, 0)
        if gm.top < 0:
            top = gm.top % gm.row_pitch
        if gm.left < 0:
            left = gm.left % gm.col_pitch
        body = struct.pack(
            ">8I",
            top,
            left,
            max(min(gm.bottom, h), 0),
            max(min(gm.right, w), 0),
            0,
            1,
            gm.row_pitch,
            gm.col_pitch,
        )
        body += struct.pack(">II", gm.points_v, gm.points_h)
        body += struct.pack(
            ">4d",
            gm.spacing_v / h,
            gm.spacing_h / w,
            (gm.origin_v + 0.5) / h,
            (gm.origin_h + 0.5) / w,
        )
        body += struct.pack(">I", 1)
        body += np.asarray(gm.gains, dtype=">f4").tobytes()
        # flags 0: not optional (a reader that cannot apply it should say so)
        out.append(struct.pack(">IIII", GAIN_MAP_ID, 0x01030000, 0, len(body)) + body)
    return b"".join(out)
