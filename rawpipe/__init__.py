"""rawpipe: RAW files to clean images with one small joint demosaicing + denoising network.

>>> import rawpipe
>>> rgb = rawpipe.process_raw("photo.dng")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rawpipe.errors import (
    CorruptRawError,
    OutputExistsError,
    RawpipeError,
    UnsupportedRawError,
    WeightsError,
)

__version__ = "0.1.0"

__all__ = [
    "CorruptRawError",
    "OutputExistsError",
    "RawpipeError",
    "UnsupportedRawError",
    "WeightsError",
    "__version__",
    "process_raw",
    "read_raw",
    "write_dng",
]

if TYPE_CHECKING:
    from rawpipe.pipeline import process_raw
    from rawpipe.raw import read_raw, write_dng


def __getattr__(name: str) -> Any:
    # Lazy imports keep `import rawpipe` light (torch is only imported when a pipeline runs).
    if name == "process_raw":
        from rawpipe.pipeline import process_raw

        return process_raw
    if name in ("read_raw", "write_dng"):
        import rawpipe.raw as raw

        return getattr(raw, name)
    raise AttributeError(f"module 'rawpipe' has no attribute {name!r}")
