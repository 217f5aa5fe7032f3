"""TrainConfig: validation, JSON and CLI round trips."""

from __future__ import annotations

import pytest

from rawpipe.train import TrainConfig
from rawpipe.train.cli import build_parser, config_from_args, distill_main


def test_json_round_trip(tmp_path):
    cfg = TrainConfig(
        model="student",
        model_kwargs={"widths": (4, 8)},
        teacher="teacher",
        betas=[0.9, 0.95],
        kd_features=["dec0"],
        data={"shot_range": (1e-4, 1e-2)},
        steps=7,
    )
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    path = tmp_path / "c.json"
    path.write_text(cfg.to_json())
    assert TrainConfig.from_json(path) == cfg
    assert cfg.betas == (0.9, 0.95) and cfg.distill


@pytest.mark.parametrize(
    "bad",
    [{"lr": 2e-3}, {"patch": 31}, {"steps": 0}, {"w_vst": -1.0}, {"dataset": "x"},
     {"w_vst": 0.0, "w_rgb": 0.0}],
)  # fmt: skip
def test_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        TrainConfig(**bad)


def test_unknown_field_rejected():
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({"stepz": 3})


def test_cli_round_trip(tmp_path):
    cfg = TrainConfig(
        model="teacher",
        model_kwargs={"widths": [8, 16]},
        steps=11,
        lr=3e-4,
        amp=True,
        teacher=None,
        val_levels=("clean",),
        out_dir=str(tmp_path),
    )
    argv = [
        "--model", "teacher", "--model-kwargs", '{"widths": [8, 16]}', "--steps", "11",
        "--lr", "3e-4", "--amp", "--teacher", "none", "--val-levels", '["clean"]',
        "--out-dir", str(tmp_path),
    ]  # fmt: skip
    args = build_parser().parse_args(argv)
    assert config_from_args(args) == cfg
    # a --config file with overrides on top
    path = tmp_path / "base.json"
    path.write_text(cfg.to_json())
    args = build_parser().parse_args(["--config", str(path), "--steps", "5", "--no-amp"])
    assert config_from_args(args) == cfg.replace(steps=5, amp=False)


def test_distill_cli_defaults(capsys):
    assert distill_main(["--print-config", "--steps", "3"]) == 0
    cfg = TrainConfig.from_json(capsys.readouterr().out)
    assert (cfg.model, cfg.teacher, cfg.steps) == ("student", "teacher", 3)
    assert distill_main(["--print-config", "--student", "student", "--teacher", "t2"]) == 0
    assert TrainConfig.from_json(capsys.readouterr().out).teacher == "t2"
