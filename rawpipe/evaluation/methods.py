"""The methods the evaluation compares, each a callable ``method(item) -> (3, H, W)`` tensor.

An *item* is a dict of :func:`rawpipe.data.validation_set` or
:func:`rawpipe.data.flat_dark_patches`: ``mosaic`` ``(1, H, W)`` (normalised RGGB),
``shot``/``read`` ``(4,)``, ``wb`` ``(3,)``, ``cam_to_srgb`` ``(3, 3)`` and, for the LibRaw
baseline, ``black_level``/``white_level`` (DN; the 10-bit validation sensor by default).
Every method returns linear camera RGB without white balance (the ``output="linear"``
contract), so one set of metrics scores them all.

- :class:`EngineMethod`: any engine of :func:`rawpipe.models.create_engine` (student or teacher on
  torch, ONNX Runtime or LiteRT; the classical engine);
- :class:`NetworkMethod`: a JDD network with a chosen inverse VST (the exact unbiased inverse it
  was trained for, or the algebraic one, to show what the inverse does in the dark);
- :class:`LibRawMethod`: LibRaw AHD through rawpy (camera white balance applied before
  demosaicing, as LibRaw does) on a DNG written from the item, optionally followed by OpenCV's
  fastNlMeans on its 8-bit sRGB rendering — the classical baseline of issue 4.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "EngineMethod",
    "LibRawMethod",
    "NetworkMethod",
    "item_noise",
]


def item_noise(item: dict[str, Any]) -> Any:
    """The item's noise as a per-RGGB-channel :class:`rawpipe.noise.NoiseParams`; a noise-free
    item gets the networks' floor :data:`rawpipe.models.jdd.SHOT_FLOOR` (what they use anyway)."""
    from rawpipe.models.jdd import SHOT_FLOOR
    from rawpipe.noise import NoiseParams

    shot = tuple(max(float(v), SHOT_FLOOR) for v in torch.as_tensor(item["shot"]).flatten())
    read = tuple(float(v) for v in torch.as_tensor(item["read"]).flatten())
    return NoiseParams(shot if len(shot) > 1 else shot[0], read if len(read) > 1 else read[0])


class EngineMethod:
    """An engine (``engine(mosaic, wb_gains=, noise=)``) as an evaluation method."""

    def __init__(self, engine: Any, name: str | None = None) -> None:
        self.engine = engine
        self.name = name or getattr(engine, "name", type(engine).__name__)

    def __call__(self, item: dict[str, Any]) -> Tensor:
        mosaic = torch.as_tensor(item["mosaic"], dtype=torch.float32)[None]
        with torch.inference_mode():
            out = self.engine(mosaic, wb_gains=torch.as_tensor(item["wb"]), noise=item_noise(item))
        return out[0].float()

    def __repr__(self) -> str:
        return f"EngineMethod({self.name!r})"


class NetworkMethod(EngineMethod):
    """A JDD network (``student``/``teacher`` or an ``nn.Module``) with inverse VST ``inverse``
    (any method of :func:`rawpipe.noise.inverse_generalized_anscombe`): a
    :class:`rawpipe.models.NetworkEngine` as a method."""

    def __init__(
        self,
        model: str | torch.nn.Module,
        *,
        inverse: str = "exact_unbiased",
        pretrained: Any = True,
        weights: Any = None,
        name: str | None = None,
    ) -> None:
        from rawpipe.models import NetworkEngine, create_model

        if isinstance(model, str):
            label = model
            model = create_model(model, pretrained=pretrained, weights=weights)
        else:
            label = getattr(model, "model_name", type(model).__name__)
        engine = NetworkEngine(model, inverse=inverse)
        self.inverse = inverse
        super().__init__(
            engine, name or (label if inverse == "exact_unbiased" else f"{label} ({inverse})")
        )

    def __repr__(self) -> str:
        return f"NetworkMethod({self.name!r})"


