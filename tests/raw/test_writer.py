"""write_dng / write_linear_dng: bit-exact round trips via read_raw and LibRaw, metadata kept."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import rawpy
import tifffile

from rawpipe.errors import OutputExistsError, UnsupportedRawError
from rawpipe.raw import CFAPattern, GainMap, RawMetadata, read_raw, write_dng, write_linear_dng

SIZES = [(32, 48), (33, 47), (23, 22), (45, 64)]


def rich_metadata(pattern: CFAPattern | str = "RGGB", **kw) -> RawMetadata:
    base = dict(
        cfa_pattern=pattern,
        black_level=(64.0, 64.5, 63.0, 65.0),
        white_level=4095.0,
        wb_gains=(2.0, 1.0, 1.5),
        xyz_to_camera=((0.7, -0.1, -0.05), (-0.8, 1.6, 0.26), (-0.24, 0.28, 0.8)),
        color_matrix1=((0.7, -0.1, -0.05), (-0.8, 1.6, 0.26), (-0.24, 0.28, 0.8)),
        forward_matrix1=((0.6, 0.3, 0.05), (0.25, 0.7, 0.05), (0.0, 0.05, 0.8)),
        calibration_illuminant1=21,
        iso=800.0,
        exposure_time=1 / 250,
        f_number=2.8,
        focal_length=35.0,
        make="Rawpipe",
        model="Test 1",
        orientation=6,
        noise_profile=((1e-4, 1e-6), (2e-4, 2e-6), (3e-4, 3e-6)),
        default_crop=(2, 2, 16, 12),
    )
    base.update(kw)
    return RawMetadata(**base)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("pattern", list(CFAPattern))
@pytest.mark.parametrize("size", SIZES)
def test_write_dng_roundtrip_bit_exact(tmp_path, pattern, size):
    rng = np.random.default_rng(size[0] * 7 + size[1])
    mosaic = rng.integers(0, 65536, size, dtype=np.uint16)  # the full 16-bit range
    md = rich_metadata(pattern, white_level=65535.0)
    path = write_dng(tmp_path / "out.dng", mosaic, md)
    img = read_raw(path)
    assert img.mosaic.dtype == np.uint16
    assert np.array_equal(img.mosaic, mosaic)
    assert img.metadata.cfa_pattern is pattern
    with rawpy.imread(str(path)) as raw:  # LibRaw directly
        assert np.array_equal(raw.raw_image_visible, mosaic)
        desc = raw.color_desc.decode()
        tile = "".join(desc[raw.raw_colors_visible[y, x]] for y in (0, 1) for x in (0, 1))
        assert tile == pattern.value
        assert raw.white_level == 65535


def test_write_dng_metadata_roundtrip(tmp_path):
    md = rich_metadata("GBRG")
    mosaic = np.random.default_rng(0).integers(0, 4096, (33, 47), dtype=np.uint16)
    got = read_raw(write_dng(tmp_path / "m.dng", mosaic, md)).metadata
    for name in (
        "cfa_pattern",
        "black_level",
        "white_level",
        "iso",
        "make",
        "model",
        "orientation",
        "noise_profile",
        "default_crop",
        "calibration_illuminant1",
    ):
        assert getattr(got, name) == getattr(md, name), name
    assert got.wb_gains == pytest.approx(md.wb_gains, rel=1e-6)
    assert got.exposure_time == pytest.approx(md.exposure_time)
    assert got.f_number == pytest.approx(2.8) and got.focal_length == pytest.approx(35.0)
    np.testing.assert_allclose(np.array(got.xyz_to_camera), np.array(md.xyz_to_camera), atol=1e-6)
    np.testing.assert_allclose(
        np.array(got.forward_matrix1), np.array(md.forward_matrix1), atol=1e-6
    )
    assert got.unique_camera_model == "Rawpipe Test 1"
    assert got.source_format == "DNG" and not got.linearization_applied
    # normalisation agrees with the metadata written
    img = read_raw(tmp_path / "m.dng")
    b = np.tile(np.array(md.black_level).reshape(2, 2), (17, 24))[:33, :47]
    np.testing.assert_allclose(img.normalized(), (mosaic - b) / (4095.0 - b), rtol=1e-6, atol=1e-7)


def test_write_dng_tags_for_other_readers(tmp_path):
    md = rich_metadata("BGGR")
    path = write_dng(tmp_path / "t.dng", np.zeros((24, 24), np.uint16), md)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert page.photometric == 32803
        tags = {t.code: t.value for t in page.tags.values()}
    assert tags[33422] == bytes((2, 1, 1, 0))  # CFAPattern BGGR
    black = np.array(tags[50714], dtype=np.float64).reshape(4, 2)  # RATIONAL pairs
    assert black[:, 0] / black[:, 1] == pytest.approx((64.0, 64.5, 63.0, 65.0))
    assert tags[51041] == pytest.approx((1e-4, 1e-6, 2e-4, 2e-6, 3e-4, 3e-6))
    assert tags[305].startswith("rawpipe")


def test_write_dng_gain_maps_roundtrip(tmp_path):
    gm = GainMap(1, 0, 33, 47, 2, 2, 3, 4, 16.0, 15.0, -0.5, -0.5, tuple(np.linspace(1, 2, 12)))
    md = rich_metadata("RGGB", gain_maps=(gm,), black_level=(0.0,) * 4)
    mosaic = np.full((33, 47), 1000, np.uint16)
    img = read_raw(write_dng(tmp_path / "g.dng", mosaic, md))
    got = img.metadata.gain_maps
    assert len(got) == 1 and got[0].gains == gm.gains
    assert (got[0].top, got[0].row_pitch, got[0].points_h) == (1, 2, 4)
    assert got[0].origin_v == pytest.approx(-0.5) and got[0].spacing_h == pytest.approx(15.0)
    assert np.array_equal(img.mosaic, mosaic)  # the gain map is not baked into the mosaic
    out = img.normalized()
    plain = img.normalized(apply_gain_maps=False)
    assert np.allclose(out[0::2], plain[0::2])  # even rows untouched
    assert np.all(out[1::2, 0::2] > plain[1::2, 0::2])  # odd rows, even columns gained
    # far corner: row (31 + 0.5) / 16 = 1.97 between samples 1 and 2, column clamped to the last
    grid = np.linspace(1, 2, 12).reshape(3, 4)
    want = grid[1, 3] * (1 - 31.5 / 16 + 1) + grid[2, 3] * (31.5 / 16 - 1)
    assert out[31, 46] == pytest.approx(plain[31, 46] * want, rel=1e-5)


def test_write_dng_refuses_overwrite_and_is_atomic(tmp_path):
    path = tmp_path / "x.dng"
    mosaic = np.zeros((24, 24), np.uint16)
    write_dng(path, mosaic, rich_metadata())
    before = sha256(path)
    with pytest.raises(OutputExistsError):
        write_dng(path, mosaic + 1, rich_metadata())
    assert sha256(path) == before
    write_dng(path, mosaic + 1, rich_metadata(), overwrite=True)
    assert np.array_equal(read_raw(path).mosaic, mosaic + 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.dng"]  # no temp files left


def test_write_dng_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="uint16"):
        write_dng(tmp_path / "f.dng", np.zeros((24, 24), np.float32), rich_metadata())
    with pytest.raises(ValueError, match="uint16"):
        write_dng(tmp_path / "f.dng", np.zeros((2, 24, 24), np.uint16), rich_metadata())
    assert not (tmp_path / "f.dng").exists()


def test_linear_dng_for_editors(tmp_path):
    rgb = np.random.default_rng(1).random((30, 40, 3), dtype=np.float32) * 1.2 - 0.1
    path = write_linear_dng(tmp_path / "lin.dng", rgb, rich_metadata())
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert page.photometric == 34892 and page.samplesperpixel == 3
        stored = page.asarray()
    assert stored.dtype == np.uint16
    assert np.array_equal(stored, np.round(np.clip(rgb, 0, 1) * 65535).astype(np.uint16))
    with rawpy.imread(str(path)) as raw:  # a RAW editor's decoder opens it and renders it
        assert raw.raw_image.shape[:2] == (30, 40)
        assert raw.postprocess().ndim == 3
    before = sha256(path)
    with pytest.raises(UnsupportedRawError, match="written by rawpipe as an output for editors"):
        read_raw(path)
    assert sha256(path) == before
    with pytest.raises(OutputExistsError):
        write_linear_dng(path, rgb, rich_metadata())
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        write_linear_dng(tmp_path / "bad.dng", rgb[..., :2], rich_metadata())
