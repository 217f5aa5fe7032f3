"""JDD models: a registry with ``create_model`` (timm-style), the student and teacher networks,
export-safe layers, weights I/O (safetensors only) and a MAC counter.

>>> from rawpipe.models import create_model, list_models
>>> "student" in list_models()
True
>>> net = create_model("student", pretrained=False)  # weights are loaded after construction
"""

from __future__ import annotations

from rawpipe.models.engine import NetworkEngine, create_engine
from rawpipe.models.jdd import JDDNet
from rawpipe.models.layers import depth_to_space, space_to_depth
from rawpipe.models.macs import count_macs, count_parameters, macs_per_output_megapixel
from rawpipe.models.registry import (
    CAPABILITIES,
    ModelSpec,
    UnknownModelError,
    create_model,
    get_model_spec,
    list_models,
    register_model,
    shipped_weights_path,
)
from rawpipe.models.student import (
    ALLOWED_ATEN_OPS,
    ALLOWED_CONTAINERS,
    ALLOWED_MODULES,
    StudentNet,
    check_student_ops,
    find_forbidden_ops,
)
from rawpipe.models.teacher import TeacherNet
from rawpipe.models.weights import load_weights, read_weights_metadata, save_weights

__all__ = [
    "ALLOWED_ATEN_OPS",
    "ALLOWED_CONTAINERS",
    "ALLOWED_MODULES",
    "CAPABILITIES",
    "JDDNet",
    "ModelSpec",
    "NetworkEngine",
    "StudentNet",
    "TeacherNet",
    "UnknownModelError",
    "check_student_ops",
    "count_macs",
    "count_parameters",
    "create_engine",
    "create_model",
    "depth_to_space",
    "find_forbidden_ops",
    "get_model_spec",
    "list_models",
    "load_weights",
    "macs_per_output_megapixel",
    "read_weights_metadata",
    "register_model",
    "save_weights",
    "shipped_weights_path",
    "space_to_depth",
]
