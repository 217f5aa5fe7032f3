"""Image writing: formats, ICC profile, EXIF, orientation, atomicity."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rawpipe.errors import OutputExistsError
from rawpipe.image_io import apply_orientation, srgb_icc_profile, write_image


@pytest.fixture()
def rgb8():
    return np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_icc_profile_embedded(tmp_path, rgb8, suffix):
    out = write_image(tmp_path / f"a{suffix}", rgb8, exif={"make": "Nikon", "model": "D5000"})
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == srgb_icc_profile()
        assert im.size == (32, 24)


def test_exif_written_to_jpeg(tmp_path, rgb8):
    out = write_image(
        tmp_path / "a.jpg", rgb8, exif={"make": "Nikon", "model": "D5000", "iso": 200}
    )
    with Image.open(out) as im:
        exif = im.getexif()
        assert exif[0x010F] == "Nikon" and exif[0x0110] == "D5000"
        assert exif[0x0112] == 1  # pixels are upright
        assert exif.get_ifd(0x8769)[0x8827] == 200


def test_png16_round_trip_with_icc(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 65536, (10, 12, 3), dtype=np.uint16)
    out = write_image(tmp_path / "a.png", rgb)
    import cv2

    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[..., ::-1]
    np.testing.assert_array_equal(back, rgb)
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == srgb_icc_profile()


def test_refuses_existing_and_bad_input(tmp_path, rgb8):
    out = write_image(tmp_path / "a.png", rgb8)
    with pytest.raises(OutputExistsError):
        write_image(out, rgb8)
    with pytest.raises(ValueError):
        write_image(tmp_path / "a.bmp", rgb8)
    with pytest.raises(ValueError):
        write_image(tmp_path / "b.jpg", rgb8.astype(np.uint16))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow(orientation, rgb8):
    ops = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }
    ref = np.asarray(Image.fromarray(rgb8).transpose(ops[orientation])) if orientation > 1 else rgb8
    np.testing.assert_array_equal(apply_orientation(rgb8, orientation), ref)
