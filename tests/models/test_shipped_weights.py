"""The weights shipped in rawpipe/weights: they load strictly, carry their card and training
target, are what process_raw uses by default, and do the job (dark-level accuracy, denoising)."""

from __future__ import annotations

import pytest
import torch

import rawpipe
from rawpipe.evaluation import EngineMethod, NetworkMethod, cpsnr, evaluate_flat_patches
from rawpipe.models import create_engine, create_model, read_weights_metadata, shipped_weights_path
from rawpipe.pipeline import DEFAULT_MODEL


@pytest.mark.parametrize("name", ["student", "teacher"])
def test_shipped_weights_load_with_card_and_target(name):
    path = shipped_weights_path(name)
    assert path.is_file(), f"{path} is missing"
    assert path.stat().st_size < 12e6  # the package stays small
    card = path.with_suffix(".md").read_text()
    assert "Training target" in card and "T(y) = E[f(z) | y]" in card
    meta = read_weights_metadata(path)
    assert meta["model"] == name and int(meta["steps"]) > 0
    net = create_model(name)  # pretrained=True: strict load
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_process_raw_defaults_to_the_trained_student():
    assert DEFAULT_MODEL == "student"


@pytest.mark.xfail(
    strict=True,
    reason="issue 4 acceptance not met yet: the shipped student (15,000 CPU steps) keeps 13 of 54 "
    "flat dark patches within max(2 %, 0.05 e⁻); its VST-domain estimate is high in the dark",
)
def test_student_keeps_the_level_of_flat_dark_patches():
    """Issue 4: mean output within max(2 %, 0.05 e⁻) of the truth at 0.5–20 e⁻, ISO 400–6400."""
    torch.set_num_threads(2)
    res = evaluate_flat_patches({"student": NetworkMethod("student")}, progress=False)["student"]
    worst = max(res["rows"], key=lambda r: max(r["ratio"]))
    print(f"student flat patches: {res['ok']}/{res['patches']} within tolerance; worst "
          f"{worst['level']} at {worst['counts']} e⁻: error {worst['error']} e⁻")  # fmt: skip
    assert res["ok"] == res["patches"]


def test_exact_inverse_keeps_dark_levels_better_than_the_algebraic_one():
    """What the shipped student does achieve: with the inverse it was trained for, far more flat
    dark patches keep their level (13 vs 4 of 54 for the 2026-12-04 student), and the worst error
    is well below the algebraic one's (5.7 vs 11.1 × the tolerance)."""
    torch.set_num_threads(2)
    methods = {
        "exact": NetworkMethod("student"),
        "algebraic": NetworkMethod("student", inverse="algebraic"),
    }
    res = evaluate_flat_patches(methods, progress=False)
    print({k: (v["ok"], round(v["worst_ratio"], 2)) for k, v in res.items()})
    assert res["exact"]["ok"] >= 3 * res["algebraic"]["ok"]
    assert res["exact"]["worst_ratio"] < 0.6 * res["algebraic"]["worst_ratio"]


@pytest.mark.data
def test_student_denoises_far_beyond_plain_demosaicing(photo_paths):
    from rawpipe.data import validation_set

    torch.set_num_threads(2)
    student, menon = NetworkMethod("student"), EngineMethod(create_engine("classical"))
    for level, gain_db in (("iso6400", 2.0), ("dark", 3.0)):
        items = validation_set(level, max_size=160)[:3]
        s = [cpsnr(student(it), it["target"], it["wb"], it["cam_to_srgb"]) for it in items]
        m = [cpsnr(menon(it), it["target"], it["wb"], it["cam_to_srgb"]) for it in items]
        print(f"{level}: student {s}, Menon {m}")
        assert min(a - b for a, b in zip(s, m)) > gain_db


def test_process_raw_runs_the_student_on_a_small_file(tmp_path):
    from rawpipe.demo import synthesize_demo_dng

    path = synthesize_demo_dng(tmp_path / "s.dng")
    torch.set_num_threads(2)
    out = rawpipe.process_raw(path, output="linear")
    ref = rawpipe.process_raw(path, output="linear", model="student", tile_size=4096)
    assert out.shape == ref.shape == (512, 512, 3)
    assert abs(out - ref).max() < 1e-5  # default tiling equals one whole tile
