"""``read_raw``: any Bayer RAW file LibRaw decodes -> :class:`RawImage`.

The recipe: read the file's bytes once (the file is never opened for writing) → reject empty and
non-RAW files by their first bytes → for TIFF-based files walk the IFDs, and for DNG validate every
offset and read the tags rawpy does not expose → decode the mosaic with LibRaw (``rawpy_backend``,
from the same bytes) → merge both into a frozen :class:`RawMetadata`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from rawpipe.errors import CorruptRawError, UnsupportedRawError
from rawpipe.raw import dng_color
from rawpipe.raw._tiff import TiffReader, sniff_format
from rawpipe.raw.cfa import CFAPattern
from rawpipe.raw.metadata import Matrix3, RawImage, RawMetadata

__all__ = ["MAX_PIXELS", "inspect_bytes", "read_raw"]

MAX_PIXELS = 400_000_000  # declared sizes above this are treated as damage, never allocated

# Linear sRGB (D65) -> XYZ, IEC 61966-2-1.
_SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)


def _tuple3(m: np.ndarray) -> Matrix3:
    return tuple(tuple(float(v) for v in row) for row in np.asarray(m).reshape(3, 3))  # type: ignore[return-value]


def _opt3(m: np.ndarray | None) -> Matrix3 | None:
    return None if m is None else _tuple3(m)


def inspect_bytes(data: bytes, *, name: str = "file") -> tuple[str, str, TiffReader | None, Any]:
    """Everything :func:`read_raw` checks before LibRaw sees a file's bytes (no decoding).

    Rejects empty and non-RAW files by their first bytes; for TIFF-based files walks the IFDs and,
    for DNG, validates every offset, the declared size (against :data:`MAX_PIXELS`), the CFA and
    the tags rawpipe reads itself. Returns ``(kind, what, reader, tags)`` as ``sniff_format``
    classifies the file, the TIFF reader (or ``None``) and the DNG tags (or ``None``).

    Raises:
        CorruptRawError, UnsupportedRawError: and nothing else, whatever the bytes.
    """
    if not data:
        raise CorruptRawError(f"{name}: empty file (0 bytes), not a RAW file")
    if len(data) < 8 and any(m.startswith(data) for m in (b"II*\x00", b"MM\x00*", b"II+\x00")):
        raise CorruptRawError(f"{name}: truncated: {len(data)} bytes of a TIFF/DNG header")
    kind, what = sniff_format(data[:4096])
    if kind == "not-raw":
        raise CorruptRawError(f"{name}: not a RAW file: it is {what}")
    if kind == "text":
        raise CorruptRawError(f"{name}: not a RAW file: it is a text file")
    if kind == "raw" and what == "Sigma X3F":
        raise UnsupportedRawError(f"{name}: Sigma Foveon (X3F) sensor; rawpipe handles Bayer only")

    reader: TiffReader | None = None
    tags = None
    if kind == "tiff":
        reader = TiffReader(data, name=name)
        if 50706 in reader.ifd0:  # DNGVersion
            from rawpipe.raw.dng import inspect_dng

            tags = inspect_dng(reader, max_pixels=MAX_PIXELS)
    return kind, what, reader, tags


def read_raw(path: str | os.PathLike[str]) -> RawImage:
    """Read a Bayer RAW file (DNG or any format LibRaw decodes) without modifying it.

    Returns the visible mosaic (uint16, ``H × W`` as LibRaw's ``raw_image_visible``) and a
    :class:`RawMetadata`. For DNG the LinearizationTable is applied (by LibRaw, flagged in
    ``linearization_applied``); OpcodeList2 GainMaps are kept in ``gain_maps`` and applied by
    :meth:`RawImage.normalized`; NoiseProfile, DefaultCrop and the colour tags are read here.

    Raises:
        CorruptRawError: empty, truncated, damaged or non-RAW files (JPEG, text, ...).
        UnsupportedRawError: X-Trans, Foveon, monochrome, non-Bayer or floating-point data, and
            already-demosaiced (LinearRaw) DNGs — including rawpipe's own linear outputs.
        FileNotFoundError / IsADirectoryError / PermissionError: as ``open`` raises them.
    """
    path = Path(path)
    name = path.name
    with open(path, "rb") as f:  # read-only; everything below works on these bytes
        data = f.read()
    kind, what, reader, tags = inspect_bytes(data, name=name)

    from rawpipe.raw import rawpy_backend

    lr = rawpy_backend.decode(data, name=name, max_pixels=MAX_PIXELS)
    pattern = CFAPattern.from_tile(lr.tile)
    try:
        if tags is not None:
            md = _dng_metadata(tags, lr, pattern, name)
        else:
            md = _libraw_metadata(lr, pattern, reader, what if kind != "tiff" else path.suffix)
    except ValueError as err:  # inconsistent levels or orientation in the file
        raise CorruptRawError(f"{name}: damaged metadata: {err}") from err
    return RawImage(mosaic=lr.mosaic, metadata=md, path=path)


def _usable_xyz_to_camera(m: np.ndarray) -> bool:
    """A colour matrix the renderer can use: finite, invertible, and every camera channel sees the
    sRGB white as positive (the renderer normalises by those row sums)."""
    m = np.asarray(m, dtype=np.float64)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        det = np.linalg.det(m)
        white = (m @ _SRGB_TO_XYZ).sum(axis=1)
    return bool(abs(det) > 1e-12 and np.all(white > 1e-9 * np.abs(m).max()))


def _libraw_colour(lr) -> tuple[np.ndarray, tuple[float, float, float]]:
    """XYZ→camera and as-shot gains from LibRaw (for non-DNG files and as a DNG fallback)."""
    m = np.asarray(lr.rgb_xyz_matrix, dtype=np.float64)[:3, :3]
    if not _usable_xyz_to_camera(m):
        cam_to_srgb = np.asarray(lr.color_matrix, dtype=np.float64)[:3, :3]
        try:
            m = np.linalg.inv(_SRGB_TO_XYZ @ cam_to_srgb)
        except np.linalg.LinAlgError:
            m = np.linalg.inv(_SRGB_TO_XYZ)
        if not _usable_xyz_to_camera(m):
            m = np.linalg.inv(_SRGB_TO_XYZ)  # nothing usable in the file: assume sRGB primaries
    wb = lr.camera_wb if lr.camera_wb[0] > 0 and lr.camera_wb[1] > 0 else lr.daylight_wb
    gains = (1.0, 1.0, 1.0)
    if wb[0] > 0 and wb[1] > 0 and wb[2] > 0:
        gains = (wb[0] / wb[1], 1.0, wb[2] / wb[1])
        if not all(np.isfinite(g) and g > 0 for g in gains):
            gains = (1.0, 1.0, 1.0)
    return m, gains


def _libraw_metadata(lr, pattern: CFAPattern, reader: TiffReader | None, fmt: str) -> RawMetadata:
    m, gains = _libraw_colour(lr)
    make = model = ""
    if reader is not None:
        try:
            make = str(reader.get(reader.ifd0, 271, "") or "")
            model = str(reader.get(reader.ifd0, 272, "") or "")
        except CorruptRawError:
            pass
    return RawMetadata(
        cfa_pattern=pattern,
        black_level=lr.black_per_site,
        white_level=lr.white_level,
        wb_gains=gains,  # type: ignore[arg-type]
        xyz_to_camera=_tuple3(m),
        color_matrix1=_tuple3(m),
        iso=lr.iso or None,
        exposure_time=lr.shutter or None,
        f_number=lr.aperture or None,
        focal_length=lr.focal_length or None,
        make=make,
        model=model,
        orientation=lr.orientation,
        source_format=fmt.lstrip(".").upper() or "RAW",
    )


def _site_black(tags, offset: tuple[int, int]) -> tuple[float, float, float, float]:
    """Black per 2×2 site of the visible mosaic from BlackLevel (+ mean deltas per parity)."""
    if tags.black_level is None:
        return (0.0, 0.0, 0.0, 0.0)
    rows, cols = tags.black_level.shape
    dy, dx = offset
    out = []
    for sy in (0, 1):
        for sx in (0, 1):
            # average over one full period of the repeat pattern at this parity
            ys = [(dy + sy + 2 * k) % rows for k in range(max(rows, 1))]
            xs = [(dx + sx + 2 * k) % cols for k in range(max(cols, 1))]
            v = float(tags.black_level[np.ix_(ys, xs)].mean())
            if tags.black_delta_v is not None:
                v += float(tags.black_delta_v[(dy + sy) % 2 :: 2].mean())
            if tags.black_delta_h is not None:
                v += float(tags.black_delta_h[(dx + sx) % 2 :: 2].mean())
            out.append(v)
    return tuple(out)  # type: ignore[return-value]


def _dng_metadata(tags, lr, pattern: CFAPattern, name: str) -> RawMetadata:
    from rawpipe.raw.dng import T_OPCODE_LIST1, T_OPCODE_LIST2, T_OPCODE_LIST3
    from rawpipe.raw.opcodes import parse_opcode_list

    top, left, bottom, right = tags.active_area
    offset = (lr.top_margin - top, lr.left_margin - left)
    h, w = lr.mosaic.shape
    expected = CFAPattern.from_tile(tags.cfa_tile).shifted(*offset)
    if expected != pattern:
        raise UnsupportedRawError(
            f"{name}: LibRaw reports CFA {pattern.value} but the DNG tags give {expected.value} "
            "for "
            "the visible area; refusing to guess"
        )
    black = _site_black(tags, offset) if tags.black_level is not None else lr.black_per_site
    white = tags.white_level if tags.white_level is not None else lr.white_level
    if not max(black) + 1 <= white:  # less than 1 DN of range cannot hold an image
        raise CorruptRawError(
            f"{name}: white level {white} is not at least 1 DN above the black levels {black}"
        )

    # Colour: AB · CC · CM interpolated for the as-shot white (DNG spec).
    lib_m, lib_gains = _libraw_colour(lr)
    t1 = dng_color.ILLUMINANT_TEMPERATURE.get(tags.illuminant1 or 0)
    t2 = dng_color.ILLUMINANT_TEMPERATURE.get(tags.illuminant2 or 0)
    cm1, cm2 = tags.color_matrix1, tags.color_matrix2
    if cm1 is None and cm2 is not None:
        cm1, cm2, t1, t2 = cm2, None, t2, None
    white_xy: tuple[float, float] | None = None
    if cm1 is not None:

        def to_camera(xy: tuple[float, float]) -> np.ndarray:
            return dng_color.xyz_to_camera_for_xy(
                xy,
                cm1,
                cm2,
                t1,
                t2,
                tags.camera_calibration1,
                tags.camera_calibration2,
                tags.analog_balance,
            )

        if tags.as_shot_neutral is not None:
            neutral = tags.as_shot_neutral
            white_xy = dng_color.neutral_to_xy(neutral, to_camera)
        elif tags.as_shot_white_xy is not None:
            white_xy = tags.as_shot_white_xy
            neutral = to_camera(white_xy) @ dng_color.xy_to_xyz(white_xy)
        else:
            neutral = 1.0 / np.asarray(lib_gains)
            white_xy = dng_color.neutral_to_xy(neutral, to_camera)
        xyz_to_camera = to_camera(white_xy)
    else:
        xyz_to_camera = lib_m
        neutral = (
            tags.as_shot_neutral
            if tags.as_shot_neutral is not None
            else 1.0 / np.asarray(lib_gains)
        )
    if not _usable_xyz_to_camera(xyz_to_camera):
        xyz_to_camera = lib_m  # the tags combine to no usable matrix: LibRaw's (always usable)
    neutral = np.asarray(neutral, dtype=np.float64)
    # a neutral that is not positive, or implies gains no camera uses (> 10^4), is damage
    if (
        not (np.all(np.isfinite(neutral)) and np.all(neutral > 0))
        or neutral.max() > 1e4 * neutral.min()
    ):
        neutral = 1.0 / np.asarray(lib_gains)
    gains = (float(neutral[1] / neutral[0]), 1.0, float(neutral[1] / neutral[2]))

    # Opcodes: GainMaps from OpcodeList2 are kept (applied in normalized()); the rest are named.
    gain_maps: list = []
    ignored: list[str] = []
    aa_size = (bottom - top, right - left)
    for tag, label in (
        (T_OPCODE_LIST1, "OpcodeList1"),
        (T_OPCODE_LIST2, "OpcodeList2"),
        (T_OPCODE_LIST3, "OpcodeList3"),
    ):
        blob = tags.opcode_lists.get(tag)
        if not blob:
            continue
        maps, others = parse_opcode_list(blob, image_size=aa_size, offset=offset, name=name)
        if tag == T_OPCODE_LIST2:
            gain_maps.extend(maps)
        else:
            others = [*(["GainMap"] * len(maps)), *others]
        ignored.extend(f"{label}:{o}" for o in others)

    crop = None
    if tags.default_crop is not None:
        cx, cy, cw, ch = tags.default_crop
        x0, y0 = round(cx) - offset[1], round(cy) - offset[0]
        x1, y1 = min(x0 + round(cw), w), min(y0 + round(ch), h)
        x0, y0 = max(x0, 0), max(y0, 0)
        if x1 > x0 and y1 > y0:
            crop = (x0, y0, x1 - x0, y1 - y0)

    return RawMetadata(
        cfa_pattern=pattern,
        black_level=black,
        white_level=float(white),
        wb_gains=gains,
        xyz_to_camera=_tuple3(xyz_to_camera),
        color_matrix1=_opt3(cm1),
        color_matrix2=_opt3(cm2),
        forward_matrix1=_opt3(tags.forward_matrix1),
        forward_matrix2=_opt3(tags.forward_matrix2),
        calibration_illuminant1=tags.illuminant1 if cm1 is tags.color_matrix1 else tags.illuminant2,
        calibration_illuminant2=tags.illuminant2 if cm2 is not None else None,
        as_shot_neutral=tuple(float(v) for v in neutral),  # type: ignore[arg-type]
        as_shot_white_xy=white_xy,
        iso=tags.iso if tags.iso is not None else (lr.iso or None),
        exposure_time=tags.exposure_time
        if tags.exposure_time is not None
        else (lr.shutter or None),
        f_number=tags.f_number if tags.f_number is not None else (lr.aperture or None),
        focal_length=tags.focal_length
        if tags.focal_length is not None
        else (lr.focal_length or None),
        make=tags.make,
        model=tags.model,
        unique_camera_model=tags.unique_camera_model,
        orientation=tags.orientation,
        noise_profile=tags.noise_profile,
        default_crop=crop,
        linearization_applied=tags.linearization,
        gain_maps=tuple(gain_maps),
        ignored_opcodes=tuple(ignored),
        baseline_exposure=tags.baseline_exposure,
        bits_per_sample=tags.bits_per_sample,
        source_format="DNG",
    )
