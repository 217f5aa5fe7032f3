"""ISO noise profiles: PMRID numbers, JSON schema, packaged profiles, fitting."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rawpipe.noise import (
    IsoNoiseModel,
    NoiseParams,
    find_profile,
    list_profiles,
    load_profile,
    pmrid_phone_model,
    save_profile,
)


@pytest.mark.parametrize(
    "iso,a,b", [(100, 7.2e-5, 2.0e-7), (1600, 1.0e-3, 3.2e-6), (6400, 4.0e-3, 3.6e-5)]
)
def test_pmrid_in_normalised_units(iso, a, b):
    p = pmrid_phone_model().params_at(iso)
    print(f"PMRID ISO {iso}: a={p.shot:.3e} b={p.read:.3e}")
    assert p.shot == pytest.approx(a, rel=0.03)
    assert p.read == pytest.approx(b, rel=0.03)


def test_packaged_profiles_present_and_loadable():
    names = list_profiles()
    assert {"pmrid-phone", "nikon-d5000"} <= set(names)
    assert load_profile("pmrid-phone") == pmrid_phone_model()
    d5000 = load_profile("nikon-d5000")
    p = d5000.params_at(200)
    print("nikon-d5000 at ISO 200:", p)
    # measured in calibration/noise (single-frame lower envelope; exposure-ratio check 4.3e-5)
    assert 2.5e-5 < p.shot < 6e-5 and 0 <= p.read < 5e-6


def test_find_profile_matches_camera_names():
    assert find_profile("NIKON CORPORATION", "NIKON D5000").name == "nikon-d5000"
    assert find_profile("Nikon", "D5000").name == "nikon-d5000"
    assert find_profile("Canon", "EOS 5D") is None
    assert find_profile("", "") is None


def test_json_round_trip_and_schema(tmp_path):
    m = IsoNoiseModel(
        name="x",
        shot=((1e-5, 2e-7), (1e-5, 2e-7), (1e-5, 2e-7), (1e-5, 3e-7)),
        read=((1e-7, 0.0, 1e-12),) * 4,
        iso_range=(100, 3200),
        make="Acme",
        model="Cam 1",
        points=((100.0, NoiseParams(3e-5, 1e-7)),),
    )
    path = save_profile(m, tmp_path / "x.json")
    d = json.loads(path.read_text())
    assert d["schema"] == "rawpipe.noise_profile" and d["version"] == 1
    assert d["units"] == "normalized"
    back = load_profile(path)
    assert back == m and back.points == m.points
    assert back.params_at(800).per_channel
    d["version"] = 99
    with pytest.raises(ValueError, match="version"):
        IsoNoiseModel.from_dict(d)
    with pytest.raises(ValueError, match="schema"):
        IsoNoiseModel.from_dict({"schema": "other"})


def test_load_profile_unknown_name():
    with pytest.raises(FileNotFoundError, match="available"):
        load_profile("no-such-camera")


def test_fit_recovers_pmrid_polynomials():
    truth = pmrid_phone_model()
    isos = [100, 200, 400, 800, 1600, 3200, 6400]
    m = IsoNoiseModel.fit([(i, truth.params_at(i)) for i in isos], name="refit")
    for iso in (150, 1000, 5000):
        assert m.params_at(iso).shot == pytest.approx(truth.params_at(iso).shot, rel=1e-6)
        assert m.params_at(iso).read == pytest.approx(truth.params_at(iso).read, rel=1e-6)


def test_fit_single_iso_scales_like_gain():
    m = IsoNoiseModel.fit([(200, NoiseParams(4e-5, 4e-7))], name="one")
    assert m.iso_range == (200.0, 200.0)
    p = m.params_at(400)
    assert p.shot == pytest.approx(8e-5) and p.read == pytest.approx(1.6e-6)


def test_fit_per_channel():
    pts = [(i, NoiseParams((i * 1e-7, i * 2e-7, i * 2e-7, i * 3e-7), 1e-7)) for i in (100, 400)]
    m = IsoNoiseModel.fit(pts, name="pc", per_channel=True)
    assert np.allclose(m.params_at(200).shot4(), (2e-5, 4e-5, 4e-5, 6e-5))
