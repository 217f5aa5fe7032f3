"""Network engines: a JDD network behind the pipeline's ``Engine`` interface.

``create_engine("student" | "teacher", backend="torch")`` gives a :class:`NetworkEngine` that
``rawpipe.pipeline.process_raw`` tiles over the image. The engine runs exactly the host-side
steps of :mod:`rawpipe.models.jdd` around the network; other backends (ONNX Runtime, LiteRT)
will swap only the network call.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import torch
from torch import Tensor

from rawpipe._check import check_shape
from rawpipe.models.jdd import INVERSE_METHOD, JDDNet, noise_tensors, pad_to_multiple

__all__ = ["BACKENDS", "NetworkEngine", "create_engine"]

BACKENDS = ("torch", "onnx", "tflite")


class NetworkEngine:
    """A JDD network as an engine: ``engine(mosaic (N,1,H,W), *, wb_gains, noise) -> (N,3,H,W)``.

    ``mosaic`` is a normalised RGGB mosaic (H, W even); ``noise`` a ``NoiseParams`` (floats or
    4-tuples per RGGB channel, normalised units) — required (``needs_noise = True``). The output
    is linear camera RGB without white balance, not clipped. ``wb_gains`` is accepted for the
    interface and not used: the network works on unbalanced camera RGB. ``inverse`` picks the
    inverse VST (default: the exact unbiased one the networks are trained for; others are for
    comparisons, see :class:`rawpipe.evaluation.NetworkMethod`).

    Inputs whose size is not a multiple of ``alignment`` are padded (mirrored 2×2 cells) and the
    result cropped back. Attributes in raw pixels: ``alignment`` = 2·total_stride,
    ``receptive_field`` = 2·(network receptive field in packed pixels) + 1.
    """

    needs_noise = True
    default_tile = 2048
    """Tile edge (raw pixels) ``process_raw`` uses by default: the receptive-field margin (160 raw
    pixels per side for the student) is discarded, so small tiles would redo most of the work."""

    def __init__(
        self,
        net: torch.nn.Module | JDDNet,
        *,
        device: str | torch.device | None = None,
        inverse: str = INVERSE_METHOD,
    ):
        from rawpipe.noise import INVERSE_METHODS

        if inverse not in INVERSE_METHODS:
            raise ValueError(f"inverse must be one of {INVERSE_METHODS}, got {inverse!r}")
        self.inverse = inverse
        jdd = net if isinstance(net, JDDNet) else JDDNet(net)
        if device is not None:
            jdd = jdd.to(device)
        self.jdd = jdd.eval()
        self.name = getattr(jdd.net, "model_name", type(jdd.net).__name__)
        self.alignment = jdd.alignment
        self.receptive_field = jdd.receptive_field

    @property
    def device(self) -> torch.device:
        p = next(iter(self.jdd.parameters()), None)
        return p.device if p is not None else torch.device("cpu")

    def __call__(self, mosaic: Tensor, *, wb_gains: Any = None, noise: Any = None) -> Tensor:
        if noise is None:
            raise ValueError(f"engine {self.name!r} needs noise parameters (NoiseParams)")
        check_shape(mosaic, ["N", "1", "H", "W"], "mosaic")
        shot, read = noise_tensors(
            _field(noise, "shot"), _field(noise, "read"), mosaic.shape[0], device=self.device
        )
        x = mosaic.to(self.device, torch.float32)
        x, (h, w) = pad_to_multiple(x, self.alignment)
        with torch.inference_mode():
            vst = self.jdd.forward_vst(x, shot, read)
            y = self.jdd.postprocess(vst, shot, read, inverse=self.inverse)
        return y[..., :h, :w].to(mosaic.device)

    def __repr__(self) -> str:
        return (
            f"NetworkEngine({self.name!r}, alignment={self.alignment}, "
            f"receptive_field={self.receptive_field})"
        )


def _field(noise: Any, name: str) -> Any:
    v = getattr(noise, name, None)
    if v is None:
        raise TypeError(f"noise must be a NoiseParams (with .shot and .read), got {noise!r}")
    return v


def create_engine(
    name: str,
    backend: Literal["torch", "onnx", "tflite"] = "torch",
    *,
    pretrained: bool | Literal["if_available"] = True,
    weights: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
    **model_kwargs: Any,
) -> Any:
    """The engine of registered model ``name`` on ``backend``.

    ``"classical"`` gives the classical engine (torch only). Networks get their shipped weights
    (``pretrained``/``weights`` as in :func:`rawpipe.models.create_model`).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "onnx":
        from rawpipe.export.runtime import onnx_engine

        return onnx_engine(name, pretrained=pretrained, weights=weights, **model_kwargs)
    if backend == "tflite":
        from rawpipe.export.runtime import tflite_engine

        return tflite_engine(name, pretrained=pretrained, weights=weights, **model_kwargs)
    from rawpipe.models.registry import create_model, get_model_spec

    spec = get_model_spec(name)
    if "packed_io" not in spec.capabilities:
        return create_model(name, pretrained=pretrained, weights=weights, **model_kwargs)
    net = create_model(name, pretrained=pretrained, weights=weights, **model_kwargs)
    return NetworkEngine(net, device=device)
