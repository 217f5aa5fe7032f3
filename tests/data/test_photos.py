"""Photos: linear-light loading and downscaling, the fixed train/validation split."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from rawpipe.data import photos
from rawpipe.data.photos import (
    VALIDATION_PHOTOS,
    encode_linear_srgb,
    linearize_srgb8,
    load_validation_photo,
    random_patch,
    split_photos,
    validation_factor,
)


def test_split_is_by_name_not_order():
    names = [f"x_{i}.jpg" for i in range(20)] + list(VALIDATION_PHOTOS)
    paths = [Path("/somewhere") / n for n in names]
    random.Random(0).shuffle(paths)
    train, val = split_photos(paths)
    assert {p.name for p in val} == set(VALIDATION_PHOTOS)
    assert {p.name for p in train} == {f"x_{i}.jpg" for i in range(20)}
    train2, val2 = split_photos(list(reversed(paths)))
    assert {p.name for p in train2} == {p.name for p in train}
    assert {p.name for p in val2} == {p.name for p in val}


@pytest.mark.data
def test_split_disjoint_and_fixed(photo_paths):
    train, val = split_photos(photo_paths)
    tn, vn = {p.name for p in train}, {p.name for p in val}
    assert len(photo_paths) == 48 and len(vn) == 8 and len(tn) == 40
    assert tn.isdisjoint(vn) and tn | vn == {p.name for p in photo_paths}
    assert [p.name for p in photos.validation_photos(photo_paths)] == list(VALIDATION_PHOTOS)
    # near-duplicate views of one scene stay on one side
    moto = {"skimage_motorcycle_left.png", "skimage_motorcycle_right.png"}
    assert moto <= tn or moto <= vn
    # a dark scene is in the validation set: plasma_Path's mean 8-bit level is ~39
    path_photo = photos.load_photo(next(p for p in val if p.name == "plasma_Path.jpg"))
    assert path_photo.mean() < 0.2


def test_linearize_table_matches_colour_ops():
    from rawpipe.color import inverse_tone_curve, srgb_gamma_expansion

    v = np.arange(256, dtype=np.uint8)
    ref = srgb_gamma_expansion(inverse_tone_curve(torch.arange(256, dtype=torch.float64) / 255))
    np.testing.assert_allclose(linearize_srgb8(v), ref.numpy(), rtol=1e-6, atol=1e-9)
    assert linearize_srgb8(v)[0] == 0 and linearize_srgb8(v)[255] == pytest.approx(1.0)
    np.testing.assert_allclose(encode_linear_srgb(linearize_srgb8(v)), v / 255.0, atol=2e-6)


def _write_photo(path: Path, h: int, w: int, seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    im = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    cv2.imwrite(str(path), im[:, :, ::-1])  # RGB -> BGR on disk
    return im


def test_validation_photo_is_linear_area_downscale(tmp_path):
    import cv2

    im = _write_photo(tmp_path / "p.png", 1200, 4400)
    photos.clear_cache()
    out = load_validation_photo(tmp_path / "p.png")
    assert validation_factor(1200, 4400) == 4.0
    assert out.shape == (300, 1100, 3) and out.dtype == np.float32
    # factor 4: exactly the one-stage area average in linear light (up to the float16 cache)
    ref = cv2.resize(linearize_srgb8(im), (1100, 300), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(out, ref, atol=1e-3)
    assert np.array_equal(out, load_validation_photo(tmp_path / "p.png"))
    srgb = load_validation_photo(tmp_path / "p.png", linear=False)
    assert srgb.min() >= 0 and srgb.max() <= 1
    # the long side goes to 1000 px; a small photo keeps the minimum factor 2, a huge one 4
    assert validation_factor(1200, 2500) == pytest.approx(2.5)
    assert validation_factor(400, 600) == 2.0 and validation_factor(3000, 6000) == 4.0


def test_random_patch_factor_and_place(tmp_path):
    _write_photo(tmp_path / "p.png", 800, 900, seed=1)
    rng = np.random.default_rng(0)
    factors = []
    for _ in range(50):
        patch, s = random_patch(tmp_path / "p.png", 65, rng)
        assert patch.shape == (65, 65, 3) and patch.dtype == np.float32
        assert 0 <= patch.min() and patch.max() <= 1
        factors.append(s)
    assert 1.95 <= min(factors) < 2.3 and 3.6 < max(factors) <= 4.05
    # a photo too small for 4x at this size falls back to the largest factor that fits
    _write_photo(tmp_path / "small.png", 300, 300, seed=2)
    for _ in range(10):
        _, s = random_patch(tmp_path / "small.png", 129, rng)
        assert 1.95 <= s <= 300 / 129 + 0.05
    with pytest.raises(ValueError):
        random_patch(tmp_path / "small.png", 200, rng)
    photos.clear_cache()
