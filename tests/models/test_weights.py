"""safetensors weights: exact round trip, strict verification, corruption, atomicity."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from rawpipe.errors import OutputExistsError, WeightsError
from rawpipe.models import create_model, load_weights, read_weights_metadata, save_weights

_TINY = {"widths": (8, 16, 24), "block": "sepres", "dec_blocks": 1}


def _small() -> nn.Module:
    return create_model("student", pretrained=False, **_TINY)


def _same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_round_trip_exact(tmp_path):
    torch.manual_seed(0)
    src = _small()
    path = save_weights(src, tmp_path / "w.safetensors", {"model": "student", "steps": "12"})
    torch.manual_seed(1)
    dst = _small()
    assert not _same_state(src, dst)
    meta = load_weights(dst, path)
    assert _same_state(src, dst)
    assert meta["model"] == "student" and meta["steps"] == "12"
    assert meta["rawpipe.format"] == "1" and len(meta["rawpipe.sha256"]) == 64
    assert read_weights_metadata(path) == meta
    x = torch.rand(2, 4, 16, 16)
    assert torch.equal(src(x), dst(x))
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # no temp files left


def test_fixed_baseline_not_stored(tmp_path):
    src = _small()
    assert not any(k.startswith("baseline") for k in src.state_dict())
    assert not any(n.startswith("baseline") for n, _ in src.named_parameters())


def test_metadata_must_be_strings(tmp_path):
    with pytest.raises(TypeError, match="str"):
        save_weights(_small(), tmp_path / "w.safetensors", {"steps": 12})
    with pytest.raises(ValueError, match="reserved"):
        save_weights(_small(), tmp_path / "w.safetensors", {"rawpipe.sha256": "x"})
    assert not list(tmp_path.iterdir())


def test_overwrite_false(tmp_path):
    p = save_weights(_small(), tmp_path / "w.safetensors")
    with pytest.raises(OutputExistsError):
        save_weights(_small(), p, overwrite=False)


def _expect_error(model: nn.Module, path: Path, pattern: str) -> None:
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsError, match=pattern):
        load_weights(model, path)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "model changed by failed load"


def _save_raw(path: Path, tensors: dict[str, torch.Tensor]) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path


def test_missing_and_unexpected_keys(tmp_path):
    sd = _small().state_dict()
    sd_missing = dict(sd)
    sd_missing.pop("head.weight")
    _expect_error(
        _small(), _save_raw(tmp_path / "a.safetensors", sd_missing), "missing keys.*head.weight"
    )
    sd_extra = dict(sd, **{"extra.weight": torch.zeros(3)})
    _expect_error(
        _small(), _save_raw(tmp_path / "b.safetensors", sd_extra), "unexpected keys.*extra.weight"
    )


def test_shape_mismatch(tmp_path):
    path = save_weights(
        create_model("student", pretrained=False, **{**_TINY, "widths": (8, 16, 32)}),
        tmp_path / "w.safetensors",
    )
    _expect_error(_small(), path, re.escape("shape (32,") + ".*model has " + re.escape("(24,"))


def test_dtype_mismatch(tmp_path):
    sd = {k: v.clone() for k, v in _small().state_dict().items()}
    sd["head.bias"] = sd["head.bias"].double()
    _expect_error(
        _small(), _save_raw(tmp_path / "w.safetensors", sd), "head.bias: dtype torch.float64"
    )


def test_non_finite_values(tmp_path):
    sd = {k: v.clone() for k, v in _small().state_dict().items()}
    sd["head.bias"][0] = float("nan")
    _expect_error(_small(), _save_raw(tmp_path / "w.safetensors", sd), "head.bias: non-finite")


def test_corrupt_files(tmp_path):
    good = save_weights(_small(), tmp_path / "good.safetensors").read_bytes()
    cases = {
        "empty": b"",
        "garbage": b"\x00\x01not a safetensors file at all" * 10,
        "truncated": good[: len(good) // 2],
        "pickle": b"\x80\x04\x95" + good[3:100],
    }
    for name, data in cases.items():
        p = tmp_path / f"{name}.safetensors"
        p.write_bytes(data)
        _expect_error(_small(), p, "not a readable safetensors")
    # One flipped bit in the tensor data: the header is fine, the digest is not.
    flipped = bytearray(good)
    flipped[-5] ^= 0x10
    p = tmp_path / "flipped.safetensors"
    p.write_bytes(bytes(flipped))
    _expect_error(_small(), p, "corrupt")
    _expect_error(_small(), tmp_path / "nope.safetensors", "does not exist")


def test_package_never_unpickles():
    """No torch.load / pickle anywhere in rawpipe/ (weights are safetensors only)."""
    root = Path(__file__).resolve().parents[2] / "rawpipe"
    patterns = [
        re.compile(r"\btorch\.load\s*\("),
        re.compile(r"^\s*(import|from)\s+(c?pickle|dill|joblib|shelve)\b", re.M),
        re.compile(r"\b(c?pickle|dill|joblib)\.(load|loads|Unpickler)\b"),
        re.compile(r"allow_pickle\s*=\s*True"),
    ]
    sources = sorted(root.rglob("*.py"))
    assert len(sources) > 5
    hits = [
        f"{p.relative_to(root.parent)}: {m.group(0)!r}"
        for p in sources
        for pat in patterns
        for m in pat.finditer(p.read_text(encoding="utf-8"))
    ]
    assert hits == []
