"""Training checkpoints without pickle: one safetensors file per checkpoint, written atomically.

A checkpoint ``<dir>/step_<NNNNNNN>.safetensors`` holds

- tensors: ``model.<key>`` (everything trainable: the network and, when distilling, the feature
  adapters), ``optim.<param index>.<state key>`` (AdamW's ``exp_avg``, ``exp_avg_sq``, ``step``),
  ``rng.torch``, ``rng.cuda.<device>``, ``rng.numpy``, ``rng.python`` (RNG states as tensors);
- metadata ``rawpipe.checkpoint``: one JSON document with the step, the optimiser's param groups
  and the JSON index of its state (which tensor is which, plus any non-tensor values), the
  scheduler, the spike guard, the data position, the remaining RNG fields and the run's config;
- metadata ``rawpipe.sha256``: a digest over all tensors, verified on load.

The file is written through :func:`rawpipe._atomic.atomic_path` (temporary file + rename), then
``latest.json`` is replaced atomically to point at it: a crash at any moment leaves the previous
checkpoint and pointer intact (at worst a hidden ``.step_*.tmp.safetensors`` is left behind, which
nothing reads). Nothing here calls ``torch.load``.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rawpipe._atomic import atomic_path, atomic_write_bytes
from rawpipe.errors import RawpipeError

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "capture_rng",
    "checkpoint_path",
    "find_latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "optimizer_from_tensors",
    "optimizer_to_tensors",
    "restore_rng",
    "save_checkpoint",
]

_STATE_KEY = "rawpipe.checkpoint"
_DIGEST_KEY = "rawpipe.sha256"
_NAME = re.compile(r"^step_(\d+)\.safetensors$")
LATEST = "latest.json"


class CheckpointError(RawpipeError):
    """A checkpoint is missing, unreadable, corrupt or does not fit the run."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: ``tensors`` by name and the JSON ``state``."""

    path: Path
    tensors: dict[str, torch.Tensor]
    state: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.state["step"])

    def group(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors whose name starts with ``prefix + "."``, with the prefix removed."""
        p = prefix + "."
        return {k[len(p) :]: v for k, v in self.tensors.items() if k.startswith(p)}


def checkpoint_path(directory: str | os.PathLike[str], step: int) -> Path:
    return Path(directory) / f"step_{step:07d}.safetensors"


# ------------------------------------------------------------------------------------------------
# optimiser state <-> tensors + JSON index


def optimizer_to_tensors(
    state_dict: Mapping[str, Any],
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors ``{"<idx>.<key>": t}`` and a JSON index."""
    tensors: dict[str, torch.Tensor] = {}
    index: dict[str, Any] = {"state": {}, "param_groups": []}
    for pid, pstate in state_dict["state"].items():
        entry: dict[str, Any] = {}
        for k, v in pstate.items():
            if isinstance(v, torch.Tensor):
                name = f"{pid}.{k}"
                tensors[name] = v
                entry[k] = {"tensor": name}
            else:
                entry[k] = {"value": v}
        index["state"][str(pid)] = entry
    for group in state_dict["param_groups"]:
        g = {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items()}
        g["_tuples"] = sorted(k for k, v in group.items() if isinstance(v, tuple))
        index["param_groups"].append(g)
    return tensors, index


def optimizer_from_tensors(
    tensors: Mapping[str, torch.Tensor], index: Mapping[str, Any]
) -> dict[str, Any]:
    """Inverse of :func:`optimizer_to_tensors`: a dict for ``optimizer.load_state_dict``."""
    state: dict[int, dict[str, Any]] = {}
    for pid, entry in index["state"].items():
        s: dict[str, Any] = {}
        for k, ref in entry.items():
            if "tensor" in ref:
                if ref["tensor"] not in tensors:
                    raise CheckpointError(f"optimizer tensor {ref['tensor']!r} is missing")
                s[k] = tensors[ref["tensor"]]
            else:
                s[k] = ref["value"]
        state[int(pid)] = s
    groups = []
    for g in index["param_groups"]:
        g = dict(g)
        tuples = g.pop("_tuples", [])
        for k in tuples:
            g[k] = tuple(g[k])
        groups.append(g)
    return {"state": state, "param_groups": groups}


# ------------------------------------------------------------------------------------------------
# RNG states as tensors


def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The torch (CPU and CUDA), numpy-global and python RNG states as tensors + JSON scalars."""
    tensors = {"torch": torch.get_rng_state().clone()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = s.clone()
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002 (the legacy global state)
    tensors["numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, py_state, py_gauss = random.getstate()
    tensors["python"] = torch.tensor(py_state, dtype=torch.int64)
    extra = {
        "numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "gauss": gauss},
        "python": {"version": version, "gauss": py_gauss},
    }
    return tensors, extra


def restore_rng(tensors: Mapping[str, torch.Tensor], extra: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng` (CUDA states are restored where the devices exist)."""
    torch.set_rng_state(tensors["torch"].to(torch.uint8))
    cuda = sorted((int(k.split(".")[1]), v) for k, v in tensors.items() if k.startswith("cuda."))
    if cuda and torch.cuda.is_available():
        n = torch.cuda.device_count()
        for i, s in cuda:
            if i < n:
                torch.cuda.set_rng_state(s.to(torch.uint8), device=i)
    npx = extra["numpy"]
    np.random.set_state(  # noqa: NPY002 (the legacy global state)
        (
            npx["kind"],
            tensors["numpy"].numpy().astype(np.uint32),
            npx["pos"],
            npx["has_gauss"],
            npx["gauss"],
        )
    )
    pyx = extra["python"]
    random.setstate(
        (pyx["version"], tuple(int(v) for v in tensors["python"].tolist()), pyx["gauss"])
    )


# ------------------------------------------------------------------------------------------------
# save / load


def save_checkpoint(
    directory: str | os.PathLike[str],
    step: int,
    tensors: Mapping[str, Mapping[str, torch.Tensor]],
    state: Mapping[str, Any],
    *,
    keep: int | None = None,
) -> Path:
    """Write ``tensors`` (groups: ``{"model": {...}, "optim": {...}, "rng": {...}}``) and the JSON
    ``state`` as checkpoint ``step`` in ``directory``, atomically; then point ``latest.json`` at it
    and delete all but the newest ``keep`` checkpoints. Returns the checkpoint's path."""
    from safetensors.torch import save_file

    from rawpipe.models.weights import tensors_digest

    flat: dict[str, torch.Tensor] = {}
    for group, ts in tensors.items():
        for k, v in ts.items():
            flat[f"{group}.{k}"] = v.detach().cpu().contiguous().clone()
    doc = dict(state)
    doc["step"] = int(step)
    meta = {_STATE_KEY: json.dumps(doc, sort_keys=True), _DIGEST_KEY: tensors_digest(flat)}
    path = checkpoint_path(directory, step)
    with atomic_path(path) as tmp:
        save_file(flat, str(tmp), metadata=meta)
    pointer = json.dumps({"step": int(step), "file": path.name}, sort_keys=True).encode()
    atomic_write_bytes(Path(directory) / LATEST, pointer)
    if keep is not None and keep > 0:
        for old in list_checkpoints(directory)[:-keep]:
            if old != path:
                old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and verify a checkpoint file (:class:`CheckpointError` if it is not a sound one)."""
    from safetensors import safe_open

    from rawpipe.models.weights import tensors_digest

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # SafetensorError, OSError, ...
        raise CheckpointError(f"checkpoint {path} is not a readable safetensors file: {e}") from e
    if _STATE_KEY not in meta:
        raise CheckpointError(f"{path} is not a rawpipe training checkpoint (no {_STATE_KEY})")
    if tensors_digest(tensors) != meta.get(_DIGEST_KEY):
        raise CheckpointError(
            f"checkpoint {path} is corrupt: tensor data does not match its sha256"
        )
    try:
        state = json.loads(meta[_STATE_KEY])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"checkpoint {path}: unreadable state JSON: {e}") from e
    return Checkpoint(path=path, tensors=tensors, state=state)


def list_checkpoints(directory: str | os.PathLike[str]) -> list[Path]:
    """Checkpoint files in ``directory``, oldest step first (temporary files are ignored)."""
    d = Path(directory)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def find_latest_checkpoint(directory: str | os.PathLike[str]) -> Path | None:
    """The checkpoint ``latest.json`` points at if it loads, else the newest one that loads."""
    d = Path(directory)
    candidates: list[Path] = []
    try:
        pointer = json.loads((d / LATEST).read_text())
        candidates.append(d / str(pointer["file"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    candidates += list(reversed(list_checkpoints(d)))
    for p in candidates:
        try:
            load_checkpoint(p)
        except CheckpointError:
            continue
        return p
    return None
