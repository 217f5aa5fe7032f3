"""The dependency-free numpy host reference against the torch host steps (rawpipe.models.jdd)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from rawpipe.export import host_reference as hr


def _table() -> dict:
    from rawpipe.noise._gat_table import gat_tables

    t = gat_tables()
    return {"inv": t.inv.astype(np.float32), "d_lo": t.d_lo, "hd": t.hd, "hr": t.hr, "s0": t.s0}


def test_only_numpy_is_imported():
    src = Path(hr.__file__).read_text()
    mods = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            mods.add(node.module.split(".")[0])
    # ai_edge_litert only inside the optional tflite_runner helper
    assert mods <= {
        "__future__",
        "json",
        "math",
        "os",
        "collections",
        "typing",
        "numpy",
        "ai_edge_litert",
    }


def _noise(rng, n=1):
    shot = torch.tensor(rng.uniform(1e-4, 4e-3, (n, 4)), dtype=torch.float32)
    read = torch.tensor(rng.uniform(1e-7, 4e-5, (n, 4)), dtype=torch.float32)
    return shot, read


def test_preprocess_matches_jdd():
    from rawpipe.models.jdd import jdd_preprocess

    rng = np.random.default_rng(0)
    mosaic = rng.uniform(-0.02, 1.0, (1, 1, 16, 24)).astype(np.float32)
    shot, read = _noise(rng)
    ref = jdd_preprocess(torch.from_numpy(mosaic), shot, read)[0].numpy()
    a, b = hr.floor_params(shot[0].numpy(), read[0].numpy(), 1e-5)
    got = hr.generalized_anscombe(hr.pack_rggb(mosaic[0, 0]), a, b)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-5)


def test_noise_free_uses_the_floor():
    from rawpipe.models.jdd import jdd_preprocess

    mosaic = np.full((1, 1, 4, 4), 0.5, np.float32)
    zeros = torch.zeros(1, 4)
    ref = jdd_preprocess(torch.from_numpy(mosaic), zeros, zeros)[0].numpy()
    a, b = hr.floor_params([0.0] * 4, [0.0] * 4, 1e-5)
    got = hr.generalized_anscombe(hr.pack_rggb(mosaic[0, 0]), a, b)
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    assert got.max() == pytest.approx(2 / 1e-5 * np.sqrt(1e-5 * 0.5 + 0.375e-10), rel=1e-5)


def test_postprocess_matches_jdd():
    from rawpipe.models.jdd import jdd_postprocess

    rng = np.random.default_rng(1)
    shot, read = _noise(rng)
    # VST-domain values from below the inverse's domain (linear continuation) to bright
    out = rng.uniform(-0.5, 120.0, (1, 12, 6, 5)).astype(np.float32)
    ref = jdd_postprocess(torch.from_numpy(out), shot, read)[0].numpy()
    a, b = hr.colour_params(*hr.floor_params(shot[0].numpy(), read[0].numpy(), 1e-5))
    got = hr.inverse_vst(hr.depth_to_space(out[0]), a, b, _table())
    np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-7)


def test_depth_to_space_is_crd():
    from rawpipe.models.layers import depth_to_space

    x = np.arange(2 * 12 * 3 * 4, dtype=np.float32).reshape(2, 12, 3, 4)
    ref = depth_to_space(torch.from_numpy(x)).numpy()
    for i in range(2):
        np.testing.assert_array_equal(hr.depth_to_space(x[i]), ref[i])
    assert hr.depth_to_space(np.arange(12.0).reshape(12, 1, 1))[1].tolist() == [[4, 5], [6, 7]]


def test_quantize_round_trip():
    x = np.array([-1.0, 0.0, 0.24, 0.26, 1.0, 100.0], np.float32)
    q = hr.quantize(x, 0.5, -3)
    assert q.dtype == np.int8
    assert q.tolist() == [-5, -3, -3, -2, -1, 127]
    np.testing.assert_allclose(hr.dequantize(q, 0.5, -3)[:5], [-1.0, 0.0, 0.0, 0.5, 1.0])


def test_tile_layout_matches_rawpipe_tiling():
    from rawpipe.tiling import _axis_tiles

    for length, size, margin, align in [
        (512, 512, 160, 16),
        (1000, 512, 160, 16),
        (2048, 512, 64, 16),
        (96, 64, 16, 8),
    ]:
        if (length - size) % align:
            continue
        assert hr.tile_layout(length, size, margin, align) == _axis_tiles(
            length, size, margin, align
        )


def test_select_bucket_matches_targets():
    from rawpipe.export.targets import load_target, select_bucket

    bs = load_target("android").buckets
    as_dicts = [{"lo": b.lo, "hi": None if np.isinf(b.hi) else b.hi} for b in bs]
    for shot in ([0.0] * 4, [2.6e-4] * 4, [1e-3, 2e-3, 2e-3, 5e-4], [4e-3] * 4, [0.5] * 4):
        assert hr.select_bucket(as_dicts, shot, 1e-5) == select_bucket(bs, shot)
