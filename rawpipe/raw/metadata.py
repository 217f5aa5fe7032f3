"""Typed RAW metadata (:class:`RawMetadata`), DNG gain maps and the decoded :class:`RawImage`.

Everything a later stage needs to interpret the mosaic lives in one frozen, hashable value:
black/white levels per 2×2 site, as-shot white balance, colour matrices, noise profile, gain maps.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from rawpipe.raw.cfa import CFAPattern

__all__ = ["GainMap", "Matrix3", "RawImage", "RawMetadata"]

Matrix3 = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]

IDENTITY3: Matrix3 = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


@dataclass(frozen=True)
class GainMap:
    """One DNG ``GainMap`` opcode (DNG 1.3+, OpcodeList2), geometry in visible-mosaic pixels.

    The gain for pixel ``(row, col)`` is read bilinearly from a ``points_v × points_h`` grid whose
    sample ``(i, j)`` sits at pixel position ``(origin_v + i·spacing_v, origin_h + j·spacing_h)``,
    clamped at the grid's edges (the DNG SDK's interpolation, converted from the file's relative
    units to pixel units of :attr:`RawImage.mosaic`). It multiplies the pixels
    ``top + k·row_pitch`` (``< bottom``) × ``left + k·col_pitch`` (``< right``) of the normalised
    mosaic; lens-shading maps in phone DNGs come as four such maps, one per Bayer phase.
    """

    top: int
    left: int
    bottom: int
    right: int
    row_pitch: int
    col_pitch: int
    points_v: int
    points_h: int
    spacing_v: float
    spacing_h: float
    origin_v: float
    origin_h: float
    gains: tuple[float, ...]  # points_v × points_h, row-major (plane 0 of the map)

    def __post_init__(self) -> None:
        # DNG stores gains as float32: keep exactly those values so a write/read round trip is exact
        gains = tuple(float(g) for g in np.asarray(self.gains, dtype=np.float32).ravel())
        object.__setattr__(self, "gains", gains)
        if len(gains) != self.points_v * self.points_h or self.points_v < 1 or self.points_h < 1:
            raise ValueError(
                f"GainMap needs {self.points_v}×{self.points_h} gains, got {len(gains)}"
            )
        if self.row_pitch < 1 or self.col_pitch < 1 or self.spacing_v <= 0 or self.spacing_h <= 0:
            raise ValueError("GainMap pitches and spacings must be positive")

    def gain_grid(self) -> np.ndarray:
        """The map samples as a float64 ``(points_v, points_h)`` array."""
        return np.asarray(self.gains, dtype=np.float64).reshape(self.points_v, self.points_h)

    def gains_at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Bilinearly interpolated gains on the grid ``rows × cols`` (pixel coordinates)."""
        grid = self.gain_grid()

        def weights(pos: np.ndarray, origin: float, spacing: float, n: int):
            with np.errstate(over="ignore"):  # a tiny spacing (damaged file) saturates: fine
                f = np.clip((pos.astype(np.float64) - origin) / spacing, 0.0, n - 1)
            i0 = np.minimum(np.floor(f).astype(np.int64), n - 1)
            i1 = np.minimum(i0 + 1, n - 1)
            return i0, i1, f - i0

        r0, r1, fr = weights(rows, self.origin_v, self.spacing_v, self.points_v)
        c0, c1, fc = weights(cols, self.origin_h, self.spacing_h, self.points_h)
        top = grid[r0][:, c0] * (1 - fc) + grid[r0][:, c1] * fc
        bot = grid[r1][:, c0] * (1 - fc) + grid[r1][:, c1] * fc
        return top * (1 - fr)[:, None] + bot * fr[:, None]

    def apply(self, x: np.ndarray) -> None:
        """Multiply the covered pixels of the float mosaic ``x`` (H, W) in place."""
        h, w = x.shape
        # rows top + k·pitch that fall inside the mosaic (top may be negative after re-anchoring)
        r_start = self.top if self.top >= 0 else self.top % self.row_pitch
        c_start = self.left if self.left >= 0 else self.left % self.col_pitch
        rows = np.arange(r_start, min(self.bottom, h), self.row_pitch)
        cols = np.arange(c_start, min(self.right, w), self.col_pitch)
        if rows.size == 0 or cols.size == 0:
            return
        sub = (
            slice(rows[0], rows[-1] + 1, self.row_pitch),
            slice(cols[0], cols[-1] + 1, self.col_pitch),
        )
        x[sub] = x[sub] * self.gains_at(rows, cols).astype(x.dtype)


