"""Datasets: deterministic training samples, the dark share, fixed validation sets, flat patches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rawpipe.data.datasets import (
    VALIDATION_LEVELS,
    ResumableBatchSampler,
    SyntheticPairs,
    flat_dark_patches,
    validation_set,
)
from rawpipe.data.photos import VALIDATION_PHOTOS
from rawpipe.data.synthetic import SensorConfig

KEYS = {"mosaic", "target", "shot", "read", "wb", "cam_to_srgb"}


@pytest.fixture(scope="module")
def toy_photos(tmp_path_factory):
    """Three small smooth-plus-texture photos (fast to decode)."""
    import cv2

    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    paths = []
    for i, (h, w) in enumerate([(600, 800), (700, 700), (520, 900)]):
        low = rng.random((6, 8, 3)).astype(np.float32)
        im = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
        im = np.clip(im + 0.1 * rng.standard_normal((h, w, 3)), 0, 1)
        p = root / f"toy_{i}.png"
        cv2.imwrite(str(p), (im * 255).astype(np.uint8))
        paths.append(p)
    return paths


def test_sample_layout(toy_photos):
    ds = SyntheticPairs(toy_photos, patch_size=64, seed=0)
    s = ds[0]
    assert set(s) == KEYS
    assert s["mosaic"].shape == (1, 64, 64) and s["target"].shape == (3, 64, 64)
    assert s["shot"].shape == (4,) and s["read"].shape == (4,) and s["wb"].shape == (3,)
    assert s["cam_to_srgb"].shape == (3, 3)
    assert all(v.dtype == torch.float32 for v in s.values())
    assert 0 <= float(s["target"].min()) and float(s["target"].max()) <= 1
    assert float(s["shot"].min()) >= 5e-5 and float(s["read"].min()) > 0
    b = ds.batch(range(4))
    assert b["mosaic"].shape == (4, 1, 64, 64) and b["cam_to_srgb"].shape == (4, 3, 3)


def test_determinism(toy_photos):
    a = SyntheticPairs(toy_photos, patch_size=32, seed=1)
    b = SyntheticPairs(toy_photos, patch_size=32, seed=1)
    c = SyntheticPairs(toy_photos, patch_size=32, seed=2)
    ba, bb = a.batch([5, 6, 7]), b.batch([5, 6, 7])
    assert all(torch.equal(ba[k], bb[k]) for k in KEYS)  # same seed, same batch
    # a sample does not depend on the batch it is fetched in (worker/batching invariance)
    assert all(torch.equal(ba[k][1], a[6][k]) for k in KEYS)
    assert not torch.equal(a[5]["mosaic"], a[6]["mosaic"])  # different index, different sample
    assert not torch.equal(a[5]["mosaic"], c[5]["mosaic"])  # different seed, different sample


def test_dataloader_workers_and_resume(toy_photos):
    ds = SyntheticPairs(toy_photos, patch_size=32, seed=3)
    sampler = ResumableBatchSampler(4, num_steps=3, rank=1, world_size=2)
    assert sampler.indices(0) == [4, 5, 6, 7] and sampler.indices(1) == [12, 13, 14, 15]
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, num_workers=2)
    batches = list(loader)
    assert len(batches) == 3
    for step, got in enumerate(batches):
        want = ds.batch(sampler.indices(step))
        assert all(torch.equal(got[k], want[k]) for k in KEYS)
    resumed = ResumableBatchSampler(4, start_step=2, num_steps=3, rank=1, world_size=2)
    assert list(resumed) == [sampler.indices(2)]
    other_rank = ResumableBatchSampler(4, num_steps=3, rank=0, world_size=2)
    mine = {i for batch in sampler for i in batch}
    assert mine.isdisjoint(i for batch in other_rank for i in batch)


def test_dark_share_present(toy_photos):
    # Same seed, same draws: where the default data has a dark scene, the target is the
    # no-dark target times a factor in [1/16, 1/4]; elsewhere it is identical.
    n = 48
    ds = SyntheticPairs(toy_photos, patch_size=16, seed=4)
    ref = SyntheticPairs(toy_photos, patch_size=16, seed=4, sensor=SensorConfig(dark_share=0.0))
    darks = 0
    for i in range(n):
        t, t0 = ds[i]["target"], ref[i]["target"]
        if torch.equal(t, t0):
            continue
        ratio = float(t.sum() / t0.sum())
        assert 1 / 16 - 1e-4 <= ratio <= 1 / 4 + 1e-4
        torch.testing.assert_close(t, t0 * ratio, atol=1e-6, rtol=1e-4)
        darks += 1
    assert 4 <= darks <= 22  # 25 % of 48: 12 ± 3σ


def test_bad_patch_size(toy_photos):
    with pytest.raises(ValueError):
        SyntheticPairs(toy_photos, patch_size=33)


@pytest.mark.data
def test_training_set_excludes_validation_photos(photo_paths):
    from rawpipe.data.photos import train_photos

    names = {p.name for p in train_photos(photo_paths)}
    assert names.isdisjoint(VALIDATION_PHOTOS) and len(names) == 40
    assert {p.name for p in SyntheticPairs(patch_size=32).paths} == names


@pytest.mark.data
def test_validation_sets_fixed(photo_paths):
    clean = validation_set("clean", photo_paths, max_size=128)
    again = validation_set("clean", photo_paths, max_size=128)
    iso = validation_set("iso1600", photo_paths, max_size=128)
    dark = validation_set("dark", photo_paths, max_size=128)
    assert [v["name"] for v in clean] == list(VALIDATION_PHOTOS)
    assert {v["pattern"] for v in clean} == {"RGGB", "GRBG", "GBRG", "BGGR"}
    for c, c2, n, d in zip(clean, again, iso, dark):
        for k in KEYS | {"srgb"}:
            assert torch.equal(c[k], c2[k])  # identical across calls
        assert c["mosaic"].shape[-2:] == c["target"].shape[-2:] == c["srgb"].shape[-2:]
        assert max(c["mosaic"].shape[-2:]) <= 128 and c["mosaic"].shape[-1] % 2 == 0
        # the same scene at every level; the dark one at 1/8 exposure
        torch.testing.assert_close(n["target"], c["target"])
        torch.testing.assert_close(d["target"], c["target"] / 8, atol=1e-7, rtol=1e-5)
        assert not torch.equal(n["mosaic"], c["mosaic"])
        assert torch.equal(c["shot"], torch.zeros(4))
        torch.testing.assert_close(n["shot"], torch.full((4,), 1e-3))
        q = 1 / (12 * 959**2)
        torch.testing.assert_close(n["read"], torch.full((4,), 3.2e-6 + q))
        assert (c["black_level"], c["white_level"]) == (64, 1023)
        # noise-free mosaic = target on the 10-bit grid
        from rawpipe.data.synthetic import mosaic_rggb

        assert float((c["mosaic"] - mosaic_rggb(c["target"])).abs().max()) <= 0.5 / 959 + 1e-7
    # the sRGB ground truth is the target rendered back (where nothing clipped)
    from rawpipe.color import process

    for c in clean:
        out = process(c["target"] * c["brightness"], c["wb"], c["cam_to_srgb"].double(), tone=True)
        err = (out - c["srgb"]).abs().amax(0)
        assert float(err.median()) < 1e-4


@pytest.mark.data
def test_validation_full_size(photo_paths):
    items = validation_set("iso400", photo_paths)
    sizes = {v["name"]: tuple(v["mosaic"].shape[-2:]) for v in items}
    # long side ~1000 px (factor in [2, 4]), cropped to even sizes at the CFA phase
    assert sizes == {
        "plasma_Path.jpg": (624, 998),
        "palapeli_cincinnati-bridge.jpg": (476, 650),
        "lomiri_life_by_Aitzol_Berasategi.jpg": (664, 998),
        "palapeli_citrus-fruits.jpg": (444, 674),
        "skimage_astronaut.png": (256, 256),
        "plasma_ColorfulCups.jpg": (624, 998),
        "lomiri_Dragonfly_by_Bolly.jpg": (790, 1056),
        "mate_Storm.jpg": (638, 958),
    }
    lvl = VALIDATION_LEVELS["iso400"]
    for v in items:
        assert float(v["shot"][0]) == pytest.approx(lvl.shot)
        assert v["level"] == "iso400"


def test_flat_dark_patches():
    patches = flat_dark_patches(counts=(0.5, 5.0, 20.0), size=128)
    assert len(patches) == 3 * 3 * 3
    for p in patches:
        a = float(p["shot"][0])
        c = p["counts"]
        assert float(c.max()) in (0.5, 5.0, 20.0)
        torch.testing.assert_close(p["target"][:, 0, 0], c * a)
        assert torch.equal(p["target"], p["target"][:, :1, :1].expand_as(p["target"]))
        # mean of the noisy mosaic per colour is unbiased (black 64 keeps the negatives)
        m = p["mosaic"][0].double()
        sites = {0: m[0::2, 0::2], 1: torch.cat([m[0::2, 1::2], m[1::2, 0::2]]), 2: m[1::2, 1::2]}
        for ch, v in sites.items():
            x = float(c[ch]) * a
            sd = np.sqrt((a * x + float(p["read"][0])) / v.numel())
            assert abs(float(v.mean()) - x) < 5 * sd
    again = flat_dark_patches(counts=(0.5, 5.0, 20.0), size=128)
    assert all(torch.equal(p["mosaic"], q["mosaic"]) for p, q in zip(patches, again))
