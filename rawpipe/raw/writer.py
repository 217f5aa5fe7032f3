"""Write DNGs with tifffile: CFA DNGs (a Bayer mosaic, readable back bit-exact by ``read_raw`` and
LibRaw) and LinearRaw DNGs (demosaiced linear camera RGB, an output for RAW editors).

Both are uncompressed, single-IFD, little-endian files written atomically (temp file + rename).
Exposure time, ISO, f-number and focal length go into IFD0 as TIFF/EP tags (tifffile cannot write an
EXIF sub-IFD): ``read_raw`` reads them there, LibRaw reads the exposure time but not the ISO.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from rawpipe._atomic import atomic_path, check_output_path
from rawpipe.raw.cfa import CFAPattern
from rawpipe.raw.dng import RAWPIPE_LINEAR_MARKER
from rawpipe.raw.metadata import Matrix3, RawMetadata

__all__ = ["write_dng", "write_linear_dng"]

_BYTE, _ASCII, _SHORT, _LONG, _RATIONAL, _UNDEFINED, _SRATIONAL, _DOUBLE = 1, 2, 3, 4, 5, 7, 10, 12
_CFA_CODE = {"R": 0, "G": 1, "B": 2}
_DEFAULT_ILLUMINANT = 21  # D65, written when the metadata does not say


def _rational(v: float, signed: bool = False) -> tuple[int, int]:
    limit = 2**31 - 1 if signed else 2**32 - 1
    # values a TIFF rational cannot hold (damaged input metadata) are clamped to its range
    v = 0.0 if math.isnan(float(v)) else min(max(float(v), -limit if signed else 0.0), limit)
    f = Fraction(v).limit_denominator(1_000_000)
    while abs(f.numerator) > limit or f.denominator > limit:
        f = Fraction(float(v)).limit_denominator(max(f.denominator // 10, 1))
        if f.denominator == 1:
            break
    return f.numerator, f.denominator


def _long(v: float) -> int:
    """An unsigned 32-bit TIFF LONG (clamped)."""
    v = float(v)
    return 0 if math.isnan(v) else round(min(max(v, 0.0), 2.0**32 - 1))


def _ascii(text: str) -> str:
    """TIFF ASCII is 7-bit: other characters (from a damaged or non-English file) become '?'."""
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in str(text))


def _rationals(values, signed: bool = False) -> tuple[int, ...]:
    out: list[int] = []
    for v in values:
        out.extend(_rational(v, signed))
    return tuple(out)


def _matrix_tag(code: int, m: Matrix3) -> tuple:
    flat = [v for row in m for v in row]
    return (code, _SRATIONAL, 9, _rationals(flat, signed=True), True)


def _software() -> str:
    from rawpipe import __version__

    return f"rawpipe {__version__}"


def _common_tags(md: RawMetadata, *, linear: bool) -> list[tuple]:
    """Tags shared by both writers: identity, colour, exposure."""
    tags: list[tuple] = [
        (50706, _BYTE, 4, bytes((1, 4, 0, 0)), True),  # DNGVersion
        (50707, _BYTE, 4, bytes((1, 3 if md.gain_maps and not linear else 1, 0, 0)), True),
        (274, _SHORT, 1, int(md.orientation), True),
    ]
    unique = md.unique_camera_model or f"{md.make} {md.model}".strip() or "rawpipe"
    tags.append((50708, _ASCII, 0, _ascii(unique), True))
    if md.make:
        tags.append((271, _ASCII, 0, _ascii(md.make), True))
    if md.model:
        tags.append((272, _ASCII, 0, _ascii(md.model), True))
    cm1 = md.color_matrix1 if md.color_matrix1 is not None else md.xyz_to_camera
    tags.append(_matrix_tag(50721, cm1))
    ill1 = md.calibration_illuminant1 or _DEFAULT_ILLUMINANT
    tags.append((50778, _SHORT, 1, int(ill1), True))
    if md.color_matrix2 is not None:
        tags.append(_matrix_tag(50722, md.color_matrix2))
        tags.append(
            (50779, _SHORT, 1, int(md.calibration_illuminant2 or _DEFAULT_ILLUMINANT), True)
        )
    if md.forward_matrix1 is not None:
        tags.append(_matrix_tag(50964, md.forward_matrix1))
    if md.forward_matrix2 is not None:
        tags.append(_matrix_tag(50965, md.forward_matrix2))
    neutral = md.as_shot_neutral or tuple(1.0 / g for g in md.wb_gains)
    tags.append((50728, _RATIONAL, 3, _rationals(neutral), True))
    if md.baseline_exposure:
        tags.append((50730, _SRATIONAL, 1, _rational(md.baseline_exposure, signed=True), True))
    if md.exposure_time:
        tags.append((33434, _RATIONAL, 1, _rational(md.exposure_time), True))
    if md.f_number:
        tags.append((33437, _RATIONAL, 1, _rational(md.f_number), True))
    if md.iso:
        tags.append((34855, _SHORT, 1, min(_long(md.iso), 65535), True))
    if md.focal_length:
        tags.append((37386, _RATIONAL, 1, _rational(md.focal_length), True))
    if md.default_crop is not None:
        x, y, w, h = md.default_crop
        tags.append((50719, _LONG, 2, (_long(x), _long(y)), True))
        tags.append((50720, _LONG, 2, (_long(w), _long(h)), True))
    return tags


def _write(
    path: Path,
    data: np.ndarray,
    photometric: int,
    tags: list[tuple],
    software: str,
    overwrite: bool,
) -> Path:
    import tifffile

    check_output_path(path, None, overwrite=overwrite)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tifffile.imwrite(
            tmp,
            data,
            photometric=photometric,
            planarconfig="contig" if data.ndim == 3 else None,
            subfiletype=0,
            software=software,
            metadata=None,
            extratags=sorted(tags, key=lambda t: t[0]),
        )
    return path


def write_dng(
    path: str | os.PathLike[str],
    mosaic: np.ndarray,
    metadata: RawMetadata,
    *,
    overwrite: bool = False,
) -> Path:
    """Write a Bayer mosaic as an uncompressed CFA DNG; return the path.

    ``mosaic`` is uint16 ``(H, W)`` laid out as ``metadata.cfa_pattern`` says (any size, odd
    included); black levels (per 2×2 site), white level, as-shot neutral (1/``wb_gains``),
    ColorMatrix1/2 (``color_matrix1`` or ``xyz_to_camera`` when absent; illuminant D65 when not
    given), ForwardMatrix, NoiseProfile, DefaultCrop, orientation and OpcodeList2 GainMaps are
    written so that :func:`read_raw` gives back the same mosaic and metadata (LibRaw reads the
    mosaic bit-exact too; it needs ``H, W >= 22``). Written atomically; an existing file is only
    replaced with ``overwrite=True``.
    """
    from rawpipe.raw.opcodes import encode_gain_maps

    m = np.asarray(mosaic)
    if m.ndim != 2 or m.dtype != np.uint16:
        raise ValueError(f"write_dng needs a uint16 (H, W) mosaic, got {m.dtype} {m.shape}")
    md = metadata
    pattern = CFAPattern.from_string(md.cfa_pattern)
    tags = _common_tags(md, linear=False)
    black = [float(b) for b in md.black_level]
    if all(math.isfinite(b) and b == int(b) and b >= 0 for b in black):
        black_tag = (50714, _LONG, 4, tuple(_long(b) for b in black), True)
    else:
        black_tag = (50714, _RATIONAL, 4, _rationals([max(b, 0.0) for b in black]), True)
    tags += [
        (33421, _SHORT, 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, _BYTE, 4, bytes(_CFA_CODE[c] for c in pattern.value), True),  # CFAPattern
        (50710, _BYTE, 3, bytes((0, 1, 2)), True),  # CFAPlaneColor
        (50711, _SHORT, 1, 1, True),  # CFALayout: rectangular
        (50713, _SHORT, 2, (2, 2), True),  # BlackLevelRepeatDim
        black_tag,
        (50717, _LONG, 1, _long(md.white_level), True),
    ]
    if md.noise_profile:
        flat = [float(v) for pair in md.noise_profile for v in pair]
        tags.append((51041, _DOUBLE, len(flat), tuple(flat), True))
    if md.gain_maps:
        blob = encode_gain_maps(md.gain_maps, m.shape)
        tags.append((51009, _UNDEFINED, len(blob), blob, True))
    return _write(Path(path), np.ascontiguousarray(m), 32803, tags, _software(), overwrite)


def write_linear_dng(
    path: str | os.PathLike[str],
    rgb: np.ndarray,
    metadata: RawMetadata,
    *,
    overwrite: bool = False,
) -> Path:
    """Write demosaiced linear camera RGB as a 16-bit LinearRaw DNG for editors; return the path.

    ``rgb`` is float32 ``(H, W, 3)``: camera RGB with black removed and divided by
    (white − black), no white balance, no colour matrix (``process_raw(output="linear")``). It is
    stored as ``round(clip(rgb, 0, 1) · 65535)`` with black 0 / white 65535; the metadata's as-shot
    neutral, colour and forward matrices and exposure tags let an editor render it. The file is
    marked as a rawpipe output: :func:`read_raw` refuses it with :class:`UnsupportedRawError`.
    """
    x = np.asarray(rgb)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"write_linear_dng needs an (H, W, 3) image, got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"write_linear_dng needs float linear RGB, got {x.dtype}")
    data = np.round(np.clip(np.nan_to_num(x.astype(np.float32), nan=0.0), 0.0, 1.0) * 65535.0)
    data = np.ascontiguousarray(data.astype(np.uint16))
    tags = _common_tags(metadata, linear=True)
    tags += [
        (50714, _LONG, 3, (0, 0, 0), True),  # BlackLevel per sample
        (50717, _LONG, 3, (65535, 65535, 65535), True),  # WhiteLevel per sample
        (270, _ASCII, 0, f"{RAWPIPE_LINEAR_MARKER}: demosaiced linear camera RGB", True),
    ]
    return _write(
        Path(path), data, 34892, tags, f"{_software()} ({RAWPIPE_LINEAR_MARKER})", overwrite
    )
