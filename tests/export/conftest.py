"""Small-tile builds of both export targets, shared by the export tests (built once per session).

Tile 32×32 packed (64×64 raw), three noise buckets, four calibration tiles per bucket from two small
training photos, one parity tile per acceptance level: the whole toolchain path (ONNX, PT2E int8
TFLite, W8A8 Core ML, op lint, parity, manifest) in seconds rather than minutes. Full-size builds
run in `make parity` (tests marked slow).
"""

from __future__ import annotations

from pathlib import Path

import pytest

SMALL_TILE = (32, 32)
SMALL_EDGES = (4e-5, 6.4e-4)  # clean | ISO 400 | ISO 1600, dark, ISO 6400
CALIBRATION_PHOTOS = ("skimage_chelsea.png", "skimage_coffee.png")


def _deps() -> None:
    for mod in ("onnx", "onnxruntime", "litert_torch", "ai_edge_litert", "coremltools", "torchao"):
        pytest.importorskip(mod)


@pytest.fixture(scope="session")
def calibration_photos(photo_paths) -> list[Path]:
    by_name = {p.name: p for p in photo_paths}
    return [by_name[n] for n in CALIBRATION_PHOTOS]


def small_target(name: str):
    from rawpipe.export.targets import load_target, make_buckets

    return load_target(name).replace(tile=SMALL_TILE, buckets=make_buckets(SMALL_EDGES))


@pytest.fixture(scope="session")
def small_buckets():
    from rawpipe.export.targets import make_buckets

    return make_buckets(SMALL_EDGES)


@pytest.fixture(scope="session")
def android_build(tmp_path_factory, calibration_photos):
    """The android target built at the small tile (untrained student): an ExportResult."""
    _deps()
    import torch

    from rawpipe.export.build import export_target

    torch.set_num_threads(2)
    out = tmp_path_factory.mktemp("android")
    return export_target(
        small_target("android"),
        out_dir=out,
        pretrained=False,
        tiles_per_level=1,
        calibration_tiles=4,
        calibration_paths=calibration_photos,
        fp32_twin=False,
        log=lambda msg: None,
    )


@pytest.fixture(scope="session")
def ios_build(tmp_path_factory, calibration_photos, android_build):
    """The ios target built at the small tile, reusing the android build's ONNX reference."""
    _deps()
    from rawpipe.export.build import export_target

    out = tmp_path_factory.mktemp("ios")
    return export_target(
        small_target("ios"),
        out_dir=out,
        pretrained=False,
        tiles_per_level=1,
        calibration_tiles=4,
        calibration_paths=calibration_photos,
        reference_onnx=android_build.out_dir / "rawpipe_student_fp32.onnx",
        log=lambda msg: None,
    )
