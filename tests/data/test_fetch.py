"""Data fetching: checksums verified, corrupt cache entries repaired, failures typed."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from rawpipe.data import fetch


def _sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.data
def test_raw_samples_verified(hdrmerge_dngs):
    assert [p.name for p in hdrmerge_dngs] == ["sample1.dng", "sample2.dng", "sample3.dng"]
    for p in hdrmerge_dngs:
        assert _sha(p) == fetch.HDRMERGE_SAMPLES[p.name]


@pytest.mark.data
def test_photos_verified(photo_paths):
    manifest = json.loads(fetch.PHOTO_MANIFEST.read_text())["photos"]
    assert len(photo_paths) == len(manifest) == 48
    for p, e in zip(photo_paths, manifest):
        assert p.name == e["name"] and _sha(p) == e["sha256"]
        assert e["license"]


@pytest.mark.data
def test_corrupt_cache_entry_is_refetched(hdrmerge_dngs, tmp_path):
    cache = tmp_path / "cache"
    dst = cache / "raw" / "hdrmerge"
    dst.mkdir(parents=True)
    for p in hdrmerge_dngs:
        shutil.copy(p, dst / p.name)
    victim = dst / "sample3.dng"
    victim.write_bytes(victim.read_bytes()[:1000])  # truncated download
    paths = fetch.fetch_raw_samples(cache=cache)
    assert _sha(paths[2]) == fetch.HDRMERGE_SAMPLES["sample3.dng"]


def test_unreachable_mirror_is_a_typed_error(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "DEBIAN_MIRROR", "http://127.0.0.1:9/debian")
    with pytest.raises(fetch.DataFetchError):
        fetch.fetch_raw_samples(cache=tmp_path)


def test_cache_dir_override(monkeypatch, tmp_path):
    monkeypatch.setenv("RAWPIPE_CACHE", str(tmp_path / "c"))
    assert fetch.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("RAWPIPE_CACHE")
    assert fetch.cache_dir().name == "rawpipe"
