"""rawpipe.evaluation.bracket: registration, and the real hdrmerge bracket as an item."""

from __future__ import annotations

import numpy as np
import pytest

from rawpipe.evaluation import EngineMethod, bracket_item, register_translation, score_item
from rawpipe.models import create_engine


def test_register_translation_recovers_a_known_shift():
    rng = np.random.default_rng(0)
    import cv2

    base = cv2.GaussianBlur(rng.random((160, 160)), (0, 0), 2.0)
    fixed = base[20:148, 20:148]
    moving = base[20 + 5 : 148 + 5, 20 - 3 : 148 - 3]  # moving[y, x] = base[y + 5, x - 3]
    dy, dx = register_translation(moving, fixed)
    assert (dy, dx) == (-5, 3)
    np.testing.assert_allclose(np.roll(moving, (-dy, -dx), (0, 1))[10:-10, 10:-10],
                               fixed[10:-10, 10:-10], atol=1e-12)  # fmt: skip


@pytest.mark.data
def test_bracket_item_on_the_real_frames(hdrmerge_dngs, sha256):
    sample1, sample2, _ = hdrmerge_dngs
    before = [sha256(sample1), sha256(sample2)]
    item = bracket_item(sample2, sample1, size=256)
    assert [sha256(sample1), sha256(sample2)] == before
    assert item["mosaic"].shape == (1, 256, 256) and item["target"].shape == (3, 256, 256)
    assert item["nominal_gain"] == pytest.approx(4.0)
    assert item["display_gain"] == pytest.approx(4.0, rel=0.05)  # measured exposure ratio
    assert item["valid"].float().mean() > 0.5
    r = score_item(EngineMethod(create_engine("classical"))(item), item)
    assert r["cpsnr"] > 28  # registered: the frames agree up to noise
    assert max(abs(b) for b in r["dark_bias"]) < 0.05
