"""DNG tags rawpy does not expose, read with rawpipe's own TIFF reader, and checks for what rawpipe
cannot process (LinearRaw, monochrome, X-Trans and non-Bayer CFAs, floating-point data).

Coordinates: DNG's BlackLevel, DefaultCrop, the CFA pattern and opcode areas are relative to the
ActiveArea's top-left corner. LibRaw's visible area may start one row/column later (it keeps the CFA
phase by rounding odd margins up), so everything is re-anchored by ``offset = (dy, dx)`` = visible
origin − active-area origin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rawpipe.errors import CorruptRawError, UnsupportedRawError
from rawpipe.raw._tiff import Ifd, TiffReader

__all__ = ["RAWPIPE_LINEAR_MARKER", "DngTags", "inspect_dng"]

# Written into Software/ImageDescription of the linear DNGs rawpipe makes for editors.
RAWPIPE_LINEAR_MARKER = "rawpipe linear output for editors"

PHOTOMETRIC_CFA = 32803
PHOTOMETRIC_LINEAR_RAW = 34892

T_NEW_SUBFILE_TYPE = 254
T_WIDTH, T_HEIGHT, T_BPS, T_COMPRESSION, T_PHOTOMETRIC = 256, 257, 258, 259, 262
T_DESCRIPTION, T_MAKE, T_MODEL, T_STRIP_OFFSETS, T_ORIENTATION = 270, 271, 272, 273, 274
T_SPP, T_STRIP_COUNTS, T_SOFTWARE = 277, 279, 305
T_TILE_WIDTH, T_TILE_LENGTH, T_TILE_OFFSETS, T_TILE_COUNTS = 322, 323, 324, 325
T_SAMPLE_FORMAT = 339
T_EXPOSURE_TIME, T_F_NUMBER, T_EXIF_IFD, T_ISO, T_FOCAL_LENGTH = 33434, 33437, 34665, 34855, 37386
T_CFA_REPEAT_DIM, T_CFA_PATTERN = 33421, 33422
T_DNG_VERSION, T_UNIQUE_MODEL = 50706, 50708
T_CFA_PLANE_COLOR, T_CFA_LAYOUT, T_LINEARIZATION = 50710, 50711, 50712
T_BLACK_REPEAT_DIM, T_BLACK_LEVEL, T_BLACK_DELTA_H, T_BLACK_DELTA_V = 50713, 50714, 50715, 50716
T_WHITE_LEVEL, T_CROP_ORIGIN, T_CROP_SIZE = 50717, 50719, 50720
T_COLOR_MATRIX1, T_COLOR_MATRIX2, T_CAMERA_CAL1, T_CAMERA_CAL2 = 50721, 50722, 50723, 50724
T_ANALOG_BALANCE, T_AS_SHOT_NEUTRAL, T_AS_SHOT_WHITE_XY = 50727, 50728, 50729
T_BASELINE_EXPOSURE = 50730
T_ILLUMINANT1, T_ILLUMINANT2 = 50778, 50779
T_ACTIVE_AREA = 50829
T_CAMERA_CAL_SIG, T_PROFILE_CAL_SIG = 50931, 50932
T_FORWARD_MATRIX1, T_FORWARD_MATRIX2 = 50964, 50965
T_OPCODE_LIST1, T_OPCODE_LIST2, T_OPCODE_LIST3 = 51008, 51009, 51022
T_NOISE_PROFILE = 51041

_PLANE_COLORS = {0: "R", 1: "G", 2: "B", 3: "C", 4: "M", 5: "Y", 6: "W"}
_MAX_CFA_DIM = 16  # CFARepeatPatternDim larger than this is damage (Bayer 2, X-Trans 6)


@dataclass
class DngTags:
    """What :func:`inspect_dng` found; plain values, interpreted by ``rawpipe.raw.io``."""

    width: int
    height: int
    bits_per_sample: int
    cfa_tile: tuple[tuple[str, str], tuple[str, str]]  # relative to the active area origin
    active_area: tuple[int, int, int, int]  # top, left, bottom, right
    black_repeat: tuple[int, int] = (1, 1)
    black_level: np.ndarray | None = None  # (rows, cols)
    black_delta_h: np.ndarray | None = None
    black_delta_v: np.ndarray | None = None
    white_level: float | None = None
    linearization: bool = False
    default_crop: tuple[float, float, float, float] | None = None  # x, y, w, h in active area
    color_matrix1: np.ndarray | None = None
    color_matrix2: np.ndarray | None = None
    camera_calibration1: np.ndarray | None = None
    camera_calibration2: np.ndarray | None = None
    analog_balance: np.ndarray | None = None
    forward_matrix1: np.ndarray | None = None
    forward_matrix2: np.ndarray | None = None
    illuminant1: int | None = None
    illuminant2: int | None = None
    as_shot_neutral: np.ndarray | None = None
    as_shot_white_xy: tuple[float, float] | None = None
    baseline_exposure: float = 0.0
    noise_profile: tuple[tuple[float, float], ...] | None = None
    opcode_lists: dict[int, bytes] = field(default_factory=dict)
    make: str = ""
    model: str = ""
    unique_camera_model: str = ""
    orientation: int = 1
    exposure_time: float | None = None
    iso: float | None = None
    f_number: float | None = None
    focal_length: float | None = None
    plane_colors: tuple[str, ...] = ("R", "G", "B")


def _find_raw_ifd(reader: TiffReader) -> Ifd:
    candidates = [ifd for ifd in reader.walk() if reader.get(ifd, T_NEW_SUBFILE_TYPE, 0) == 0]
    for ifd in candidates:
        if reader.get(ifd, T_PHOTOMETRIC) in (PHOTOMETRIC_CFA, PHOTOMETRIC_LINEAR_RAW):
            return ifd
    if candidates:
        return candidates[0]
    raise CorruptRawError(f"{reader.name}: DNG without a main image (no IFD with NewSubfileType 0)")


def _first(v: object) -> object:
    if isinstance(v, tuple):
        return v[0] if v else None  # a tag with count 0 holds no value
    return v


def _numbers(reader: TiffReader, ifd: Ifd, tag: int) -> np.ndarray | None:
    """A tag's values as float64 whatever its TIFF type (a damaged file may store a SHORT tag as
    BYTE, RATIONAL, ...); ``None`` when the tag is absent or holds no value."""
    a = reader.get_array(ifd, tag)
    if a is None or a.size == 0:
        return None
    return a.astype(np.float64)


def _int_tag(reader: TiffReader, ifd: Ifd, tag: int, default: int | None) -> int | None:
    """The first value of a numeric tag as an int; ``default`` when absent or empty."""
    a = _numbers(reader, ifd, tag)
    if a is None:
        return default
    if not np.isfinite(a[0]):
        raise CorruptRawError(f"{reader.name}: damaged tag {tag}: value {a[0]}")
    return int(a[0])


def _matrix(reader: TiffReader, ifd: Ifd, tag: int, rows: int = 3, cols: int = 3):
    a = reader.get_array(ifd, tag)
    if a is None or a.size != rows * cols or not np.all(np.isfinite(a)):
        return None
    m = np.asarray(a, dtype=np.float64).reshape(rows, cols)
    with np.errstate(over="ignore", invalid="ignore"):
        det = np.linalg.det(m) if rows == cols else 1.0
    if not abs(det) > 1e-12:
        return None  # a singular colour matrix is damage: treated as absent
    return m


def _is_rawpipe_output(reader: TiffReader, ifds: list[Ifd]) -> bool:
    for ifd in ifds:
        for tag in (T_SOFTWARE, T_DESCRIPTION):
            try:
                v = reader.get(ifd, tag, "")
            except CorruptRawError:
                continue
            if isinstance(v, str) and (
                RAWPIPE_LINEAR_MARKER in v or (tag == T_SOFTWARE and v.startswith("rawpipe"))
            ):
                return True
    return False


def _check_data_in_file(reader: TiffReader, ifd: Ifd, width: int, height: int, bps: int) -> None:
    name, n = reader.name, len(reader.data)
    if T_TILE_OFFSETS in ifd:
        offsets, counts = (
            reader.get_array(ifd, T_TILE_OFFSETS),
            reader.get_array(ifd, T_TILE_COUNTS),
        )
        what = "tile"
    else:
        offsets, counts = (
            reader.get_array(ifd, T_STRIP_OFFSETS),
            reader.get_array(ifd, T_STRIP_COUNTS),
        )
        what = "strip"
    if offsets is None or counts is None or offsets.size == 0 or offsets.size != counts.size:
        raise CorruptRawError(f"{name}: damaged DNG: raw image {what} offsets/byte counts missing")
    # float64 holds every realistic offset exactly and cannot wrap round like int64 would
    starts = offsets.astype(np.float64)
    ends = starts + counts.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(ends) | (starts < 0) | (ends > n))
    if bad.size:
        i = int(bad[0])
        raise CorruptRawError(
            f"{name}: truncated: raw image {what} {i} spans bytes "
            f"{starts[i]:.0f}..{ends[i]:.0f}, "
            f"beyond the end of the file ({n} bytes; {bad.size} of {offsets.size} {what}s missing)"
        )
    held = int((ends - starts).sum())
    compression = _int_tag(reader, ifd, T_COMPRESSION, 1)
    if compression == 1:
        need = width * height * bps // 8
        if held < need:
            raise CorruptRawError(
                f"{name}: truncated: uncompressed raw image needs {need} bytes, the {what}s hold "
                f"{held}"
            )
    elif compression == 7 and held * 8 < width * height:
        # lossless JPEG codes every sample with at least one bit: a declared size the data
        # cannot hold is damage, refused before a decoder allocates it
        raise CorruptRawError(
            f"{name}: truncated or damaged: {held} bytes of lossless JPEG data cannot hold a "
            f"{width}×{height} image"
        )


def inspect_dng(reader: TiffReader, *, max_pixels: int) -> DngTags:
    """Validate a DNG's structure and kind; read the tags rawpipe interprets itself.

    Raises :class:`UnsupportedRawError` for LinearRaw (already demosaiced, or a rawpipe output),
    monochrome, X-Trans/non-Bayer CFAs and floating-point data, and :class:`CorruptRawError` for
    truncated or damaged files — all before any pixel data is decoded.
    """
    name = reader.name
    reader.check_chain()
    ifd0 = reader.ifd0
    raw = _find_raw_ifd(reader)
    width = int(_int_tag(reader, raw, T_WIDTH, 0))  # type: ignore[arg-type]
    height = int(_int_tag(reader, raw, T_HEIGHT, 0))  # type: ignore[arg-type]
    if width <= 0 or height <= 0:
        raise CorruptRawError(f"{name}: damaged DNG: raw image size {width}×{height}")
    if width * height > max_pixels:
        raise CorruptRawError(
            f"{name}: declared raw size {width}×{height} exceeds the limit of "
            f"{max_pixels / 1e6:.0f} MP; refusing to allocate it"
        )
    photometric = _int_tag(reader, raw, T_PHOTOMETRIC, None)
    spp = int(_int_tag(reader, raw, T_SPP, 1))  # type: ignore[arg-type]
    bps = int(_int_tag(reader, raw, T_BPS, 1))  # type: ignore[arg-type]
    if photometric == PHOTOMETRIC_LINEAR_RAW:
        if _is_rawpipe_output(reader, [raw, ifd0]):
            raise UnsupportedRawError(
                f"{name}: this linear DNG was written by rawpipe as an output for editors "
                "(already demosaiced camera RGB), not a RAW input; process the original RAW file"
            )
        if spp == 1:
            raise UnsupportedRawError(
                f"{name}: monochrome DNG (LinearRaw with 1 sample per pixel, no colour filter "
                "array); rawpipe handles Bayer sensors only"
            )
        raise UnsupportedRawError(
            f"{name}: already demosaiced: LinearRaw DNG with {spp} samples per pixel (not a Bayer "
            "mosaic); open it in a RAW editor instead"
        )
    if photometric != PHOTOMETRIC_CFA:
        if spp == 1:
            raise UnsupportedRawError(
                f"{name}: monochrome DNG (PhotometricInterpretation {photometric}, 1 sample per "
                "pixel, no colour filter array); rawpipe handles Bayer sensors only"
            )
        raise UnsupportedRawError(
            f"{name}: DNG main image is not a colour filter array (PhotometricInterpretation "
            f"{photometric}, {spp} samples per pixel); rawpipe handles Bayer mosaics only"
        )
    if spp != 1:
        raise UnsupportedRawError(f"{name}: CFA DNG with {spp} samples per pixel is not supported")
    if _int_tag(reader, raw, T_SAMPLE_FORMAT, 1) == 3:
        raise UnsupportedRawError(
            f"{name}: floating-point DNG (e.g. an HDR merge); rawpipe reads integer Bayer data only"
        )
    if not 1 <= bps <= 16:
        raise UnsupportedRawError(f"{name}: {bps}-bit DNG samples; rawpipe reads up to 16 bits")
    # CFA pattern
    dims = _numbers(reader, raw, T_CFA_REPEAT_DIM)
    values = _numbers(reader, raw, T_CFA_PATTERN)
    if dims is None or values is None:
        raise UnsupportedRawError(
            f"{name}: CFA DNG without CFARepeatPatternDim/CFAPattern; cannot tell the colours"
        )
    dims = dims[:2] if dims.size >= 2 else np.repeat(dims[:1], 2)
    if not (np.all(np.isfinite(dims)) and np.all(dims >= 1) and np.all(dims <= _MAX_CFA_DIM)):
        raise CorruptRawError(f"{name}: damaged CFARepeatPatternDim {dims.tolist()}")
    rows, cols = int(dims[0]), int(dims[1])
    if values.size < rows * cols:
        raise CorruptRawError(
            f"{name}: damaged CFAPattern ({values.size} values for {rows}×{cols})"
        )
    # colour indices; anything that is not a small non-negative integer maps to no colour (-1)
    pattern = [int(v) if np.isfinite(v) and 0 <= v < 256 else -1 for v in values[: rows * cols]]
    plane = _numbers(reader, raw, T_CFA_PLANE_COLOR)
    plane = np.arange(3.0) if plane is None else plane[:16]
    plane_colors = tuple(_PLANE_COLORS.get(int(p), "?") if np.isfinite(p) else "?" for p in plane)
    layout = _int_tag(reader, raw, T_CFA_LAYOUT, 1)
    if (rows, cols) == (6, 6):
        raise UnsupportedRawError(
            f"{name}: X-Trans sensor (6×6 CFA pattern); rawpipe handles Bayer sensors only"
        )
    if layout != 1:
        raise UnsupportedRawError(f"{name}: non-rectangular CFA layout {layout} is not supported")
    grid = [
        [
            plane_colors[pattern[r * cols + c]]
            if 0 <= pattern[r * cols + c] < len(plane_colors)
            else "?"
            for c in range(cols)
        ]
        for r in range(rows)
    ]
    periodic = (
        rows % 2 == 0
        and cols % 2 == 0
        and all(grid[r][c] == grid[r % 2][c % 2] for r in range(rows) for c in range(cols))
    )
    flat = "".join(grid[0][:2] + grid[1][:2]) if periodic else ""
    if (
        not periodic
        or sorted(flat) != ["B", "G", "G", "R"]
        or not (flat[0] == flat[3] == "G" or flat[1] == flat[2] == "G")
    ):
        desc = "/".join("".join(r) for r in grid)
        raise UnsupportedRawError(
            f"{name}: {rows}×{cols} CFA pattern {desc} is not an RGB Bayer pattern; rawpipe "
            "handles "
            "Bayer sensors only"
        )
    _check_data_in_file(reader, raw, width, height, bps)

    aa = _numbers(reader, raw, T_ACTIVE_AREA)
    if aa is not None and aa.size == 4:
        if not np.all(np.isfinite(aa)):
            raise CorruptRawError(f"{name}: damaged ActiveArea {aa.tolist()}")
        top, left, bottom, right = (int(v) for v in aa)
        if not (0 <= top < bottom <= height and 0 <= left < right <= width):
            raise CorruptRawError(
                f"{name}: damaged ActiveArea {aa.tolist()} for a {width}×{height} image"
            )
    else:
        top, left, bottom, right = 0, 0, height, width

    tags = DngTags(
        width=width,
        height=height,
        bits_per_sample=bps,
        cfa_tile=((grid[0][0], grid[0][1]), (grid[1][0], grid[1][1])),
        active_area=(top, left, bottom, right),
        plane_colors=plane_colors,
    )
    # Levels
    brd = _numbers(reader, raw, T_BLACK_REPEAT_DIM)
    if brd is not None and brd.size >= 2 and np.all(np.isfinite(brd[:2])):
        brows, bcols = int(brd[0]), int(brd[1])
    else:
        brows, bcols = 1, 1
    bl = _numbers(reader, raw, T_BLACK_LEVEL)
    if bl is not None and brows > 0 and bcols > 0 and bl.size >= brows * bcols:
        tags.black_repeat = (brows, bcols)
        tags.black_level = bl[: brows * bcols].reshape(brows, bcols)
    for tag, attr in ((T_BLACK_DELTA_H, "black_delta_h"), (T_BLACK_DELTA_V, "black_delta_v")):
        d = _numbers(reader, raw, tag)
        if d is not None:
            setattr(tags, attr, d)
    for level in (tags.black_level, tags.black_delta_h, tags.black_delta_v):
        if level is not None and not np.all(np.isfinite(level)):
            raise CorruptRawError(f"{name}: damaged black level tags (non-finite values)")
    wl = _numbers(reader, raw, T_WHITE_LEVEL)
    if wl is not None:
        if not (np.isfinite(wl[0]) and wl[0] > 0):
            raise CorruptRawError(f"{name}: damaged WhiteLevel {wl[0]}")
        tags.white_level = float(wl[0])
    tags.linearization = T_LINEARIZATION in raw
    if T_CROP_ORIGIN in raw and T_CROP_SIZE in raw:
        co, cs = reader.get_array(raw, T_CROP_ORIGIN), reader.get_array(raw, T_CROP_SIZE)
        if (
            co is not None
            and cs is not None
            and co.size >= 2
            and cs.size >= 2
            and np.all(np.isfinite(co[:2]))
            and np.all(np.isfinite(cs[:2]))
        ):
            tags.default_crop = (float(co[0]), float(co[1]), float(cs[0]), float(cs[1]))

    # Colour (IFD0 per the spec; some writers put them in the raw IFD)
    def colour(tag: int):
        return _matrix(reader, ifd0, tag) if tag in ifd0 else _matrix(reader, raw, tag)

    tags.color_matrix1 = colour(T_COLOR_MATRIX1)
    tags.color_matrix2 = colour(T_COLOR_MATRIX2)
    tags.forward_matrix1 = colour(T_FORWARD_MATRIX1)
    tags.forward_matrix2 = colour(T_FORWARD_MATRIX2)
    cam_sig = reader.get(ifd0, T_CAMERA_CAL_SIG, "")
    prof_sig = reader.get(ifd0, T_PROFILE_CAL_SIG, "")
    if cam_sig == prof_sig:  # CameraCalibration is only valid with a matching profile
        tags.camera_calibration1 = colour(T_CAMERA_CAL1)
        tags.camera_calibration2 = colour(T_CAMERA_CAL2)
    ab = reader.get_array(ifd0, T_ANALOG_BALANCE)
    if ab is not None and ab.size == 3 and np.all(ab > 0):
        tags.analog_balance = np.diag(np.asarray(ab, dtype=np.float64))
    for tag, attr in ((T_ILLUMINANT1, "illuminant1"), (T_ILLUMINANT2, "illuminant2")):
        try:
            setattr(tags, attr, _int_tag(reader, ifd0, tag, None))
        except CorruptRawError:
            pass  # a damaged illuminant loses the matrix interpolation, not the image
    asn = reader.get_array(ifd0, T_AS_SHOT_NEUTRAL)
    if asn is not None and asn.size == 3 and np.all(np.isfinite(asn)) and np.all(asn > 0):
        tags.as_shot_neutral = np.asarray(asn, dtype=np.float64)
    wxy = reader.get_array(ifd0, T_AS_SHOT_WHITE_XY)
    if wxy is not None and wxy.size == 2 and np.all(np.isfinite(wxy)):
        tags.as_shot_white_xy = (float(wxy[0]), float(wxy[1]))
    be = reader.get(ifd0, T_BASELINE_EXPOSURE)
    if isinstance(be, float) and np.isfinite(be):
        tags.baseline_exposure = be
    # Noise profile: (S, O) per colour plane, or one pair for all
    npf = reader.get_array(raw, T_NOISE_PROFILE)
    if npf is None:
        npf = reader.get_array(ifd0, T_NOISE_PROFILE)
    if npf is not None and npf.size >= 2 and npf.size % 2 == 0 and np.all(np.isfinite(npf)):
        pairs = [(float(npf[2 * i]), float(npf[2 * i + 1])) for i in range(npf.size // 2)]
        if len(pairs) == 1:
            pairs = pairs * 3
        if len(pairs) == len(plane_colors) and sorted(plane_colors) == ["B", "G", "R"]:
            by_colour = dict(zip(plane_colors, pairs))
            tags.noise_profile = tuple(by_colour[c] for c in "RGB")
        elif len(pairs) == 3:
            tags.noise_profile = tuple(pairs)
    for tag in (T_OPCODE_LIST1, T_OPCODE_LIST2, T_OPCODE_LIST3):
        entry = raw.entries.get(tag) or ifd0.entries.get(tag)
        if entry is not None:
            tags.opcode_lists[tag] = reader.raw_bytes(entry)
    # Descriptive
    tags.make = str(reader.get(ifd0, T_MAKE, "") or "")
    tags.model = str(reader.get(ifd0, T_MODEL, "") or "")
    tags.unique_camera_model = str(reader.get(ifd0, T_UNIQUE_MODEL, "") or "")
    orientation = reader.get(ifd0, T_ORIENTATION, 1)
    tags.orientation = int(orientation) if orientation in range(1, 9) else 1
    _read_exposure(reader, ifd0, tags)
    return tags


def _read_exposure(reader: TiffReader, ifd0: Ifd, tags: DngTags) -> None:
    """ExposureTime, ISO, FNumber, FocalLength from the EXIF IFD, else from IFD0 (TIFF/EP)."""
    sources = []
    try:
        sources.extend(reader.sub_ifds(ifd0, T_EXIF_IFD))
    except CorruptRawError:
        pass  # a damaged EXIF block loses exposure data, not the image
    sources.append(ifd0)

    def find(tag: int) -> float | None:
        for ifd in sources:
            try:
                v = reader.get(ifd, tag)
            except CorruptRawError:
                continue
            v = _first(v)
            if isinstance(v, (int, float)) and np.isfinite(v) and v > 0:
                return float(v)
        return None

    tags.exposure_time = find(T_EXPOSURE_TIME)
    tags.iso = find(T_ISO)
    tags.f_number = find(T_F_NUMBER)
    tags.focal_length = find(T_FOCAL_LENGTH)
