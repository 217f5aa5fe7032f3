"""Helpers for the RAW tests: hand-made DNGs written with tifffile (independent of rawpipe's
writer, so reader tests do not only check rawpipe against itself)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

CM_D65 = (7309, -1403, -519, -8474, 16008, 2622, -2433, 2826, 8064)  # Nikon D5000 ColorMatrix1 ×1e4


def _srational(values, den: int = 10000) -> tuple[int, ...]:
    out: list[int] = []
    for v in values:
        out += [round(v * den), den]
    return tuple(out)


def _dng_tags(
    cfa: bytes = bytes((0, 1, 1, 2)),
    *,
    black: tuple[int, ...] = (0, 0, 0, 0),
    white: int = 4095,
    extra: list[tuple] | None = None,
) -> list[tuple]:
    """Tags of a minimal CFA DNG (tifffile extratags)."""
    tags = [
        (33421, 3, 2, (2, 2), True),
        (33422, 1, 4, cfa, True),
        (50706, 1, 4, bytes((1, 4, 0, 0)), True),
        (50708, 2, 0, "Test Camera", True),
        (50710, 1, 3, bytes((0, 1, 2)), True),
        (50711, 3, 1, 1, True),
        (50713, 3, 2, (2, 2), True),
        (50714, 4, 4, black, True),
        (50717, 4, 1, white, True),
        (50721, 10, 9, _srational(np.array(CM_D65) / 1e4), True),
        (50728, 5, 3, (500000, 1000000, 1000000, 1000000, 700000, 1000000), True),
        (50778, 3, 1, 21, True),
        (271, 2, 0, "Testmake", True),
        (272, 2, 0, "Testmodel", True),
    ]
    extra = extra or []
    codes = {t[0] for t in extra}
    return sorted([t for t in tags if t[0] not in codes] + list(extra), key=lambda t: t[0])


@pytest.fixture
def make_dng(tmp_path: Path) -> Callable[..., Path]:
    """``make_dng(name, data, photometric=32803, **dng_tags kwargs, tags=None, byteorder="<")``."""
    import tifffile

    def make(
        name: str,
        data: np.ndarray,
        *,
        photometric: int | str = 32803,
        tags: list[tuple] | None = None,
        byteorder: str = "<",
        **kw,
    ) -> Path:
        path = tmp_path / name
        extratags = tags if tags is not None else _dng_tags(**kw)
        tifffile.imwrite(
            path,
            data,
            photometric=photometric,
            metadata=None,
            extratags=extratags,
            byteorder=byteorder,
            planarconfig="contig" if data.ndim == 3 else None,
        )
        return path

    return make


@pytest.fixture
def dng_tags() -> Callable[..., list[tuple]]:
    """Tags of a minimal CFA DNG: ``dng_tags(cfa=bytes((0, 1, 1, 2)), black=..., extra=[...])``."""
    return _dng_tags


@pytest.fixture
def srational() -> Callable[..., tuple[int, ...]]:
    """Floats -> flat (numerator, denominator) tuple for tifffile RATIONAL/SRATIONAL tags."""
    return _srational
