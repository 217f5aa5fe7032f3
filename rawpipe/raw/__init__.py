"""Bayer RAW I/O and CFA handling: ``read_raw``, ``write_dng``, ``RawImage``/``RawMetadata``,
CFA normalisation to RGGB and RGGB packing.

>>> from rawpipe.raw import CFAPattern, normalize_cfa, pack_rggb
>>> CFAPattern.from_string("bggr").color_at(0, 0)
'B'
"""

from __future__ import annotations

from rawpipe.raw.cfa import (
    CfaPad,
    CFAPattern,
    denormalize_cfa,
    normalize_cfa,
    pack_rggb,
    unpack_rggb,
)
from rawpipe.raw.io import read_raw
from rawpipe.raw.metadata import GainMap, RawImage, RawMetadata
from rawpipe.raw.writer import write_dng, write_linear_dng

__all__ = [
    "CFAPattern",
    "CfaPad",
    "GainMap",
    "RawImage",
    "RawMetadata",
    "denormalize_cfa",
    "normalize_cfa",
    "pack_rggb",
    "read_raw",
    "unpack_rggb",
    "write_dng",
    "write_linear_dng",
]
