"""rawpipe.evaluation.report on the real validation split (small crops, one photo)."""

from __future__ import annotations

import pytest
import torch

from rawpipe.evaluation import (
    EngineMethod,
    evaluate_flat_patches,
    evaluate_levels,
    table_markdown,
    tune_nlm,
)
from rawpipe.models import create_engine

pytestmark = pytest.mark.data


@pytest.fixture(scope="module", autouse=True)
def _photos(photo_paths):
    return photo_paths


def test_evaluate_levels_and_tuned_nlm_make_one_table():
    tuned, sweep = tune_nlm(levels=("iso6400",), strengths=(0, 8), max_size=96, limit=2,
                            progress=False)  # fmt: skip
    assert set(sweep["iso6400"]) == {0.0, 8.0}
    assert tuned.strengths["iso6400"] == 8.0  # ISO 6400 is far too noisy to leave undenoised
    with pytest.raises(ValueError, match="not tuned for level 'clean'"):
        tuned.for_level("clean")
    methods = {"menon": EngineMethod(create_engine("classical")), "nlm": tuned}
    res = evaluate_levels(methods, levels=("iso6400",), max_size=96, limit=2, progress=False,
                          curves=True)  # fmt: skip
    r = res["iso6400"]
    assert r["nlm"]["cpsnr"] == pytest.approx(sweep["iso6400"][8.0], abs=1e-6)
    assert r["nlm"]["cpsnr"] > r["menon"]["cpsnr"]
    assert len(r["menon"]["dark_bias"]) == 3 and r["menon"]["images"] == 2
    assert len(r["menon"]["bias_curve"]["signal"]) >= 3
    md = table_markdown(res)
    assert "| menon |" in md and "iso6400" in md


def test_flat_patches_pass_for_a_truthful_method_and_fail_for_a_crushing_one():
    def truth(item):
        return item["target"].clone()

    def crush(item):
        return (item["target"] - 0.3 * float(item["shot"][0])).clamp(min=0)

    res = evaluate_flat_patches({"truth": truth, "crush": crush}, progress=False)
    assert res["truth"]["ok"] == res["truth"]["patches"] == 54
    assert res["truth"]["worst_ratio"] == 0
    assert res["crush"]["ok"] < res["crush"]["patches"]
    torch.testing.assert_close(torch.tensor(res["crush"]["worst_ratio"]), torch.tensor(6.0))
