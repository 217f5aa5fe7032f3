"""process_raw against LibRaw (rawpy) on a real DNG, outputs, and its safety contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rawpipe
from rawpipe.errors import OutputExistsError
from rawpipe.pipeline import render_srgb

rawpy = pytest.importorskip("rawpy")


def _srgb_curve(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def _psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    d = (a - b) ** 2
    mse = d[mask].mean() if mask is not None else d.mean()
    return float(10 * np.log10(1.0 / mse))


@pytest.fixture(scope="module")
def sample1(hdrmerge_dngs):
    return hdrmerge_dngs[0]


@pytest.fixture(scope="module")
def linear_sample1(sample1):
    torch.set_num_threads(2)
    return rawpipe.process_raw(sample1, output="linear", model="classical")


@pytest.mark.data
def test_linear_matches_rawpy_ahd(sample1, linear_sample1):
    """output="linear" vs LibRaw AHD (camera WB before demosaicing, gains divided out after)."""
    with rawpy.imread(str(sample1)) as r:
        ref = (
            r.postprocess(
                demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD,
                use_camera_wb=True,
                no_auto_bright=True,
                gamma=(1, 1),
                output_color=rawpy.ColorSpace.raw,
                output_bps=16,
                adjust_maximum_thr=0.0,
                user_flip=0,
            ).astype(np.float64)
            / 65535.0
        )
        cam_wb = np.array(r.camera_whitebalance[:3], dtype=np.float64)
    meta = rawpipe.read_raw(sample1).metadata
    gains = cam_wb / cam_wb.min()  # LibRaw normalises the multipliers to a minimum of 1
    lin = linear_sample1.astype(np.float64)
    assert lin.shape == ref.shape, (lin.shape, ref.shape)
    assert lin.dtype == np.float64 or linear_sample1.dtype == np.float32
    ours_wb = lin * gains
    unclipped = (ref < 0.999).all(-1) & (ours_wb < 0.999).all(-1)
    b = 10
    unclipped[:b] = unclipped[-b:] = False
    unclipped[:, :b] = unclipped[:, -b:] = False
    psnr = _psnr(_srgb_curve(ours_wb), _srgb_curve(ref), unclipped)
    print(f"linear vs rawpy AHD: {psnr:.2f} dB over {unclipped.mean():.1%} unclipped pixels")
    assert psnr >= 33.0
    # Our metadata's gains agree with LibRaw's (G normalised to 1).
    np.testing.assert_allclose(np.array(meta.wb_gains), cam_wb / cam_wb[1], rtol=1e-4)


@pytest.mark.data
def test_srgb_matches_rawpy_rendering(sample1, linear_sample1):
    """output="srgb" (tone curve off) vs rawpy's sRGB rendering, 4× downscaled: ≥ 30 dB."""
    import cv2

    with rawpy.imread(str(sample1)) as r:
        ref = (
            r.postprocess(
                use_camera_wb=True, no_auto_bright=True, gamma=(2.4, 12.92), output_bps=16
            ).astype(np.float32)
            / 65535.0
        )
    meta = rawpipe.read_raw(sample1).metadata
    ours = render_srgb(linear_sample1, meta, bit_depth=16).astype(np.float32) / 65535.0
    assert ours.shape == ref.shape
    h, w = ours.shape[:2]
    size = (w // 4, h // 4)
    small_ours = cv2.resize(ours, size, interpolation=cv2.INTER_AREA)
    small_ref = cv2.resize(ref, size, interpolation=cv2.INTER_AREA)
    psnr = _psnr(small_ours, small_ref)
    print(f"sRGB vs rawpy sRGB (4x down): {psnr:.2f} dB")
    assert psnr >= 30.0


@pytest.fixture()
def synthetic_dng(tmp_path):
    from rawpipe.demo import synthesize_demo_dng

    return synthesize_demo_dng(tmp_path / "synth.dng")


def test_srgb_output_is_linear_rendered(synthetic_dng, tmp_path):
    lin = rawpipe.process_raw(synthetic_dng, output="linear")
    srgb = rawpipe.process_raw(synthetic_dng)
    meta = rawpipe.read_raw(synthetic_dng).metadata
    assert srgb.dtype == np.uint8 and srgb.shape == lin.shape
    np.testing.assert_array_equal(srgb, render_srgb(lin, meta))
    srgb16 = rawpipe.process_raw(synthetic_dng, bit_depth=16)
    assert srgb16.dtype == np.uint16
    assert np.abs(srgb16 / 257.0 - srgb).max() <= 1.0


def test_linear_is_unclipped_and_keeps_size(synthetic_dng):
    raw = rawpipe.read_raw(synthetic_dng)
    lin = rawpipe.process_raw(synthetic_dng, output="linear")
    assert lin.dtype == np.float32
    assert lin.shape == (*raw.mosaic.shape, 3)
    # A flat region's mean tracks the mosaic: black removed, / (white - black), no WB applied.
    x = raw.normalized()
    assert abs(float(lin[..., 1].mean()) - float(x[0::2, 1::2].mean())) < 0.01


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_writes_image_and_never_overwrites(synthetic_dng, tmp_path, suffix, sha256):
    before = sha256(synthetic_dng)
    out = tmp_path / f"o{suffix}"
    rgb = rawpipe.process_raw(synthetic_dng, out_path=out)
    assert out.is_file() and out.stat().st_size > 1000
    import cv2

    back = cv2.imread(str(out))[..., ::-1]
    assert back.shape == rgb.shape
    if suffix != ".jpg":
        np.testing.assert_array_equal(back, rgb)
    with pytest.raises(OutputExistsError):
        rawpipe.process_raw(synthetic_dng, out_path=out)
    rawpipe.process_raw(synthetic_dng, out_path=out, overwrite=True)
    assert sha256(synthetic_dng) == before
    assert not list(tmp_path.glob(".*tmp*")), "temporary files left behind"


def test_refuses_output_equal_to_input(synthetic_dng, sha256):
    before = sha256(synthetic_dng)
    with pytest.raises(OutputExistsError):
        rawpipe.process_raw(synthetic_dng, out_path=synthetic_dng, overwrite=True)
    assert sha256(synthetic_dng) == before


def test_dng_output_is_for_editors(synthetic_dng, tmp_path):
    out = tmp_path / "lin.dng"
    lin = rawpipe.process_raw(synthetic_dng, output="dng", out_path=out)
    assert out.is_file() and lin.ndim == 3
    with pytest.raises(rawpipe.UnsupportedRawError, match="rawpipe"):
        rawpipe.read_raw(out)


def test_bad_arguments(synthetic_dng):
    with pytest.raises(ValueError):
        rawpipe.process_raw(synthetic_dng, output="jpeg")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        rawpipe.process_raw(synthetic_dng, output="dng")
    with pytest.raises(FileNotFoundError):
        rawpipe.process_raw(synthetic_dng.with_name("missing.dng"))


@pytest.mark.parametrize("model", ["classical:malvar2004", "classical:menon2007"])
def test_cfa_equivariance_of_the_pipeline(tmp_path, model):
    """Shifting a mosaic by one pixel and switching the pattern gives the same output.

    Malvar is linear: exact. Menon picks a direction per pixel; where the two directions tie to
    rounding (float sums over differently padded inputs), the pick may flip: ≥ 99.9 % exact.
    """
    from rawpipe.raw import CFAPattern, RawMetadata, write_dng

    rng = np.random.default_rng(0)
    base = rng.integers(200, 3800, size=(66, 82)).astype(np.uint16)
    outs = {}
    for name, (dy, dx) in {"RGGB": (0, 0), "GRBG": (0, 1), "GBRG": (1, 0), "BGGR": (1, 1)}.items():
        mosaic = base[dy : dy + 64, dx : dx + 80]
        meta = RawMetadata(cfa_pattern=CFAPattern[name], black_level=(0.0,) * 4, white_level=4095.0)
        path = write_dng(tmp_path / f"{name}.dng", mosaic, meta)
        outs[name] = rawpipe.process_raw(path, output="linear", model=model)
    ref = outs["RGGB"]
    for name, out in outs.items():
        dy, dx = {"RGGB": (0, 0), "GRBG": (0, 1), "GBRG": (1, 0), "BGGR": (1, 1)}[name]
        # Away from the borders (where padding differs) the shifted outputs coincide.
        a = ref[8 + dy : 56 + dy, 8 + dx : 72 + dx]
        b = out[8:56, 8:72]
        close = np.abs(a - b) <= 1e-5
        if model.endswith("malvar2004"):
            assert close.all(), name
        else:
            assert close.mean() >= 0.999, (name, close.mean())


def test_onnx_backend_matches_torch_through_process_raw(synthetic_dng, tmp_path):
    """The fixed-tile ONNX engine, tiled by process_raw, equals the torch engine (fp32)."""
    pytest.importorskip("onnxruntime")
    from rawpipe.models import create_engine, create_model, save_weights

    w = save_weights(create_model("student", pretrained=False), tmp_path / "s.safetensors")
    kwargs = dict(output="linear", noise=(1e-3, 3e-6))
    ref = rawpipe.process_raw(synthetic_dng, model=create_engine("student", weights=w), **kwargs)
    onnx = rawpipe.process_raw(
        synthetic_dng, model=create_engine("student", backend="onnx", weights=w), **kwargs
    )
    assert np.abs(ref - onnx).max() <= 1e-4


@pytest.mark.parametrize("bit_depth, tone", [(8, False), (8, True), (16, False)])
def test_render_srgb_table_matches_the_exact_curve(synthetic_dng, bit_depth, tone):
    """render_srgb's one 3×3 product + encoding table against rawpipe.color.process in float64
    rounded: never more than one code apart, identical for > 99 % of values; NaN renders as 0."""
    import torch

    from rawpipe.color import camera_to_srgb_matrix, process

    rng = np.random.default_rng(0)
    lin = (rng.random((300, 200, 3)) ** 3 * 1.2 - 0.05).astype(np.float32)
    lin[0, 0] = np.nan
    meta = rawpipe.read_raw(synthetic_dng).metadata
    got = render_srgb(lin, meta, bit_depth=bit_depth, tone=tone, orientation=False)
    m = np.asarray(camera_to_srgb_matrix(np.asarray(meta.xyz_to_camera)))
    x = torch.from_numpy(lin.astype(np.float64)).permute(2, 0, 1)[None]
    want = process(
        x, torch.tensor(meta.wb_gains, dtype=torch.float64), torch.from_numpy(m), tone=tone
    )
    peak = 255.0 if bit_depth == 8 else 65535.0
    want = np.round(want[0].permute(1, 2, 0).numpy() * peak)
    diff = np.abs(got.astype(np.float64) - want)[1:]
    assert got[0, 0].tolist() == [0, 0, 0]
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99


def test_engines_are_kept_per_thread(monkeypatch):
    """get_engine reuses an engine (many files: no reload), per thread, and rebuilds when what it
    was built from changes (the stamp) or after clear_engine_cache."""
    import threading

    from rawpipe import pipeline

    pipeline.clear_engine_cache()
    a = pipeline.get_engine("student", threads=1)
    assert pipeline.get_engine("student", threads=1) is a
    assert pipeline.get_engine("student", threads=2) is not a
    other: list = []
    t = threading.Thread(target=lambda: other.append(pipeline.get_engine("student", threads=1)))
    t.start()
    t.join()
    assert other[0] is not a
    monkeypatch.setattr(pipeline, "_engine_stamp", lambda model, backend: ("retrained",))
    b = pipeline.get_engine("student", threads=1)
    assert b is not a and pipeline.get_engine("student", threads=1) is b
    pipeline.clear_engine_cache()
    assert pipeline.get_engine("student", threads=1) is not b
