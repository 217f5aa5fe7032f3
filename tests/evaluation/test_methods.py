"""rawpipe.evaluation.methods: the compared methods agree with the engines they wrap, and the
LibRaw baseline keeps the level and layout of a known scene."""

from __future__ import annotations

import pytest
import torch

from rawpipe.data import make_raw
from rawpipe.evaluation import EngineMethod, LibRawMethod, NetworkMethod, cpsnr, item_noise
from rawpipe.models import create_engine, create_model
from rawpipe.noise import NoiseParams


def _item(noise=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = w = 48
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    linear = torch.stack([0.05 + 0.3 * xx, 0.1 + 0.4 * yy, 0.08 + 0.2 * xx * yy]).contiguous()
    raw = make_raw(linear, g, noise, cfa_phase="RGGB", bits=10, black_level=64)
    return {
        "mosaic": raw.mosaic, "target": raw.target, "shot": raw.shot, "read": raw.read,
        "wb": torch.tensor([1.8, 1.0, 1.5]), "cam_to_srgb": torch.eye(3),
        "black_level": 64, "white_level": 1023,
    }  # fmt: skip


def test_item_noise_floors_a_clean_item():
    p = item_noise(_item())
    assert min(p.shot) > 0
    assert p.read == pytest.approx(((1 / 959) ** 2 / 12,) * 4)  # the 10-bit quantisation step
    q = item_noise(_item(NoiseParams(1e-3, 3.2e-6)))
    assert q.shot == pytest.approx((1e-3,) * 4)


def test_network_method_is_the_engine_and_the_inverse_matters():
    torch.manual_seed(0)
    net = create_model("student", pretrained=False)
    item = _item(NoiseParams(4e-3, 3.6e-5))
    from rawpipe.models import NetworkEngine

    a = NetworkMethod(net)(item)
    b = EngineMethod(NetworkEngine(net))(item)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    alg = NetworkMethod(net, inverse="algebraic")(item)
    assert alg.shape == a.shape == (3, 48, 48)
    assert (alg - a).abs().max() > 1e-4
    with pytest.raises(ValueError, match="inverse"):
        NetworkMethod(net, inverse="nope")


def test_libraw_ahd_reproduces_a_smooth_clean_scene():
    item = _item()
    ahd = LibRawMethod()(item)
    menon = EngineMethod(create_engine("classical"))(item)
    assert ahd.shape == (3, 48, 48)
    assert cpsnr(ahd, item["target"], item["wb"], item["cam_to_srgb"]) > 38
    assert cpsnr(menon, item["target"], item["wb"], item["cam_to_srgb"]) > 38


def test_nlm_denoises_a_noisy_scene():
    item = _item(NoiseParams(4e-3, 3.6e-5), seed=1)
    score = {h: cpsnr(LibRawMethod(h)(item), item["target"], item["wb"], item["cam_to_srgb"])
             for h in (None, 10)}  # fmt: skip
    assert score[10] > score[None] + 2
