"""Typed errors raised by rawpipe.

Every error a user can provoke with bad input derives from :class:`RawpipeError`, so a batch job can
catch one class and carry on.
"""

from __future__ import annotations

__all__ = [
    "CorruptRawError",
    "OutputExistsError",
    "RawpipeError",
    "UnsupportedRawError",
    "WeightsError",
]


class RawpipeError(Exception):
    """Base class of every error rawpipe raises on purpose."""


class UnsupportedRawError(RawpipeError):
    """The file is a valid image but not one rawpipe processes (X-Trans, Foveon, monochrome,
    already-demosaiced DNG, ...). The message names the reason."""


class CorruptRawError(RawpipeError):
    """The file is not a readable RAW file (truncated, damaged, empty, not a RAW at all)."""


class OutputExistsError(RawpipeError, FileExistsError):
    """An output path exists (or equals the input) and ``overwrite=True`` was not given."""


class WeightsError(RawpipeError):
    """A weights file is missing, corrupt, or does not match the model it is loaded into."""
