"""The only module that imports rawpy (LibRaw). Thin on purpose.

It opens a RAW file from bytes already in memory, checks its declared size, copies what rawpipe
needs inside the ``with`` block (rawpy's arrays are views that die with the handle) and returns
plain numpy/python values in :class:`LibRawData`. LibRaw errors become rawpipe's typed errors.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from rawpipe.errors import CorruptRawError, UnsupportedRawError

__all__ = ["LIBRAW_FLIP_TO_EXIF", "LibRawData", "decode"]

# LibRaw's ``sizes.flip`` to the EXIF orientation it was made from (dcraw's "50132467" table).
LIBRAW_FLIP_TO_EXIF = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}


@dataclass(frozen=True, eq=False)
class LibRawData:
    mosaic: np.ndarray  # uint16 (H, W), visible area, a copy
    tile: tuple[tuple[str, str], tuple[str, str]]  # colour letters of the visible top-left 2×2
    black_per_site: tuple[float, float, float, float]  # raster order of the 2×2 tile
    white_level: float
    camera_wb: tuple[float, float, float, float]  # LibRaw order R, G, B, G2
    daylight_wb: tuple[float, float, float, float]
    rgb_xyz_matrix: np.ndarray  # (4, 3): XYZ -> camera rows R, G, B, (G2); zeros when unknown
    color_matrix: np.ndarray  # (3, 4): camera -> sRGB (LibRaw's rgb_cam)
    iso: float
    shutter: float
    aperture: float
    focal_length: float
    orientation: int
    top_margin: int
    left_margin: int
    raw_height: int
    raw_width: int


def _libraw_error(err: Exception, name: str) -> Exception:
    import rawpy

    kind = type(err).__name__
    if isinstance(err, rawpy.LibRawFileUnsupportedError):
        return CorruptRawError(
            f"{name}: not a RAW file LibRaw recognises (unsupported or unknown format; {kind})"
        )
    if isinstance(err, rawpy.LibRawTooBigError):
        return CorruptRawError(f"{name}: declared image size is too big for LibRaw ({kind})")
    if isinstance(err, (rawpy.LibRawIOError, rawpy.LibRawDataError)):
        return CorruptRawError(f"{name}: truncated or damaged RAW data ({kind}: {err})")
    if isinstance(err, rawpy.LibRawUnsufficientMemoryError):
        return CorruptRawError(f"{name}: LibRaw ran out of memory; damaged size fields? ({kind})")
    return CorruptRawError(f"{name}: LibRaw could not decode the file ({kind}: {err})")


def decode(data: bytes, *, name: str, max_pixels: int) -> LibRawData:
    """Decode a Bayer RAW held in ``data`` with LibRaw; raise typed errors for everything else."""
    import rawpy

    try:
        raw = rawpy.imread(io.BytesIO(data))
    except rawpy.LibRawError as err:
        raise _libraw_error(err, name) from err
    with raw:
        try:
            sizes = raw.sizes
            if sizes.raw_height * sizes.raw_width > max_pixels:
                raise CorruptRawError(
                    f"{name}: declared size {sizes.raw_width}×{sizes.raw_height} exceeds the limit "
                    f"of {max_pixels / 1e6:.0f} MP; refusing to allocate it"
                )
            if sizes.raw_height < 2 or sizes.raw_width < 2:
                raise CorruptRawError(f"{name}: declared size {sizes.raw_width}×{sizes.raw_height}")
            pattern = raw.raw_pattern
            desc = raw.color_desc.decode("ascii", "replace")
            visible = raw.raw_image_visible
            if pattern is None or visible.ndim != 2:
                raise UnsupportedRawError(
                    f"{name}: not a Bayer mosaic (LibRaw reports no CFA pattern: Foveon, linear or "
                    "already-demosaiced data); rawpipe handles Bayer sensors only"
                )
            pattern = np.asarray(pattern)
            if pattern.shape == (6, 6):
                raise UnsupportedRawError(
                    f"{name}: Fujifilm X-Trans sensor (6×6 CFA); rawpipe handles Bayer sensors only"
                )
            colors = raw.raw_colors_visible
            tile_idx = np.asarray(colors[:2, :2], dtype=np.int64)
            ph, pw = pattern.shape
            periodic = all(
                int(pattern[y, x]) == int(pattern[y % 2, x % 2])
                for y in range(ph)
                for x in range(pw)
            )
            if not periodic or ph < 2 or pw < 2:
                raise UnsupportedRawError(
                    f"{name}: {ph}×{pw} CFA pattern is not a 2×2 Bayer pattern; rawpipe handles "
                    "Bayer sensors only"
                )
            letters = [[desc[int(tile_idx[y, x])] for x in (0, 1)] for y in (0, 1)]
            flat = "".join(letters[0] + letters[1])
            bayer = sorted(flat) == ["B", "G", "G", "R"] and (
                flat[0] == flat[3] == "G" or flat[1] == flat[2] == "G"
            )
            if not bayer:
                raise UnsupportedRawError(
                    f"{name}: CFA colours {flat} (LibRaw colour description {desc!r}) are not an "
                    "RGB Bayer pattern; rawpipe handles Bayer sensors only"
                )
            blc = list(raw.black_level_per_channel)
            black = tuple(float(blc[int(tile_idx[y, x])]) for y in (0, 1) for x in (0, 1))
            mosaic = np.array(visible, dtype=np.uint16, copy=True)
            other = raw.other
            result = LibRawData(
                mosaic=mosaic,
                tile=((letters[0][0], letters[0][1]), (letters[1][0], letters[1][1])),
                black_per_site=black,  # type: ignore[arg-type]
                white_level=float(raw.white_level),
                camera_wb=tuple(float(v) for v in raw.camera_whitebalance),  # type: ignore[arg-type]
                daylight_wb=tuple(float(v) for v in raw.daylight_whitebalance),  # type: ignore[arg-type]
                rgb_xyz_matrix=np.array(raw.rgb_xyz_matrix, dtype=np.float64, copy=True),
                color_matrix=np.array(raw.color_matrix, dtype=np.float64, copy=True),
                iso=float(other.iso_speed),
                shutter=float(other.shutter_speed),
                aperture=float(other.aperture),
                focal_length=float(other.focal_length),
                orientation=LIBRAW_FLIP_TO_EXIF.get(int(sizes.flip), 1),
                top_margin=int(sizes.top_margin),
                left_margin=int(sizes.left_margin),
                raw_height=int(sizes.raw_height),
                raw_width=int(sizes.raw_width),
            )
        except rawpy.LibRawError as err:
            raise _libraw_error(err, name) from err
        except NotImplementedError as err:  # rawpy: a LibRaw `filters` code it cannot describe
            raise UnsupportedRawError(
                f"{name}: LibRaw reports a colour filter layout rawpipe cannot interpret ({err}); "
                "rawpipe handles Bayer sensors only"
            ) from err
    return result
