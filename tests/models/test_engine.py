"""NetworkEngine: the pipeline's engine interface around a JDD network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rawpipe.models import create_model
from rawpipe.models.engine import NetworkEngine, create_engine
from rawpipe.models.jdd import JDDNet
from rawpipe.noise import NoiseParams

TINY = {"widths": [4, 8], "block": "conv", "enc_blocks": 1, "dec_blocks": 1, "mid_blocks": 1}
NOISE = NoiseParams(shot=(1e-3, 2e-3, 2e-3, 1.5e-3), read=2e-6)


@pytest.fixture
def engine() -> NetworkEngine:
    torch.manual_seed(0)
    return NetworkEngine(create_model("student", pretrained=False, **TINY))


def test_interface(engine):
    assert engine.needs_noise is True
    assert engine.alignment == 2 * engine.jdd.net.total_stride
    assert engine.receptive_field == 2 * engine.jdd.net.receptive_field + 1
    x = torch.rand(1, 1, 32, 32)
    y = engine(x, wb_gains=torch.tensor([2.0, 1.0, 1.5]), noise=NOISE)
    assert y.shape == (1, 3, 32, 32) and y.dtype == torch.float32
    want = engine.jdd(x, torch.tensor([NOISE.shot4()]), torch.tensor([NOISE.read4()]))
    torch.testing.assert_close(y, want)
    with pytest.raises(ValueError, match="noise"):
        engine(x, wb_gains=torch.ones(3), noise=None)


def test_unaligned_sizes_are_padded_and_cropped(engine):
    x = torch.rand(2, 1, 30, 22)
    y = engine(x, wb_gains=torch.ones(3), noise=NOISE)
    assert y.shape == (2, 3, 30, 22) and torch.isfinite(y).all()


def test_tiled_equals_whole_image(engine):
    """The receptive field it reports is large enough for the pipeline's tiling."""
    from rawpipe.tiling import TileSpec, run_tiled

    x = torch.rand(1, 1, 96, 80)

    def fn(t):
        return engine(t, wb_gains=torch.ones(3), noise=NOISE)

    align = engine.alignment
    halo = engine.receptive_field // 2  # the tightest margin the reported field allows
    margin = -(-halo // align) * align
    spec = TileSpec(size=2 * margin + 2 * align, margin=margin, align=align)
    with torch.inference_mode():
        tiled = run_tiled(fn, x, spec, out_channels=3)
        whole = fn(x)
    torch.testing.assert_close(tiled, whole, rtol=1e-5, atol=1e-5)


def test_create_engine(tmp_path):
    from rawpipe.models import save_weights

    torch.manual_seed(1)
    net = create_model("student", pretrained=False, **TINY)
    w = save_weights(net, tmp_path / "s.safetensors")
    e = create_engine("student", weights=w, **TINY)
    assert isinstance(e, NetworkEngine) and isinstance(e.jdd, JDDNet)
    x = torch.rand(1, 1, 16, 16)
    torch.testing.assert_close(
        e(x, wb_gains=torch.ones(3), noise=NOISE),
        NetworkEngine(net)(x, wb_gains=torch.ones(3), noise=NOISE),
    )
    pytest.importorskip("onnxruntime")
    onnx_e = create_engine("student", backend="onnx", weights=w, **TINY)
    x = torch.rand(1, 1, 64, 64)
    torch.testing.assert_close(
        onnx_e(x, wb_gains=torch.ones(3), noise=NOISE),
        e(x, wb_gains=torch.ones(3), noise=NOISE),
        atol=1e-4,
        rtol=0,
    )
    with pytest.raises(ValueError):
        create_engine("student", backend="coreml")


def test_process_image_is_the_tiled_whole_image_path(engine):
    """process_image (what process_raw runs: VST once, graph per tile, inverse per strip) gives
    the untiled engine output, laid out H×W×3, at any tile size."""
    x = torch.rand(1, 1, 150, 118) * 0.6
    whole = engine(x, wb_gains=torch.ones(3), noise=NOISE)[0].permute(1, 2, 0).numpy()
    align = engine.alignment
    for tile in (None, 2 * engine.margin + align, 2 * engine.margin + 3 * align):
        got = engine.process_image(x[0, 0].numpy(), noise=NOISE, tile=tile)
        assert got.shape == (150, 118, 3) and got.dtype == np.float32
        np.testing.assert_allclose(got, whole, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="even"):
        engine.process_image(x[0, 0, :, :117].numpy(), noise=NOISE)
    with pytest.raises(ValueError, match="noise"):
        engine.process_image(x[0, 0].numpy(), noise=None)


def test_process_image_renders_strip_by_strip(engine):
    """render=: each finished strip goes through the renderer; the result equals rendering the
    whole linear image (rows of more than one strip, a dtype other than float32)."""
    x = torch.rand(1, 1, 150, 118) * 0.6
    linear = engine.process_image(x[0, 0].numpy(), noise=NOISE)
    calls = []

    def render(strip: np.ndarray) -> np.ndarray:
        calls.append(strip.shape[0])
        return np.round(np.clip(strip, 0, 1) * 1000).astype(np.uint16)

    got = engine.process_image(x[0, 0].numpy(), noise=NOISE, render=render)
    assert got.dtype == np.uint16 and got.shape == (150, 118, 3)
    assert sum(calls) == 150 and len(calls) > 1
    np.testing.assert_array_equal(got, render(linear))


def test_other_inverses_are_honoured(engine):
    """inverse='algebraic' goes through the same streamed path (comparisons in evaluation)."""
    from rawpipe.models.jdd import jdd_postprocess

    x = torch.rand(1, 1, 32, 48) * 0.3
    alg = NetworkEngine(engine.jdd, inverse="algebraic")
    shot, read = torch.tensor([NOISE.shot4()]), torch.tensor([NOISE.read4()])
    with torch.inference_mode():
        vst = engine.jdd.forward_vst(x, shot, read)
        want = jdd_postprocess(vst, shot, read, inverse="algebraic")
    got = alg(x, wb_gains=torch.ones(3), noise=NOISE)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
