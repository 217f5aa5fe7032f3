"""Engines over exported graphs: same interface and host steps as the torch NetworkEngine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rawpipe.export.parity import psnr_wb_srgb

SMALL = {"widths": (8, 16, 16), "block": "conv", "enc_blocks": 1, "mid_blocks": 1, "dec_blocks": 1}


class _Noise:
    def __init__(self, shot, read):
        self.shot, self.read = shot, read


def _geometry(build) -> dict:
    """``halo``/``total_stride`` of the built model (from its manifest)."""
    import json

    model = json.loads(build.manifest_path.read_text())["model"]
    return {"halo": model["halo_packed"], "total_stride": model["total_stride"]}


def _mosaic(h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 1, h // 8, w // 8, generator=g)
    img = torch.nn.functional.interpolate(base, size=(h, w), mode="bilinear", align_corners=False)
    return (img * 0.8 + 0.02 * torch.randn(1, 1, h, w, generator=g)).float()


def test_onnx_engine_matches_torch_on_any_size(android_build):
    from rawpipe.export.runtime import OnnxEngine
    from rawpipe.models import create_model
    from rawpipe.models.engine import NetworkEngine

    torch.manual_seed(0)
    net = create_model("student", pretrained=False).eval()
    ort = OnnxEngine(
        android_build.out_dir / "rawpipe_student_fp32.onnx",
        halo=net.halo,
        total_stride=net.total_stride,
    )
    assert ort.fixed_tile is None and ort.needs_noise and ort.alignment == 8
    m = _mosaic(70, 52)  # not a multiple of the alignment: padded and cropped back
    noise = _Noise(torch.tensor([1e-3, 1.1e-3, 1.1e-3, 9e-4]), torch.tensor([3e-6] * 4))
    ref = NetworkEngine(net)(m, wb_gains=torch.ones(3), noise=noise)
    got = ort(m, wb_gains=torch.ones(3), noise=noise)
    assert got.shape == (1, 3, 70, 52)
    assert float((got - ref).abs().max()) <= 1e-4


def test_fixed_tile_engine_tiles_exactly(tmp_path):
    """Issue 5 point 4: a fixed-shape graph tiled on the host (origins aligned to the total
    stride, overlap ≥ the receptive field) equals the un-tiled torch output within 1e-5."""
    from rawpipe.export.onnx import to_onnx
    from rawpipe.export.runtime import OnnxEngine
    from rawpipe.models import create_model
    from rawpipe.models.engine import NetworkEngine

    torch.manual_seed(0)
    net = create_model("student", pretrained=False, **SMALL).eval()
    path = to_onnx(net, tmp_path / "fixed.onnx", tile=(48, 48), dynamic=False)
    eng = OnnxEngine(path, halo=net.halo, total_stride=net.total_stride)
    assert eng.fixed_tile == 96 and eng.margin >= 2 * net.halo and eng.margin % eng.alignment == 0
    m = _mosaic(200, 176, seed=1)  # several tiles in each direction, not a multiple of the tile
    noise = _Noise(torch.full((4,), 2.6e-4), torch.full((4,), 5e-7))
    ref = NetworkEngine(net)(m, wb_gains=torch.ones(3), noise=noise)
    got = eng(m, wb_gains=torch.ones(3), noise=noise)
    assert got.shape == ref.shape
    assert float((got - ref).abs().max()) <= 1e-5


def test_tflite_engine_selects_the_bucket(android_build, small_buckets):
    from rawpipe.export.runtime import OnnxEngine, TfliteEngine

    tfl = TfliteEngine(android_build.artifact, **_geometry(android_build), buckets=small_buckets)
    assert tfl.fixed_tile == 64 and tfl.nhwc and tfl.signatures == ["b0", "b1", "b2"]
    assert tfl.signature_for(torch.tensor([0.0] * 4)) == "b0"
    assert tfl.signature_for(torch.tensor([1e-4] * 4)) == "b1"
    assert tfl.signature_for(torch.tensor([4e-3] * 4)) == "b2"
    ort = OnnxEngine(
        android_build.out_dir / "rawpipe_student_fp32.onnx", **_geometry(android_build)
    )
    m = _mosaic(64, 64, seed=2)
    for shot in (2.6e-4, 4e-3):
        noise = _Noise(torch.full((4,), shot), torch.full((4,), 1e-6))
        wb = torch.tensor([2.0, 1.0, 1.6])
        a = ort(m, wb_gains=wb, noise=noise)
        b = tfl(m, wb_gains=wb, noise=noise)
        assert psnr_wb_srgb(a, b, wb) >= 45.0
    with pytest.raises(ValueError, match="noise"):
        tfl(m, wb_gains=wb, noise=None)


def test_host_reference_runs_the_artifact_like_the_engine(android_build, small_buckets):
    """The numpy host reference (what an app ports) + LiteRT gives the engine's result."""
    from rawpipe.export.host_reference import HostSteps
    from rawpipe.export.runtime import TfliteEngine

    steps = HostSteps.load(str(android_build.manifest_path))
    run = steps.tflite_runner()
    tfl = TfliteEngine(android_build.artifact, **_geometry(android_build), buckets=small_buckets)
    m = _mosaic(64, 64, seed=3)
    shot, read = [1e-3, 1.2e-3, 1.2e-3, 8e-4], [3e-6] * 4
    noise = _Noise(torch.tensor(shot), torch.tensor(read))
    ref = tfl(m, wb_gains=torch.ones(3), noise=noise)[0].numpy()
    got = steps.run_image(m[0, 0].numpy(), shot, read, run)
    assert got.shape == ref.shape
    # same int8 graph, same quantisation; float32 rounding may move a value by one int8 step
    wb = torch.ones(3)
    assert psnr_wb_srgb(torch.from_numpy(ref)[None], torch.from_numpy(got)[None], wb) > 65.0
    assert np.median(np.abs(got - ref)) == 0.0


def test_tflite_engine_for_a_model_name_checks_weights(android_build):
    from rawpipe.export.runtime import ArtifactError, tflite_engine

    torch.manual_seed(0)
    eng = tflite_engine("student", pretrained=False, artifact=android_build.out_dir)
    assert eng.fixed_tile == 64 and eng.signatures == ["b0", "b1", "b2"]
    torch.manual_seed(123)  # other random weights than the artifact's
    with pytest.raises(ArtifactError, match="rebuild"):
        tflite_engine("student", pretrained=False, artifact=android_build.out_dir)
    with pytest.raises(ArtifactError, match="make export-android"):
        tflite_engine("student", pretrained=False, artifact=android_build.out_dir / "missing")


def test_onnx_engine_for_a_model_name(tmp_path, monkeypatch):
    from rawpipe.export.runtime import onnx_engine

    monkeypatch.setenv("RAWPIPE_CACHE", str(tmp_path))
    eng = onnx_engine("student", pretrained=False, **SMALL)
    assert eng.path.parent == tmp_path / "export" and eng.path.suffix == ".onnx"
    m = _mosaic(32, 48)
    y = eng(m, wb_gains=torch.ones(3), noise=_Noise(torch.full((4,), 1e-3), torch.zeros(4)))
    assert y.shape == (1, 3, 32, 48) and torch.isfinite(y).all()
