"""Fetch and cache the project's offline data: real Bayer DNGs and clean photographs.

Everything comes from Debian's package archive (the only source reachable besides PyPI) and is
verified by sha256 before it is used:

- ``fetch_raw_samples()``: three Nikon D5000 DNGs from the hdrmerge source package
  (``hdrmerge_0.5+git20200117.orig.tar.gz``, GPL-3+).
- ``fetch_photos()``: 42 photographs from five wallpaper/puzzle packages (GPL-2+, LGPL-3,
  CC-BY/CC-BY-SA/CC0, public domain) plus 6 CC0/public-domain photos shipped in scikit-image.

Files land in ``$RAWPIPE_CACHE`` (default ``~/.cache/rawpipe``), never in the repository. apt runs
with a private configuration (its own sources list, package lists and cache in a temporary
directory), so nothing on the host system changes and no root rights are needed for the lists.

Command line: ``python -m rawpipe.data.fetch raw|photos|all`` (also ``make data-raw``,
``make data-photos``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rawpipe._atomic import atomic_path
from rawpipe.errors import RawpipeError

__all__ = [
    "DataFetchError",
    "cache_dir",
    "fetch_photos",
    "fetch_raw_samples",
    "main",
]

DEBIAN_MIRROR = os.environ.get("RAWPIPE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
DEBIAN_SUITE = "bookworm"

HDRMERGE_TARBALL = "hdrmerge_0.5+git20200117.orig.tar.gz"
HDRMERGE_SHA256 = "18f1db24c191936816fb09c3df864ade10958106c3bb2ff735a72e0b772da442"
HDRMERGE_SAMPLES = {
    "sample1.dng": "bf23aff5d67f0e0e40c009af82de35e9ad355e03d37ac1f400914729ac913250",
    "sample2.dng": "d7cce08c59303b20a8486e39b27a15ddc7a1c1d6e1686bba7897c1831b330a94",
    "sample3.dng": "6457be30d7ae8cd67fbe7ea35a8e8e0b4da1b27ebee944b517ba88e158fd8abd",
}

PHOTO_MANIFEST = Path(__file__).with_name("photos.json")


class DataFetchError(RawpipeError):
    """Data could not be fetched, or did not match its checksum."""


@dataclass(frozen=True)
class PhotoEntry:
    """One photograph: where it comes from and its checksum."""

    name: str  # file name in the cache
    package: str  # Debian package, or "scikit-image"
    member: str  # path inside the package
    license: str
    sha256: str


def cache_dir() -> Path:
    """The data cache: ``$RAWPIPE_CACHE`` or ``~/.cache/rawpipe``."""
    root = os.environ.get("RAWPIPE_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "rawpipe"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verified(path: Path, sha256: str) -> bool:
    return path.is_file() and _sha256(path) == sha256


class _PrivateApt:
    """apt-get with its own sources list, lists and cache (nothing on the host changes)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("lists/partial", "cache/archives/partial", "etc"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        line = f"{DEBIAN_MIRROR} {DEBIAN_SUITE} main"
        (root / "etc" / "sources.list").write_text(f"deb {line}\ndeb-src {line}\n")
        (root / "etc" / "apt.conf").write_text("")
        self.env = dict(os.environ, APT_CONFIG=str(root / "etc" / "apt.conf"))
        self.options = [
            "-o", f"Dir::Etc::SourceList={root / 'etc' / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=/nonexistent",
            "-o", f"Dir::State::Lists={root / 'lists'}",
            "-o", f"Dir::Cache={root / 'cache'}",
            "-o", "Debug::NoLocking=1",
            "-o", "APT::Sandbox::User=root" if os.geteuid() == 0 else "Debug::NoLocking=1",
            "-q",
        ]  # fmt: skip
        self._updated = False

    def run(self, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        if shutil.which("apt-get") is None:
            raise DataFetchError("apt-get is not available: rawpipe fetches its data from Debian")
        proc = subprocess.run(
            ["apt-get", *self.options, *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and proc.returncode != 0:
            raise DataFetchError(f"apt-get {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
        return proc

    def update(self) -> None:
        if not self._updated:
            self.run("update", cwd=self.root)
            self._updated = True


def fetch_raw_samples(cache: Path | None = None, *, verbose: bool = False) -> list[Path]:
    """Return the paths of the three hdrmerge DNGs (sample1, sample2, sample3), fetching once.

    sample2 is 1/640 s, sample1 4× and sample3 16× its exposure (ISO 200, Nikon D5000, GBRG).
    """
    root = (cache or cache_dir()) / "raw" / "hdrmerge"
    paths = [root / name for name in HDRMERGE_SAMPLES]
    if all(_verified(p, HDRMERGE_SAMPLES[p.name]) for p in paths):
        return paths
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rawpipe-fetch-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        apt = _PrivateApt(Path(tmp) / "apt")
        if verbose:
            print("fetching the hdrmerge source package from Debian ...", file=sys.stderr)
        apt.update()
        # Exits non-zero because the .debian.tar.xz is missing on the mirror; the orig tarball
        # arrives anyway and is checked by its sha256 below.
        apt.run("source", "--download-only", "hdrmerge", cwd=work, check=False)
        tarball = work / HDRMERGE_TARBALL
        if not tarball.is_file():
            raise DataFetchError(f"{HDRMERGE_TARBALL} was not downloaded from {DEBIAN_MIRROR}")
        if _sha256(tarball) != HDRMERGE_SHA256:
            raise DataFetchError(f"{HDRMERGE_TARBALL}: sha256 mismatch")
        with tarfile.open(tarball) as tar:
            for name, digest in HDRMERGE_SAMPLES.items():
                member = tar.extractfile(f"hdrmerge-master/test/{name}")
                if member is None:
                    raise DataFetchError(f"{name} is missing from {HDRMERGE_TARBALL}")
                with atomic_path(root / name) as out:
                    out.write_bytes(member.read())
                if not _verified(root / name, digest):
                    (root / name).unlink()
                    raise DataFetchError(f"{name}: sha256 mismatch after extraction")
    return paths


def _load_manifest() -> list[PhotoEntry]:
    entries = json.loads(PHOTO_MANIFEST.read_text())["photos"]
    return [PhotoEntry(**e) for e in entries]


def _extract_from_debs(entries: Iterable[PhotoEntry], dest: Path, verbose: bool) -> None:
    by_package: dict[str, list[PhotoEntry]] = {}
    for e in entries:
        by_package.setdefault(e.package, []).append(e)
    with tempfile.TemporaryDirectory(prefix="rawpipe-fetch-") as tmp:
        apt = _PrivateApt(Path(tmp) / "apt")
        apt.update()
        for package, items in by_package.items():
            work = Path(tmp) / package
            work.mkdir()
            if verbose:
                print(f"fetching {package} from Debian ...", file=sys.stderr)
            apt.run("download", package, cwd=work)
            debs = list(work.glob("*.deb"))
            if len(debs) != 1:
                raise DataFetchError(f"apt-get download {package} gave {len(debs)} files")
            unpacked = work / "x"
            subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], check=True)
            for e in items:
                src = unpacked / e.member.lstrip("/")
                _install_verified(src, dest / e.name, e.sha256)


def _install_verified(src: Path, dst: Path, sha256: str) -> None:
    if not src.is_file():
        raise DataFetchError(f"{src} is missing from its package")
    if _sha256(src) != sha256:
        raise DataFetchError(f"{src.name}: sha256 mismatch (expected {sha256})")
    with atomic_path(dst) as out:
        shutil.copyfile(src, out)


def fetch_photos(cache: Path | None = None, *, verbose: bool = False) -> list[Path]:
    """Return the paths of the clean photographs listed in ``photos.json``, fetching once.

    The order is the manifest's (fixed); ``rawpipe.data`` derives its train/validation split from
    the names, never from the order in which files were fetched.
    """
    dest = (cache or cache_dir()) / "photos"
    dest.mkdir(parents=True, exist_ok=True)
    entries = _load_manifest()
    missing = [e for e in entries if not _verified(dest / e.name, e.sha256)]
    debian = [e for e in missing if e.package != "scikit-image"]
    if debian:
        _extract_from_debs(debian, dest, verbose)
    for e in missing:
        if e.package == "scikit-image":
            try:
                import skimage
            except ImportError as err:  # pragma: no cover - scikit-image is installed by setup
                raise DataFetchError("scikit-image is needed for its 6 sample photos") from err
            _install_verified(Path(skimage.__file__).parent / e.member, dest / e.name, e.sha256)
    return [dest / e.name for e in entries]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rawpipe.data.fetch", description=__doc__)
    parser.add_argument("what", choices=["raw", "photos", "all"])
    args = parser.parse_args(argv)
    try:
        if args.what in ("raw", "all"):
            for p in fetch_raw_samples(verbose=True):
                print(p)
        if args.what in ("photos", "all"):
            photos = fetch_photos(verbose=True)
            print(f"{len(photos)} photos in {photos[0].parent}")
    except DataFetchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
