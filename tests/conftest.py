"""Shared fixtures. Data fixtures fetch through rawpipe.data.fetch (cached under RAWPIPE_CACHE)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def hdrmerge_dngs() -> list[Path]:
    """The three real Nikon D5000 DNGs (sample1, sample2, sample3), fetched and cached once."""
    from rawpipe.data.fetch import fetch_raw_samples

    return fetch_raw_samples()


@pytest.fixture(scope="session")
def photo_paths() -> list[Path]:
    """The offline clean photographs (ground truth for synthetic pairs), fetched and cached once."""
    from rawpipe.data.fetch import fetch_photos

    return fetch_photos()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def sha256():
    """sha256 hex digest of a file (inputs must be unchanged after rawpipe reads them)."""
    return sha256_of
