"""Registry and factory: listing, capabilities, pretrained semantics, weights= override."""

from __future__ import annotations

import importlib.util

import pytest
import torch

import rawpipe.models.registry as registry
from rawpipe.errors import RawpipeError, WeightsError
from rawpipe.models import (
    CAPABILITIES,
    UnknownModelError,
    create_model,
    get_model_spec,
    list_models,
    register_model,
    save_weights,
)


def test_builtin_models_listed():
    names = list_models()
    assert {"student", "teacher"} <= set(names)
    assert names == sorted(names)
    assert set(list_models("packed_io")) >= {"student", "teacher"}
    assert set(list_models("exportable")) >= {"student"}


def test_classical_listed_iff_module_exists():
    present = importlib.util.find_spec("rawpipe.models.classical") is not None
    assert ("classical" in list_models()) == present
    if present:
        spec = get_model_spec("classical")
        assert "trainable" not in spec.capabilities
        engine = create_model("classical")  # pretrained=True is ignored: nothing to load
        assert type(engine).__name__ == "ClassicalEngine"


@pytest.mark.parametrize("name", list_models())
def test_every_model_constructs_and_is_annotated(name):
    model = create_model(name, pretrained=False)
    assert model.model_name == name
    assert model.weights_metadata is None
    assert set(get_model_spec(name).capabilities) <= CAPABILITIES


def test_unknown_model():
    with pytest.raises(UnknownModelError, match="available") as e:
        create_model("no-such-model")
    assert isinstance(e.value, RawpipeError)
    with pytest.raises(ValueError, match="capability"):
        list_models("flying")


def test_bad_pretrained_value():
    with pytest.raises(ValueError, match="pretrained"):
        create_model("student", pretrained="yes")


def test_kwargs_override_default_config():
    m = create_model("student", pretrained=False, widths=(8, 16, 32), block="conv", dec_blocks=1)
    assert m.widths == (8, 16, 32)
    assert m.total_stride == 4
    assert m.model_config["widths"] == (8, 16, 32)
    assert m.model_config["merge"] == get_model_spec("student").default_config["merge"]
    with pytest.raises(ValueError, match="given again"):  # 4 levels: per-level settings needed
        create_model("student", pretrained=False, widths=(8, 16, 32, 64))


@pytest.fixture
def fake_shipped(tmp_path, monkeypatch):
    """Point the shipped-weights lookup at tmp_path."""
    monkeypatch.setattr(registry, "shipped_weights_path", lambda n: tmp_path / f"{n}.safetensors")
    return tmp_path


def test_pretrained_true_without_shipped_weights_raises(fake_shipped):
    with pytest.raises(WeightsError, match=r"no shipped weights.*pretrained=False"):
        create_model("student")


def test_pretrained_if_available_falls_back(fake_shipped):
    m = create_model("student", pretrained="if_available")
    assert m.weights_metadata is None


def test_pretrained_loads_shipped_weights(fake_shipped):
    torch.manual_seed(1)
    src = create_model("student", pretrained=False)
    save_weights(src, fake_shipped / "student.safetensors", {"steps": "7"})
    for pretrained in (True, "if_available"):
        torch.manual_seed(2)
        m = create_model("student", pretrained=pretrained)
        assert m.weights_metadata["steps"] == "7"
        for (k, a), b in zip(src.state_dict().items(), m.state_dict().values()):
            assert torch.equal(a, b), k


def test_shipped_weights_must_match_config(fake_shipped):
    save_weights(create_model("student", pretrained=False), fake_shipped / "student.safetensors")
    with pytest.raises(WeightsError, match="shape"):
        create_model("student", widths=(16, 32, 48))


def test_weights_path_overrides_pretrained(tmp_path, fake_shipped):
    tiny = {"widths": (8, 8, 8), "enc_blocks": 1, "dec_blocks": 1}
    src = create_model("teacher", pretrained=False, **tiny)
    path = save_weights(src, tmp_path / "ckpt.safetensors", {"k": "v"})
    m = create_model("teacher", pretrained=False, weights=path, **tiny)
    assert m.weights_metadata["k"] == "v"
    x = torch.rand(1, 4, 8, 8)
    assert torch.equal(m(x), src(x))
    with pytest.raises(WeightsError, match="does not exist"):
        create_model("student", weights=tmp_path / "missing.safetensors")


def test_register_model_and_duplicates():
    @register_model("tiny-test", capabilities={"trainable"}, default_config={"c": 3})
    def tiny_test(c: int) -> torch.nn.Module:
        """A test model."""
        return torch.nn.Conv2d(c, c, 1)

    try:
        assert "tiny-test" in list_models("trainable")
        spec = get_model_spec("tiny-test")
        assert spec.description == "A test model."
        assert create_model("tiny-test", pretrained=False).in_channels == 3
        assert create_model("tiny-test", pretrained=False, c=5).in_channels == 5
        with pytest.raises(ValueError, match="already registered"):
            register_model("tiny-test")(lambda: None)
        with pytest.raises(ValueError, match="unknown capabilities"):
            register_model("tiny-test-2", capabilities={"flies"})(tiny_test)
    finally:
        registry._REGISTRY.pop("tiny-test", None)
    assert "tiny-test" not in list_models()


def test_constructor_has_no_side_effects(fake_shipped):
    # Building with pretrained=False touches no file, even if shipped weights exist.
    (fake_shipped / "student.safetensors").write_bytes(b"garbage")
    create_model("student", pretrained=False)
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        create_model("student")