class LibRawMethod:
    """LibRaw AHD (rawpy), camera white balance before demosaicing, linear output; with
    ``nlm_h`` also OpenCV ``fastNlMeansDenoisingColored(h=nlm_h, hColor=nlm_h)`` on the 8-bit sRGB
    rendering (white balance, colour matrix, clipping, sRGB curve), mapped back to linear camera
    RGB through the exact inverses of those steps.

    Notes: LibRaw clips at the white level after white balance, and the 8-bit rendering clips to
    [0, 1]; both are in the metric's domain already (it clips too)."""

    def __init__(self, nlm_h: float | None = None, *, name: str | None = None) -> None:
        self.nlm_h = None if not nlm_h else float(nlm_h)
        self.name = name or ("LibRaw AHD" if self.nlm_h is None else f"AHD + NLM h={nlm_h:g}")

    @staticmethod
    def linear_ahd(item: dict[str, Any]) -> np.ndarray:
        """AHD output, linear camera RGB ``(3, H, W)`` float64 without white balance."""
        import rawpy

        from rawpipe.data import VALIDATION_SENSOR
        from rawpipe.raw import CFAPattern, RawMetadata, write_dng

        black = float(item.get("black_level", VALIDATION_SENSOR.black_level))
        white = float(item.get("white_level", 2**VALIDATION_SENSOR.bits - 1))
        x = torch.as_tensor(item["mosaic"], dtype=torch.float64)[0].numpy()
        dn = np.clip(np.rint(x * (white - black) + black), 0, white).astype(np.uint16)
        wb = np.asarray(torch.as_tensor(item["wb"], dtype=torch.float64))
        md = RawMetadata(
            cfa_pattern=CFAPattern.RGGB,
            black_level=(black,) * 4,
            white_level=white,
            wb_gains=tuple(float(g) for g in wb / wb[1]),
        )
        with tempfile.TemporaryDirectory(prefix="rawpipe-eval-") as d:
            path = write_dng(Path(d) / "item.dng", dn, md)
            with rawpy.imread(str(path)) as r:
                out = r.postprocess(
                    demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD,
                    use_camera_wb=True,
                    no_auto_bright=True,
                    gamma=(1, 1),
                    output_color=rawpy.ColorSpace.raw,
                    output_bps=16,
                    adjust_maximum_thr=0.0,
                    user_flip=0,
                )
                cam_wb = np.asarray(r.camera_whitebalance[:3], dtype=np.float64)
        gains = cam_wb / cam_wb.min()  # LibRaw scales its multipliers to a minimum of 1
        return (out.astype(np.float64) / 65535.0 / gains).transpose(2, 0, 1)

    @staticmethod
    def denoise_nlm(linear: Tensor, wb: Any, cam_to_srgb: Any, h: float) -> Tensor:
        """fastNlMeans (``h`` = ``hColor``) on the 8-bit sRGB rendering of linear camera RGB
        ``(3, H, W)``, mapped back to linear camera RGB (float64)."""
        import cv2

        from rawpipe.color import deprocess, process

        wb = torch.as_tensor(wb, dtype=torch.float64)
        m = torch.as_tensor(cam_to_srgb, dtype=torch.float64)
        srgb = process(linear.double(), wb, m, clip=True)
        u8 = np.clip(np.rint(srgb.numpy().transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)
        bgr = np.ascontiguousarray(u8[..., ::-1])
        den = cv2.fastNlMeansDenoisingColored(bgr, None, float(h), float(h), 7, 21)
        back = torch.from_numpy(den[..., ::-1].astype(np.float64).transpose(2, 0, 1) / 255.0)
        return deprocess(back, wb, m)

    def __call__(self, item: dict[str, Any]) -> Tensor:
        linear = torch.from_numpy(self.linear_ahd(item))
        if self.nlm_h is None:
            return linear.float()
        return self.denoise_nlm(linear, item["wb"], item["cam_to_srgb"], self.nlm_h).float()

    def __repr__(self) -> str:
        return f"LibRawMethod(nlm_h={self.nlm_h})"
