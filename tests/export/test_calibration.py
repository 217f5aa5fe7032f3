"""The PTQ calibration set (calibration/ptq/recipe.toml)."""

from __future__ import annotations

import math

import pytest
import torch

from rawpipe.export.calibration import calibration_batches, calibration_samples, load_recipe
from rawpipe.export.targets import load_target, make_buckets


@pytest.fixture(scope="module")
def recipe():
    return load_recipe(load_target("android").calibration_path()).replace(tiles_per_bucket=6)


def test_recipe_loads(tmp_path):
    r = load_recipe(load_target("ios").calibration_path())
    assert r.photos == "train" and r.tiles_per_bucket >= 16 and r.seed == 5
    bad = tmp_path / "r.toml"
    bad.write_text("tiles = 3\n")
    with pytest.raises(ValueError, match="unknown"):
        load_recipe(bad)


def test_samples_are_deterministic_and_in_the_bucket(recipe, calibration_photos):
    buckets = make_buckets([4e-5, 1e-3])
    for k, b in enumerate(buckets):
        s1 = calibration_samples(recipe, b, (64, 48), bucket_index=k, paths=calibration_photos)
        s2 = calibration_samples(recipe, b, (64, 48), bucket_index=k, paths=calibration_photos)
        assert len(s1) == 6
        for x, y in zip(s1, s2):
            assert torch.equal(x["mosaic"], y["mosaic"]) and torch.equal(x["shot"], y["shot"])
            assert x["mosaic"].shape == (1, 64, 48)
            a = float(x["shot"].min())
            if a == 0:
                assert k == 0  # noise-free captures only in the floor bucket
            else:
                lo, hi = b.calibration_range
                assert lo * (1 - 1e-6) <= a <= hi * (1 + 1e-6)
    base = calibration_samples(
        recipe, buckets[1], (64, 48), bucket_index=1, paths=calibration_photos
    )
    other = calibration_samples(
        recipe.replace(seed=99), buckets[1], (64, 48), bucket_index=1, paths=calibration_photos
    )
    assert not torch.equal(other[0]["mosaic"], base[0]["mosaic"])  # another seed, other draws


def test_batches_are_vst_inputs_of_the_graph_shape(recipe, calibration_photos):
    buckets = make_buckets([6.4e-4])
    cb = calibration_batches(
        recipe.replace(tiles_per_bucket=3), buckets, (16, 24), paths=calibration_photos
    )
    assert list(cb) == ["b0", "b1"]
    for batches in cb.values():
        assert len(batches) == 3
        for x in batches:
            assert x.shape == (1, 4, 16, 24) and x.dtype == torch.float32
            assert float(x.min()) >= 0.0
    # the VST range follows 2/sqrt(a): the low-noise bucket reaches far higher values
    top0 = max(float(x.max()) for x in cb["b0"])
    top1 = max(float(x.max()) for x in cb["b1"])
    assert top0 > 2 * top1
    assert top1 <= 2 / math.sqrt(6.4e-4) * 1.2