@dataclass(frozen=True)
class RawMetadata:
    """What rawpipe knows about a Bayer RAW file. Frozen and hashable (tuples only).

    Site-indexed fields refer to the visible mosaic (:attr:`RawImage.mosaic`): ``black_level[i]``
    is the black of sites ``(y, x)`` with ``2·(y % 2) + (x % 2) == i``. Colour fields follow the DNG
    model: ``xyz_to_camera`` maps CIE XYZ to the raw camera values (``AnalogBalance ·
    CameraCalibration · ColorMatrix``, interpolated for the as-shot white as the DNG specification
    describes); ``wb_gains`` are the as-shot multipliers (R, G, B) with G = 1, i.e. 1/AsShotNeutral.
    """

    cfa_pattern: CFAPattern
    black_level: tuple[float, float, float, float]
    white_level: float
    wb_gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    xyz_to_camera: Matrix3 = IDENTITY3
    color_matrix1: Matrix3 | None = None
    color_matrix2: Matrix3 | None = None
    forward_matrix1: Matrix3 | None = None
    forward_matrix2: Matrix3 | None = None
    calibration_illuminant1: int | None = None
    calibration_illuminant2: int | None = None
    as_shot_neutral: tuple[float, float, float] | None = None
    as_shot_white_xy: tuple[float, float] | None = None
    iso: float | None = None
    exposure_time: float | None = None
    f_number: float | None = None
    focal_length: float | None = None
    make: str = ""
    model: str = ""
    unique_camera_model: str = ""
    orientation: int = 1
    noise_profile: tuple[tuple[float, float], ...] | None = None
    default_crop: tuple[int, int, int, int] | None = None
    linearization_applied: bool = False
    gain_maps: tuple[GainMap, ...] = ()
    ignored_opcodes: tuple[str, ...] = ()
    baseline_exposure: float = 0.0
    bits_per_sample: int | None = None
    source_format: str = ""
    extra: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "cfa_pattern", CFAPattern.from_string(self.cfa_pattern))
        if len(self.black_level) != 4:
            raise ValueError(f"black_level needs 4 values (2×2 sites), got {self.black_level!r}")
        if len(self.wb_gains) != 3:
            raise ValueError(f"wb_gains needs 3 values (R, G, B), got {self.wb_gains!r}")
        if not 1 <= int(self.orientation) <= 8:
            raise ValueError(f"orientation must be an EXIF value 1..8, got {self.orientation!r}")
        if not max(self.black_level) < self.white_level:
            raise ValueError(
                f"white level {self.white_level} must exceed the black levels {self.black_level}"
            )

    @property
    def gain_map_present(self) -> bool:
        """True when the file carries gain maps (applied by :meth:`RawImage.normalized`)."""
        return bool(self.gain_maps)

    def black_level_tile(self) -> np.ndarray:
        """Black levels as a float64 2×2 array aligned with the mosaic's top-left tile."""
        return np.asarray(self.black_level, dtype=np.float64).reshape(2, 2)

    def with_updates(self, **changes: object) -> RawMetadata:
        """A copy with some fields replaced (``dataclasses.replace``)."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class RawImage:
    """A decoded Bayer RAW: the visible mosaic as stored (uint16, ``(H, W)``) and its metadata.

    ``mosaic`` holds the file's values (after the DNG LinearizationTable, which LibRaw applies);
    black level, white level and gain maps are applied by :meth:`normalized`, not to ``mosaic``.
    """

    mosaic: np.ndarray
    metadata: RawMetadata
    path: Path | None = None

    def __post_init__(self) -> None:
        m = self.mosaic
        if not isinstance(m, np.ndarray) or m.ndim != 2 or m.dtype != np.uint16:
            raise ValueError("RawImage.mosaic must be a uint16 numpy array (H, W)")

    @property
    def height(self) -> int:
        return int(self.mosaic.shape[0])

    @property
    def width(self) -> int:
        return int(self.mosaic.shape[1])

    @property
    def cfa_pattern(self) -> CFAPattern:
        return self.metadata.cfa_pattern

    def normalized(self, *, apply_gain_maps: bool = True) -> np.ndarray:
        """float32 ``(H, W)``: ``(DN − black_at_site) / (white − black_at_site)``, then gain maps.

        Notes: not clipped — values below the black level stay negative and values above white stay
        above 1 (the noise model needs both). DNG gain maps (OpcodeList2 lens shading) multiply the
        result, as the DNG pipeline applies them to the linearised, black-subtracted, scaled data.
        """
        md = self.metadata
        out = np.empty(self.mosaic.shape, dtype=np.float32)
        for i, black in enumerate(md.black_level):
            dy, dx = divmod(i, 2)
            scale = np.float32(1.0 / (md.white_level - black))
            site = self.mosaic[dy::2, dx::2].astype(np.float32)
            out[dy::2, dx::2] = (site - np.float32(black)) * scale
        if apply_gain_maps:
            for gm in md.gain_maps:
                gm.apply(out)
        return out
