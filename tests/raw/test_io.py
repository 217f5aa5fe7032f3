"""read_raw: the real hdrmerge DNGs, DNG tag semantics, and typed errors for malformed inputs."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import rawpy
import tifffile
from PIL import Image

import rawpipe
from rawpipe.errors import CorruptRawError, RawpipeError, UnsupportedRawError
from rawpipe.raw import CFAPattern, RawImage, read_raw, write_dng, write_linear_dng
from rawpipe.raw.metadata import RawMetadata


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def patch_tag(path: Path, code: int, value: int, fmt: str = "<H") -> None:
    """Overwrite an inline tag value in place (to build files tifffile refuses to write)."""
    with tifffile.TiffFile(path) as tif:
        off = tif.pages[0].tags[code].valueoffset
    data = bytearray(path.read_bytes())
    data[off : off + struct.calcsize(fmt)] = struct.pack(fmt, value)
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------- real camera DNGs (fetched data)

EXPOSURE = {"sample1": 1 / 160, "sample2": 1 / 640, "sample3": 1 / 40}


@pytest.fixture(scope="module")
def real_images(hdrmerge_dngs) -> dict[str, tuple[Path, str, RawImage]]:
    """Each real DNG read once per module: {stem: (path, sha256 before reading, image)}."""
    out = {}
    for p in hdrmerge_dngs:
        digest = sha256(p)
        out[p.stem] = (p, digest, read_raw(p))
    return out


@pytest.mark.data
def test_real_dngs_metadata(real_images):
    assert sorted(real_images) == ["sample1", "sample2", "sample3"]
    for stem, (path, digest, img) in real_images.items():
        md = img.metadata
        assert md.cfa_pattern is CFAPattern.GBRG
        assert md.white_level == 3840.0
        assert md.black_level == (0.0, 0.0, 0.0, 0.0)
        assert img.mosaic.shape == (2868, 4310)  # H × W; LibRaw: width 4310 × height 2868
        assert md.iso == 200.0
        assert md.exposure_time == pytest.approx(EXPOSURE[stem], rel=1e-9)
        assert (md.make, md.model) == ("NIKON CORPORATION", "NIKON D5000")
        assert md.orientation == 1 and md.source_format == "DNG"
        # as-shot white balance: 1/AsShotNeutral (0.576577, 1, 0.717087), daylight-ish gains
        assert md.wb_gains == pytest.approx((1 / 0.576577, 1.0, 1 / 0.717087), rel=1e-6)
        assert 1.2 < md.wb_gains[0] < 3.0 and 1.1 < md.wb_gains[2] < 3.0
        assert md.calibration_illuminant1 == 21 and md.color_matrix2 is None
        assert md.xyz_to_camera[0] == pytest.approx((0.7309, -0.1403, -0.0519))
        assert md.default_crop == (8, 8, 4294, 2852)
        assert md.noise_profile is None and md.gain_maps == ()
        assert 3000 < md.as_shot_white_xy[0] * 1e4 < 4000  # a daylight-like white
        assert sha256(path) == digest  # reading never modifies the file


@pytest.mark.data
def test_real_dng_agrees_with_libraw(real_images):
    path, _, img = real_images["sample1"]
    with rawpy.imread(str(path)) as raw:
        assert np.array_equal(raw.raw_image_visible, img.mosaic)
        assert (raw.sizes.width, raw.sizes.height) == (4310, 2868)
        wb = raw.camera_whitebalance
        assert img.metadata.wb_gains == pytest.approx((wb[0] / wb[1], 1.0, wb[2] / wb[1]), rel=1e-6)
        assert raw.white_level == 3840
    n = img.normalized()
    assert n.dtype == np.float32 and n.shape == (2868, 4310)
    assert n.max() == pytest.approx(4095 / 3840)  # not clipped at 1
    means = [real_images[s][2].mosaic.mean() for s in ("sample2", "sample1", "sample3")]
    assert means[0] < means[1] < means[2]  # 1/640 < 1/160 < 1/40 s


@pytest.mark.data
@pytest.mark.parametrize("fraction", [0.0001, 0.005, 0.5, 0.9999])
def test_real_dng_truncated(real_images, tmp_path, fraction):
    path = real_images["sample3"][0]
    data = path.read_bytes()
    cut = tmp_path / "cut.dng"
    cut.write_bytes(data[: int(len(data) * fraction)])
    digest = sha256(cut)
    with pytest.raises(CorruptRawError, match="truncated"):
        read_raw(cut)
    assert sha256(cut) == digest


# ---------------------------------------------------------------- malformed inputs


@pytest.fixture
def good_dng(tmp_path) -> Path:
    mosaic = np.random.default_rng(0).integers(0, 4096, (40, 60), dtype=np.uint16)
    md = RawMetadata(cfa_pattern="RGGB", black_level=(0.0,) * 4, white_level=4095.0)
    return write_dng(tmp_path / "good.dng", mosaic, md)


def expect_error(path: Path, error: type[RawpipeError], match: str) -> None:
    digest = sha256(path)
    with pytest.raises(error, match=match) as info:
        read_raw(path)
    assert path.name in str(info.value)  # the message names the file
    assert sha256(path) == digest  # and the file is untouched


def test_empty_file(tmp_path):
    p = tmp_path / "empty.dng"
    p.write_bytes(b"")
    expect_error(p, CorruptRawError, "empty file")


@pytest.mark.parametrize("cut", [1, 4, 7, 8, 12, 100, 300, 600, 2000, -1])
def test_truncated_dng(good_dng, tmp_path, cut):
    data = good_dng.read_bytes()
    p = tmp_path / "trunc.dng"
    p.write_bytes(data[:cut])
    expect_error(p, CorruptRawError, "truncated")


def test_jpeg_renamed_dng(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(buf, "JPEG")
    p = tmp_path / "photo.dng"
    p.write_bytes(buf.getvalue())
    expect_error(p, CorruptRawError, "not a RAW file: it is a JPEG image")


def test_png_renamed(tmp_path):
    p = tmp_path / "photo.nef"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(p, "PNG")
    expect_error(p, CorruptRawError, "PNG image")


def test_text_file(tmp_path):
    p = tmp_path / "notes.dng"
    p.write_text("This is not a RAW file.\nJust some text.\n" * 20)
    expect_error(p, CorruptRawError, "text file")


def test_random_bytes(tmp_path):
    p = tmp_path / "noise.cr2"
    p.write_bytes(np.random.default_rng(0).integers(1, 256, 4096, dtype=np.uint8).tobytes())
    expect_error(p, CorruptRawError, "not a RAW file")


def test_plain_tiff_is_not_raw(tmp_path):
    p = tmp_path / "image.tif"
    tifffile.imwrite(p, np.zeros((32, 32, 3), np.uint8))
    expect_error(p, CorruptRawError, "not a RAW file")


def test_monochrome_dng(make_dng):
    p = make_dng("mono.dng", np.zeros((32, 32), np.uint16), photometric="minisblack")
    expect_error(p, UnsupportedRawError, "monochrome")


def test_monochrome_linear_raw_dng(make_dng):
    p = make_dng("mono_lin.dng", np.zeros((32, 32), np.uint16), photometric="minisblack")
    patch_tag(p, 262, 34892)  # LinearRaw with one sample: tifffile will not write it directly
    expect_error(p, UnsupportedRawError, "monochrome")


def test_already_demosaiced_dng(make_dng):
    rgb = np.random.default_rng(0).integers(0, 65535, (32, 40, 3), dtype=np.uint16)
    p = make_dng("linear.dng", rgb, photometric=34892)
    expect_error(p, UnsupportedRawError, "already demosaiced")


def test_rawpipe_linear_output(tmp_path):
    md = RawMetadata(cfa_pattern="RGGB", black_level=(0.0,) * 4, white_level=1.0)
    p = write_linear_dng(tmp_path / "edit.dng", np.zeros((8, 8, 3), np.float32), md)
    expect_error(p, UnsupportedRawError, "written by rawpipe as an output for editors")


def test_xtrans_dng(make_dng, dng_tags):
    tags = dng_tags(extra=[(33421, 3, 2, (6, 6), True), (33422, 1, 36, bytes([1] * 36), True)])
    p = make_dng("xtrans.dng", np.zeros((36, 36), np.uint16), tags=tags)
    expect_error(p, UnsupportedRawError, "X-Trans")


def test_non_bayer_cfa_dng(make_dng, dng_tags):
    tags = dng_tags(
        cfa=bytes((0, 1, 2, 3)), extra=[(50710, 1, 4, bytes((3, 4, 5, 1)), True)]
    )  # cyan/magenta/yellow/green
    p = make_dng("cmyg.dng", np.zeros((32, 32), np.uint16), tags=tags)
    expect_error(p, UnsupportedRawError, "not an RGB Bayer pattern")


def test_cfa_dng_without_pattern(make_dng, dng_tags):
    tags = [t for t in dng_tags() if t[0] not in (33421, 33422)]
    p = make_dng("nocfa.dng", np.zeros((32, 32), np.uint16), tags=tags)
    expect_error(p, UnsupportedRawError, "CFAPattern")


def test_float_dng(make_dng):
    p = make_dng("float.dng", np.zeros((32, 32), np.float32))
    expect_error(p, UnsupportedRawError, "floating-point")


def test_huge_declared_size(make_dng):
    p = make_dng("huge.dng", np.zeros((32, 32), np.uint16))
    patch_tag(p, 256, 30000)  # ImageWidth
    patch_tag(p, 257, 30000)  # ImageLength: 900 MP declared
    expect_error(p, CorruptRawError, "exceeds the limit")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_raw(tmp_path / "nope.dng")


# ---------------------------------------------------------------- DNG tag semantics


def test_top_level_export(good_dng):
    assert np.array_equal(rawpipe.read_raw(good_dng).mosaic, read_raw(good_dng).mosaic)


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize(
    ("cfa", "pattern"),
    [
        ((0, 1, 1, 2), "RGGB"),
        ((1, 2, 0, 1), "GBRG"),
        ((2, 1, 1, 0), "BGGR"),
        ((1, 0, 2, 1), "GRBG"),
    ],
)
def test_hand_made_dng(make_dng, byteorder, cfa, pattern):
    mosaic = np.random.default_rng(1).integers(0, 4096, (31, 45), dtype=np.uint16)
    p = make_dng("h.dng", mosaic, cfa=bytes(cfa), black=(10, 20, 30, 40), byteorder=byteorder)
    img = read_raw(p)
    assert np.array_equal(img.mosaic, mosaic)
    assert img.metadata.cfa_pattern == pattern
    assert img.metadata.black_level == (10.0, 20.0, 30.0, 40.0)
    assert img.metadata.wb_gains == pytest.approx((2.0, 1.0, 1 / 0.7))
    assert (img.metadata.make, img.metadata.model) == ("Testmake", "Testmodel")


def test_odd_active_area_reanchors_pattern_black_and_crop(make_dng, dng_tags):
    """DNG's CFA, BlackLevel and DefaultCrop are relative to the ActiveArea; LibRaw's visible area
    may start one pixel later. The colour at every visible site must match the data."""
    h, w = 41, 53
    aa_top, aa_left = 3, 1
    tile = "RGGB"  # relative to the active area origin
    colour = np.array(
        [[tile[2 * ((y - aa_top) % 2) + (x - aa_left) % 2] for x in range(w)] for y in range(h)]
    )
    level = {"R": 1000, "G": 2000, "B": 3000}
    mosaic = np.vectorize(level.get)(colour).astype(np.uint16)
    black = (1, 2, 3, 4)  # per active-area site (0,0) (0,1) (1,0) (1,1)
    extra = [
        (50829, 4, 4, (aa_top, aa_left, h, w), True),
        (50719, 4, 2, (4, 6), True),  # DefaultCropOrigin x, y
        (50720, 4, 2, (20, 10), True),  # DefaultCropSize w, h
    ]
    p = make_dng("aa.dng", mosaic, tags=dng_tags(black=black, extra=extra))
    img = read_raw(p)
    md = img.metadata
    vh, vw = img.mosaic.shape
    dy, dx = (
        h - vh - aa_top,
        w - vw - aa_left,
    )  # where LibRaw's visible area starts in the active one
    assert (dy, dx) in ((0, 0), (1, 0), (0, 1), (1, 1))
    for y in range(4):
        for x in range(4):
            assert level[md.cfa_pattern.color_at(y, x)] == img.mosaic[y, x]
            assert md.black_level[2 * (y % 2) + x % 2] == black[2 * ((y + dy) % 2) + (x + dx) % 2]
    assert md.default_crop == (4 - dx, 6 - dy, 20, 10)


def test_linearization_table_is_applied(make_dng, dng_tags):
    table = (np.arange(4096) // 2).astype(np.uint16)
    stored = np.random.default_rng(2).integers(0, 4096, (32, 32), dtype=np.uint16)
    tags = dng_tags(white=2047, extra=[(50712, 3, 4096, tuple(int(v) for v in table), True)])
    img = read_raw(make_dng("lin.dng", stored, tags=tags))
    assert np.array_equal(img.mosaic, table[stored])
    assert img.metadata.linearization_applied and img.metadata.white_level == 2047.0


def test_noise_profile_and_opcodes(make_dng, dng_tags):
    def opcode(op_id: int, body: bytes) -> bytes:
        return struct.pack(">IIII", op_id, 0x01030000, 0, len(body)) + body

    gain = struct.pack(">8I", 0, 0, 32, 32, 0, 1, 1, 1) + struct.pack(">II", 1, 1)
    gain += struct.pack(">4dI", 1.0, 1.0, 0.0, 0.0, 1) + struct.pack(">f", 1.5)
    list2 = struct.pack(">I", 1) + opcode(9, gain)
    list3 = struct.pack(">I", 1) + opcode(1, b"\x00" * 8)
    extra = [
        (51041, 12, 2, (2e-4, 3e-6), True),  # one (S, O) pair for all planes
        (51009, 7, len(list2), list2, True),
        (51022, 7, len(list3), list3, True),
    ]
    img = read_raw(
        make_dng("np.dng", np.full((32, 32), 2000, np.uint16), tags=dng_tags(extra=extra))
    )
    md = img.metadata
    assert md.noise_profile == ((2e-4, 3e-6),) * 3
    assert len(md.gain_maps) == 1 and md.ignored_opcodes == ("OpcodeList3:WarpRectilinear",)
    np.testing.assert_allclose(img.normalized(), 1.5 * 2000 / 4095, rtol=1e-6)


def test_read_raw_accepts_str_and_pathlike(good_dng):
    a = read_raw(str(good_dng))
    b = read_raw(os.fspath(good_dng))
    assert a.path == b.path == good_dng


def test_inconsistent_levels(make_dng):
    p = make_dng("levels.dng", np.zeros((32, 32), np.uint16), black=(5000,) * 4, white=4095)
    expect_error(p, CorruptRawError, "white level")


def test_libraw_metadata_mapping():
    """Non-DNG files take their metadata from LibRaw: gains from camera_whitebalance (G = 1),
    XYZ→camera from rgb_xyz_matrix, or from the camera→sRGB matrix when that is zero."""
    from rawpipe.raw.io import _SRGB_TO_XYZ, _libraw_metadata
    from rawpipe.raw.rawpy_backend import LibRawData

    cam = np.array([[0.8, -0.2, -0.1], [-0.5, 1.4, 0.1], [-0.1, 0.3, 0.6]])
    lr = LibRawData(
        mosaic=np.zeros((4, 4), np.uint16),
        tile=(("B", "G"), ("G", "R")),
        black_per_site=(512.0, 510.0, 511.0, 509.0),
        white_level=16383.0,
        camera_wb=(2100.0, 1024.0, 1500.0, 1024.0),
        daylight_wb=(2.0, 1.0, 1.4, 0.0),
        rgb_xyz_matrix=np.vstack([cam, np.zeros((1, 3))]),
        color_matrix=np.zeros((3, 4)),
        iso=1600.0,
        shutter=0.01,
        aperture=4.0,
        focal_length=50.0,
        orientation=8,
        top_margin=0,
        left_margin=0,
        raw_height=4,
        raw_width=4,
    )
    md = _libraw_metadata(lr, CFAPattern.BGGR, None, ".nef")
    assert md.wb_gains == pytest.approx((2100 / 1024, 1.0, 1500 / 1024))
    np.testing.assert_allclose(np.array(md.xyz_to_camera), cam)
    assert (md.iso, md.exposure_time, md.orientation, md.source_format) == (1600.0, 0.01, 8, "NEF")
    assert md.black_level == (512.0, 510.0, 511.0, 509.0)

    srgb_cam = np.array([[1.8, -0.6, -0.2], [-0.1, 1.4, -0.3], [0.05, -0.4, 1.35]])
    lr2 = dataclasses.replace(
        lr,
        rgb_xyz_matrix=np.zeros((4, 3)),
        color_matrix=np.hstack([srgb_cam, np.zeros((3, 1))]),
        camera_wb=(0.0, 0.0, 0.0, 0.0),
    )
    md2 = _libraw_metadata(lr2, CFAPattern.BGGR, None, ".cr2")
    np.testing.assert_allclose(
        np.array(md2.xyz_to_camera) @ _SRGB_TO_XYZ @ srgb_cam, np.eye(3), atol=1e-9
    )
    assert md2.wb_gains == pytest.approx((2.0, 1.0, 1.4))  # daylight fallback


def test_import_is_light():
    """``import rawpipe.raw`` pulls in neither rawpy, torch nor tifffile (imported when used)."""
    import subprocess
    import sys

    code = "import sys, rawpipe.raw; print(sorted({'rawpy','torch','tifffile'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
