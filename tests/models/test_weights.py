"""safetensors weights: exact round trip, strict verification, corruption, atomicity."""

from __future__ import annotations

import ast
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


# ----------------------------------------------------------- AST scan (extends the regex scan)

# Call targets that deserialise or execute untrusted data, by fully qualified name.
_UNSAFE_CALLS = {
    "torch.load": "torch.load unpickles",
    "torch.jit.load": "TorchScript archives carry pickled code",
    "torch.serialization.load": "torch.load unpickles",
    "pickle.load": "unpickles",
    "pickle.loads": "unpickles",
    "pickle.Unpickler": "unpickles",
    "_pickle.load": "unpickles",
    "_pickle.loads": "unpickles",
    "cPickle.load": "unpickles",
    "cPickle.loads": "unpickles",
    "dill.load": "unpickles",
    "dill.loads": "unpickles",
    "cloudpickle.load": "unpickles",
    "cloudpickle.loads": "unpickles",
    "joblib.load": "unpickles",
    "shelve.open": "unpickles",
    "marshal.load": "loads code objects",
    "marshal.loads": "loads code objects",
    "pandas.read_pickle": "unpickles",
    "yaml.load": "can construct arbitrary objects",
    "yaml.unsafe_load": "can construct arbitrary objects",
    "yaml.full_load": "can construct arbitrary objects",
    "eval": "executes a string",
    "exec": "executes a string",
    "builtins.eval": "executes a string",
    "builtins.exec": "executes a string",
}
_UNSAFE_MODULES = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "shelve", "marshal"}


def _qualified(node, aliases: dict[str, str]) -> str | None:
    """``np.load`` → ``numpy.load`` through the module's import aliases; None if not a name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    root = aliases.get(node.id, node.id)
    return ".".join([root, *reversed(parts)])


def unsafe_deserialisation(source: str, filename: str = "<src>") -> list[str]:
    """Findings in ``source``: unsafe calls (resolved through import aliases, ``getattr`` with a
    constant name included), imports of pickle-like modules, ``numpy.load`` allowing pickles."""
    tree = ast.parse(source, filename)
    aliases: dict[str, str] = {}
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = (
                    a.name if a.asname else a.name.split(".")[0]
                )
                if a.name.split(".")[0] in _UNSAFE_MODULES:
                    found.append(f"{filename}:{node.lineno}: import {a.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            if node.module.split(".")[0] in _UNSAFE_MODULES:
                found.append(f"{filename}:{node.lineno}: from {node.module} import ...")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _qualified(node.func, aliases)
        if name == "getattr" and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
            base = _qualified(node.args[0], aliases)
            name = f"{base}.{node.args[1].value}" if base else None
        if name in _UNSAFE_CALLS:
            found.append(f"{filename}:{node.lineno}: {name} ({_UNSAFE_CALLS[name]})")
        if name == "yaml.load" and any(
            k.arg == "Loader" and "Safe" in (_qualified(k.value, aliases) or "")
            for k in node.keywords
        ):
            found.pop()  # yaml.load(..., Loader=SafeLoader) is fine
        if name == "numpy.load":
            kw = {k.arg: k.value for k in node.keywords}
            allow = kw.get("allow_pickle", node.args[2] if len(node.args) > 2 else None)
            if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                found.append(f"{filename}:{node.lineno}: numpy.load with allow_pickle")
    return found


def test_ast_scanner_catches_what_it_should():
    """The scanner itself: every way of spelling an unsafe load is found, safe code is not."""
    bad = {
        "import torch\ntorch.load('w.pt')": "torch.load",
        "from torch import load as L\nL('w.pt')": "torch.load",
        "import torch as t\nt.jit.load('m.pt')": "torch.jit.load",
        "import pickle": "import pickle",
        "from pickle import loads": "from pickle",
        "import numpy as np\nnp.load('a.npy', allow_pickle=True)": "allow_pickle",
        "import numpy\nnumpy.load('a.npy', None, True)": "allow_pickle",
        "import numpy as np\nflag = 1\nnp.load('a.npy', allow_pickle=flag)": "allow_pickle",
        "eval('1+1')": "eval",
        "exec(code)": "exec",
        "import builtins\nbuiltins.exec(code)": "builtins.exec",
        "import torch\ngetattr(torch, 'load')('w.pt')": "torch.load",
        "import yaml\nyaml.load(s)": "yaml.load",
        "import marshal\nmarshal.loads(b)": "marshal",
    }
    for src, what in bad.items():
        hits = unsafe_deserialisation(src)
        assert any(what in h for h in hits), (src, hits)
    good = [
        "import numpy as np\nnp.load('a.npy')",
        "import numpy as np\nnp.load('a.npy', allow_pickle=False)",
        "from safetensors.torch import load_file\nload_file('w.safetensors')",
        "import yaml\nyaml.load(s, Loader=yaml.SafeLoader)",
        "# torch.load(x) in a comment\n'''eval(x) in a docstring'''",
        "model.eval()",
        "x = {'load': 1}['load']",
    ]
    for src in good:
        assert unsafe_deserialisation(src) == [], src


def test_package_has_no_unsafe_deserialisation_ast():
    """AST scan of every module in rawpipe/ (not a grep: comments and docstrings do not count,
    aliases and getattr do)."""
    root = Path(__file__).resolve().parents[2] / "rawpipe"
    sources = sorted(root.rglob("*.py"))
    assert len(sources) > 20
    hits = [
        h
        for p in sources
        for h in unsafe_deserialisation(
            p.read_text(encoding="utf-8"), str(p.relative_to(root.parent))
        )
    ]
    assert hits == []
