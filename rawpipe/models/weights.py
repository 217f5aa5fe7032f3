"""Model weights as safetensors: atomic save, strict verified load. Never pickle, never torch.load.

A weights file holds a model's ``state_dict()`` (parameters and persistent buffers) plus string
metadata. :func:`save_weights` adds two keys of its own: ``rawpipe.format`` (``"1"``) and
``rawpipe.sha256``, a digest over every tensor's name, dtype, shape and bytes, which
:func:`load_weights` verifies, so flipped bits in tensor data are caught, not only a broken header.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from rawpipe._atomic import atomic_path
from rawpipe.errors import WeightsError

__all__ = ["load_weights", "read_weights_metadata", "save_weights", "tensors_digest"]

FORMAT_VERSION = "1"
_FORMAT_KEY = "rawpipe.format"
_DIGEST_KEY = "rawpipe.sha256"


def tensors_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """sha256 over the sorted ``(name, dtype, shape, raw bytes)`` of ``tensors``."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_weights(
    model: nn.Module,
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
    *,
    overwrite: bool = True,
) -> Path:
    """Write ``model.state_dict()`` to ``path`` (safetensors) atomically; return the path.

    ``metadata`` values must be strings (safetensors' rule); keys starting with ``rawpipe.`` are
    reserved. Raises :class:`rawpipe.OutputExistsError` if ``path`` exists and not ``overwrite``.
    """
    from safetensors.torch import save_file

    meta = dict(metadata or {})
    for k, v in meta.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"weights metadata must map str to str; got {k!r}: {type(v).__name__}")
        if k.startswith("rawpipe."):
            raise ValueError(f"metadata key {k!r} is reserved")
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    meta[_FORMAT_KEY] = FORMAT_VERSION
    meta[_DIGEST_KEY] = tensors_digest(tensors)
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def _read(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except WeightsError:
        raise
    except Exception as e:  # safetensors raises SafetensorError, OSError, ValueError, ...
        raise WeightsError(f"weights file {path} is not a readable safetensors file: {e}") from e
    digest = meta.get(_DIGEST_KEY)
    if digest is not None and tensors_digest(tensors) != digest:
        raise WeightsError(f"weights file {path} is corrupt: tensor data does not match its sha256")
    return tensors, meta


def read_weights_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The metadata of a weights file (after verifying the file, as :func:`load_weights` does)."""
    return _read(path)[1]


def load_weights(model: nn.Module, path: str | os.PathLike[str]) -> dict[str, str]:
    """Load a weights file into ``model`` in place, strictly; return the file's metadata.

    Every key of ``model.state_dict()`` must be present with the same shape and dtype, with no
    extra keys, and every floating-point tensor must be finite; otherwise
    :class:`rawpipe.WeightsError` names the mismatches and ``model`` is left unchanged. A missing,
    truncated or corrupted file also raises :class:`rawpipe.WeightsError`.
    """
    tensors, meta = _read(path)
    expected = model.state_dict()
    problems = []
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    for k in sorted(set(expected) & set(tensors)):
        want, got = expected[k], tensors[k]
        if tuple(got.shape) != tuple(want.shape):
            problems.append(f"{k}: shape {tuple(got.shape)} in file, model has {tuple(want.shape)}")
        elif got.dtype != want.dtype:
            problems.append(f"{k}: dtype {got.dtype} in file, model has {want.dtype}")
        elif got.is_floating_point() and not bool(torch.isfinite(got).all()):
            problems.append(f"{k}: non-finite values")
    if problems:
        raise WeightsError(
            f"weights file {path} does not match {type(model).__name__}: " + "; ".join(problems)
        )
    with torch.no_grad():
        model.load_state_dict(tensors, strict=True)
    return meta
