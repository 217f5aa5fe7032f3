"""Model registry and factory (timm's ``_registry`` / ``_factory``, in spirit).

Builders are registered with :func:`register_model`; :func:`create_model` constructs a model from
its default config (overridden by keyword arguments) *without side effects*, then loads weights:

- ``pretrained=True`` (default): the shipped file ``rawpipe/weights/<name>.safetensors`` must exist,
  else :class:`rawpipe.WeightsError` says so;
- ``pretrained="if_available"``: load the shipped file if there is one, else keep the random init;
- ``pretrained=False``: random init (training from scratch, tests);
- ``weights=<path>``: load that file instead (a checkpoint, a fine-tuned model), whatever
  ``pretrained`` says.

Loading is strict (:func:`rawpipe.models.weights.load_weights`): a config override that changes
the architecture makes the shipped weights fail to load with a ``WeightsError`` naming the
mismatched tensors. Models without the ``"trainable"`` capability (``classical``) have no weights:
``pretrained`` is ignored for them and ``weights=`` is an error.

Capabilities (what the test-suite and tools may do with a model):

- ``"trainable"``: an ``nn.Module`` with parameters; gets backward tests, can be trained and has
  weights files;
- ``"distillable"``: has ``forward_features(x) -> (out, {name: feature})`` and ``feature_channels``;
- ``"exportable"``: uses only ops that the exporters support (ONNX, int8 TFLite, CoreML);
- ``"packed_io"``: follows the network I/O contract of :mod:`rawpipe.models.layers`
  (packed VST-domain ``(N, 4, h, w)`` → ``(N, 12, h, w)``) and has ``total_stride``, ``halo`` and
  ``receptive_field`` attributes.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from rawpipe.errors import RawpipeError, WeightsError

__all__ = [
    "CAPABILITIES",
    "ModelSpec",
    "UnknownModelError",
    "create_model",
    "get_model_spec",
    "list_models",
    "register_model",
    "shipped_weights_path",
]

CAPABILITIES = frozenset({"trainable", "distillable", "exportable", "packed_io"})

# Modules whose import registers built-in models (imported on first registry query).
_BUILTIN_MODULES = ("rawpipe.models.student", "rawpipe.models.teacher")

F = TypeVar("F", bound=Callable[..., Any])


class UnknownModelError(RawpipeError, ValueError):
    """No model of that name is registered (or its implementation is not installed)."""


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: builder, capabilities and default config."""

    name: str
    builder: Callable[..., Any]
    capabilities: frozenset[str]
    default_config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    description: str = ""
    requires: str | None = None
    """Module that must be importable for the model to be available (lazy registrations)."""

    @property
    def available(self) -> bool:
        if self.requires is None:
            return True
        try:
            return importlib.util.find_spec(self.requires) is not None
        except ImportError:
            return False


_REGISTRY: dict[str, ModelSpec] = {}
_builtins_loaded = False


def _add(spec: ModelSpec) -> None:
    unknown = spec.capabilities - CAPABILITIES
    if unknown:
        raise ValueError(f"unknown capabilities {sorted(unknown)}; known: {sorted(CAPABILITIES)}")
    if spec.name in _REGISTRY and _REGISTRY[spec.name].builder is not spec.builder:
        raise ValueError(f"a model named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec


def register_model(
    name: str | None = None,
    *,
    capabilities: Iterable[str] = (),
    default_config: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> Callable[[F], F]:
    """Decorator registering a builder ``fn(**config) -> model`` under ``name`` (default: its
    ``__name__``). The builder must not load weights or touch files; :func:`create_model` does."""

    def deco(fn: F) -> F:
        doc = (fn.__doc__ or "").strip().splitlines()
        _add(
            ModelSpec(
                name=name or fn.__name__,
                builder=fn,
                capabilities=frozenset(capabilities),
                default_config=MappingProxyType(dict(default_config or {})),
                description=description if description is not None else (doc[0] if doc else ""),
            )
        )
        return fn

    return deco


def _build_classical(**config: Any) -> Any:
    from rawpipe.models.classical import ClassicalEngine

    return ClassicalEngine(**config)


# The classical engine lives in rawpipe/models/classical.py (written separately); it is registered
# here, lazily, and listed only when that module exists.
_add(
    ModelSpec(
        name="classical",
        builder=_build_classical,
        capabilities=frozenset(),
        description="classical demosaicing + denoising engine (no learned weights)",
        requires="rawpipe.models.classical",
    )
)


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        for mod in _BUILTIN_MODULES:
            importlib.import_module(mod)
        _builtins_loaded = True


def list_models(capability: str | None = None) -> list[str]:
    """Sorted names of the available models, optionally only those with ``capability``."""
    _load_builtins()
    if capability is not None and capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}; known: {sorted(CAPABILITIES)}")
    return sorted(
        n
        for n, s in _REGISTRY.items()
        if s.available and (capability is None or capability in s.capabilities)
    )


def get_model_spec(name: str) -> ModelSpec:
    """The registration of ``name``; :class:`UnknownModelError` if there is none."""
    _load_builtins()
    spec = _REGISTRY.get(name)
    if spec is None or not spec.available:
        raise UnknownModelError(f"unknown model {name!r}; available: {list_models()}")
    return spec


def shipped_weights_path(name: str) -> Path:
    """Where the package keeps the weights of ``name`` (the file may not exist yet)."""
    return Path(__file__).resolve().parent.parent / "weights" / f"{name}.safetensors"


def create_model(
    name: str,
    pretrained: bool | Literal["if_available"] = True,
    *,
    weights: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> Any:
    """Build model ``name`` with its default config updated by ``kwargs``, then load weights.

    See the module docstring for ``pretrained`` / ``weights``. The returned model carries
    ``model_name``, ``model_config`` (the full config used) and ``weights_metadata`` (the loaded
    file's metadata, or ``None``).

    >>> m = create_model("student", pretrained=False)
    >>> m.model_name, m.total_stride
    ('student', 8)
    """
    if pretrained not in (True, False, "if_available"):
        raise ValueError(f"pretrained must be True, False or 'if_available', got {pretrained!r}")
    spec = get_model_spec(name)
    config = {**spec.default_config, **kwargs}
    model = spec.builder(**config)
    metadata: dict[str, str] | None = None
    has_weights = "trainable" in spec.capabilities
    if weights is not None:
        if not has_weights:
            raise WeightsError(f"model {name!r} has no learned weights; do not pass weights=")
        from rawpipe.models.weights import load_weights

        metadata = load_weights(model, weights)
    elif pretrained and has_weights:
        path = shipped_weights_path(name)
        if path.is_file():
            from rawpipe.models.weights import load_weights

            metadata = load_weights(model, path)
        elif pretrained is True:
            raise WeightsError(
                f"no shipped weights for model {name!r} (expected {path}). Pass pretrained=False "
                "for a random initialisation, pretrained='if_available' to fall back to one, "
                "or weights=<file.safetensors>."
            )
    for attr, value in (
        ("model_name", name),
        ("model_config", dict(config)),
        ("weights_metadata", metadata),
    ):
        try:
            setattr(model, attr, value)
        except AttributeError:  # e.g. a frozen/slotted engine: nothing to annotate
            pass
    return model
