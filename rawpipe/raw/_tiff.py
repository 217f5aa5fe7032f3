"""A small, defensive TIFF/BigTIFF structure reader (enough for DNG tags and file validation).

It reads IFDs and tag values from bytes already in memory, checks every offset against the file
size, and never trusts a count: truncated or damaged files raise :class:`CorruptRawError` naming the
offset that points past the end, before any decoder allocates anything.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from rawpipe.errors import CorruptRawError

__all__ = ["Ifd", "TiffEntry", "TiffReader", "sniff_format"]

# TIFF field types: (size in bytes, numpy dtype code without byte order)
_TYPES: dict[int, tuple[int, str]] = {
    1: (1, "u1"),  # BYTE
    2: (1, "u1"),  # ASCII
    3: (2, "u2"),  # SHORT
    4: (4, "u4"),  # LONG
    5: (8, "u4"),  # RATIONAL (2 × LONG)
    6: (1, "i1"),  # SBYTE
    7: (1, "u1"),  # UNDEFINED
    8: (2, "i2"),  # SSHORT
    9: (4, "i4"),  # SLONG
    10: (8, "i4"),  # SRATIONAL (2 × SLONG)
    11: (4, "f4"),  # FLOAT
    12: (8, "f8"),  # DOUBLE
    13: (4, "u4"),  # IFD
    16: (8, "u8"),  # LONG8
    17: (8, "i8"),  # SLONG8
    18: (8, "u8"),  # IFD8
}

MAX_IFDS = 256
MAX_ENTRIES = 4096


@dataclass(frozen=True)
class TiffEntry:
    tag: int
    type: int
    count: int
    offset: int  # absolute position of the value bytes in the file
    size: int  # number of value bytes
    in_file: bool  # False when the value lies (partly) past the end of the file


@dataclass(frozen=True)
class Ifd:
    offset: int
    entries: dict[int, TiffEntry]
    next_offset: int

    def __contains__(self, tag: int) -> bool:
        return tag in self.entries


# Magic numbers of formats that are not camera RAW (for a clear message) and of RAW formats that
# are not TIFF-based (handed to LibRaw as they are).
_NOT_RAW = [
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (0, b"GIF8", "a GIF image"),
    (0, b"BM", "a BMP image"),
    (0, b"%PDF", "a PDF document"),
    (0, b"PK\x03\x04", "a ZIP archive"),
    (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"RIFF", "a RIFF (WebP/WAV/AVI) file"),
    (4, b"ftypheic", "a HEIF/HEIC image"),
    (4, b"ftypheix", "a HEIF/HEIC image"),
    (4, b"ftypmif1", "a HEIF image"),
    (4, b"ftypavif", "an AVIF image"),
    (4, b"ftypisom", "an MP4 video"),
    (0, b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
    (0, b"\xff\x0a", "a JPEG XL image"),
    (0, b"\x00\x00\x00\x0cJXL ", "a JPEG XL image"),
]
_RAW = [
    (4, b"ftypcrx ", "Canon CR3"),
    (0, b"FUJIFILMCCD-RAW", "Fujifilm RAF"),
    (0, b"IIRO", "Olympus ORF"),
    (0, b"IIRS", "Olympus ORF"),
    (0, b"MMOR", "Olympus ORF"),
    (0, b"IIU\x00", "Panasonic RW2"),
    (0, b"\x00MRM", "Minolta MRW"),
    (0, b"FOVb", "Sigma X3F"),
    (0, b"II\x1a\x00\x00\x00HEAPCCDR", "Canon CRW"),
    (0, b"ARRI", "ARRI RAW"),
]


def sniff_format(head: bytes) -> tuple[str, str]:
    """Classify a file by its first bytes: ``(kind, name)`` with kind one of
    ``"tiff"``, ``"raw"`` (a known non-TIFF RAW), ``"not-raw"``, ``"text"`` or ``"unknown"``."""
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff", "TIFF"
    if head[:4] in (b"II+\x00", b"MM\x00+"):
        return "tiff", "BigTIFF"
    for off, magic, name in _RAW:
        if head[off : off + len(magic)] == magic:
            return "raw", name
    for off, magic, name in _NOT_RAW:
        if head[off : off + len(magic)] == magic:
            return "not-raw", name
    sample = head[:4096]
    if sample and _looks_like_text(sample):
        return "text", "a text file"
    return "unknown", "unknown"


def _looks_like_text(sample: bytes) -> bool:
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(sample) - 4:  # a multi-byte character cut at the end is fine
            return False
    printable = sum(32 <= b < 127 or b in (9, 10, 13) or b >= 128 for b in sample)
    return printable / len(sample) > 0.95


class TiffReader:
    """Parse the IFD structure of a TIFF/BigTIFF file held in memory.

    Raises :class:`CorruptRawError` when the header or an IFD lies past the end of the file.
    """

    def __init__(self, data: bytes, *, name: str = "file") -> None:
        self.data = data
        self.name = name
        n = len(data)
        if n < 8:
            raise CorruptRawError(f"{name}: truncated TIFF header ({n} bytes)")
        bo = data[:2]
        if bo == b"II":
            self.endian = "<"
        elif bo == b"MM":
            self.endian = ">"
        else:
            raise CorruptRawError(f"{name}: not a TIFF file (byte order mark {bo!r})")
        (magic,) = struct.unpack(self.endian + "H", data[2:4])
        if magic == 42:
            self.bigtiff = False
            (first,) = struct.unpack(self.endian + "I", data[4:8])
        elif magic == 43:
            if n < 16:
                raise CorruptRawError(f"{name}: truncated BigTIFF header ({n} bytes)")
            self.bigtiff = True
            (first,) = struct.unpack(self.endian + "Q", data[8:16])
        else:
            raise CorruptRawError(f"{name}: not a TIFF file (magic {magic})")
        self._cache: dict[int, Ifd] = {}
        self.ifds: list[Ifd] = [self.read_ifd(first)]
        # Problems further down the chain are kept, not raised: some camera formats carry junk
        # there that their decoders ignore; a DNG reader calls :meth:`check_chain`.
        self.chain_error: CorruptRawError | None = None
        seen = {first}
        offset = self.ifds[0].next_offset
        while offset and len(self.ifds) < MAX_IFDS:
            if offset in seen:
                self.chain_error = CorruptRawError(
                    f"{name}: IFD chain loops back to offset {offset}"
                )
                break
            seen.add(offset)
            try:
                ifd = self.read_ifd(offset)
            except CorruptRawError as err:
                self.chain_error = err
                break
            self.ifds.append(ifd)
            offset = ifd.next_offset

    def check_chain(self) -> None:
        """Raise the error met while following the IFD chain, if any."""
        if self.chain_error is not None:
            raise self.chain_error

    @property
    def ifd0(self) -> Ifd:
        return self.ifds[0]

    def read_ifd(self, offset: int) -> Ifd:
        """Read the IFD at ``offset``; raise :class:`CorruptRawError` if it is past the end."""
        if offset in self._cache:
            return self._cache[offset]
        data, n, e = self.data, len(self.data), self.endian
        count_size, entry_size, ptr = (8, 20, "Q") if self.bigtiff else (2, 12, "I")
        if offset < 8 or offset + count_size > n:
            raise CorruptRawError(
                f"{self.name}: truncated or damaged: IFD offset {offset} is beyond the end of the "
                f"file ({n} bytes)"
            )
        (count,) = struct.unpack(
            e + ("Q" if self.bigtiff else "H"), data[offset : offset + count_size]
        )
        if count == 0 or count > MAX_ENTRIES:
            raise CorruptRawError(f"{self.name}: damaged IFD at offset {offset} ({count} entries)")
        end = offset + count_size + count * entry_size + (8 if self.bigtiff else 4)
        if end > n:
            raise CorruptRawError(
                f"{self.name}: truncated: IFD at offset {offset} ({count} entries) ends at byte "
                f"{end}, beyond the end of the file ({n} bytes)"
            )
        entries: dict[int, TiffEntry] = {}
        inline = 8 if self.bigtiff else 4
        pos = offset + count_size
        for _ in range(count):
            tag, typ = struct.unpack(e + "HH", data[pos : pos + 4])
            (cnt,) = struct.unpack(e + ptr, data[pos + 4 : pos + 4 + inline])
            vpos = pos + 4 + inline
            pos += entry_size
            if typ not in _TYPES:
                continue  # unknown types are skipped, as TIFF readers must
            size = cnt * _TYPES[typ][0]
            if size <= inline:
                voff = vpos
            else:
                (voff,) = struct.unpack(e + ptr, data[vpos : vpos + inline])
            entries.setdefault(tag, TiffEntry(tag, typ, cnt, voff, size, voff + size <= n))
        (next_offset,) = struct.unpack(e + ptr, data[pos : pos + inline])
        ifd = Ifd(offset, entries, next_offset)
        self._cache[offset] = ifd
        return ifd

    def check_entry(self, entry: TiffEntry, what: str = "") -> None:
        if not entry.in_file:
            raise CorruptRawError(
                f"{self.name}: truncated: tag {entry.tag}{f' ({what})' if what else ''} points "
                f"to bytes {entry.offset}..{entry.offset + entry.size}, beyond the end of the file "
                f"({len(self.data)} bytes)"
            )

    def raw_bytes(self, entry: TiffEntry) -> bytes:
        self.check_entry(entry)
        return bytes(self.data[entry.offset : entry.offset + entry.size])

    def array(self, entry: TiffEntry) -> np.ndarray:
        """Numeric tag value as a 1-D array (rationals as float64 num/den)."""
        self.check_entry(entry)
        code = _TYPES[entry.type][1]
        n = entry.count * (2 if entry.type in (5, 10) else 1)
        a = np.frombuffer(
            self.data, dtype=np.dtype(self.endian + code), count=n, offset=entry.offset
        )
        if entry.type in (5, 10):
            num = a[0::2].astype(np.float64)
            den = a[1::2].astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(den != 0, num / np.where(den != 0, den, 1), np.nan)
        return a

    def get(self, ifd: Ifd, tag: int, default: Any = None) -> Any:
        """Tag value: str for ASCII, bytes for UNDEFINED/BYTE, an int/float for one number, a tuple
        of numbers otherwise; ``default`` when the tag is absent. Raises on out-of-file values."""
        entry = ifd.entries.get(tag)
        if entry is None:
            return default
        if entry.type == 2:
            return self.raw_bytes(entry).split(b"\x00", 1)[0].decode("latin-1").strip()
        if entry.type in (1, 7):
            return self.raw_bytes(entry)
        a = self.array(entry)
        if a.size == 1:
            v = a[0]
            return float(v) if a.dtype.kind == "f" else int(v)
        return tuple(float(v) if a.dtype.kind == "f" else int(v) for v in a)

    def get_array(self, ifd: Ifd, tag: int) -> np.ndarray | None:
        entry = ifd.entries.get(tag)
        if entry is None:
            return None
        if entry.type in (1, 2, 7):
            return np.frombuffer(self.raw_bytes(entry), dtype=np.uint8)
        return self.array(entry)

    def sub_ifds(self, ifd: Ifd, tag: int = 330) -> list[Ifd]:
        """The IFDs a pointer tag (SubIFDs 330, ExifIFD 34665) refers to."""
        offsets = self.get_array(ifd, tag)
        if offsets is None:
            return []
        return [self.read_ifd(int(o)) for o in offsets[:MAX_IFDS]]

    def walk(self) -> list[Ifd]:
        """IFD0's chain and their SubIFDs (two levels), depth first."""
        out: list[Ifd] = []
        seen: set[int] = set()

        def visit(ifd: Ifd, depth: int) -> None:
            if ifd.offset in seen or len(out) >= MAX_IFDS:
                return
            seen.add(ifd.offset)
            out.append(ifd)
            if depth < 2:
                for sub in self.sub_ifds(ifd):
                    visit(sub, depth + 1)

        for ifd in self.ifds:
            visit(ifd, 0)
        return out
