"""demosaicnet (Gharbi et al., SIGGRAPH Asia 2016; PyPI ``demosaicnet``) as a noise-free baseline.

Its shipped Bayer weights are a pickle (``data/bayer.pth``). They are converted once, with
``torch.load(weights_only=True)`` (tensors only, no code), to safetensors in
``$RAWPIPE_CACHE/baselines/`` and loaded from there; rawpipe itself never unpickles anything.

The network saw sRGB-domain mosaics in training, so it is fed the sRGB-domain mosaic of the
same ground truth (``item["srgb"]``) with its GRBG phase, padded by an even amount (32 px, by
reflection) so that its unpadded convolutions keep the CFA phase, and scored in that domain.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any

import torch

PAD = 32  # even: keeps the CFA phase; the network trims 62 px (31 per side)


def _import_modules() -> Any:
    """``demosaicnet.modules`` (its ``pkg_resources`` import is gone from new setuptools: shim)."""
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            shim = types.ModuleType("pkg_resources")

            def resource_filename(package: str, name: str) -> str:
                import importlib.util

                spec = importlib.util.find_spec(package.rsplit(".", 1)[0])
                return str(Path(spec.origin).parent / name)

            shim.resource_filename = resource_filename  # type: ignore[attr-defined]
            sys.modules["pkg_resources"] = shim
    import demosaicnet.modules

    return demosaicnet.modules


def converted_weights() -> Path:
    """The Bayer weights as safetensors (converted on first use)."""
    from safetensors.torch import save_file

    base = os.environ.get("RAWPIPE_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "rawpipe"
    )
    out = Path(base) / "baselines" / "demosaicnet_bayer.safetensors"
    if out.is_file():
        return out
    modules = _import_modules()
    src = Path(modules.__file__).parent / "data" / "bayer.pth"
    state = torch.load(src, map_location="cpu", weights_only=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
    os.replace(tmp, out)
    return out


def load_demosaicnet() -> torch.nn.Module:
    from safetensors.torch import load_file

    net = _import_modules().BayerDemosaick(pretrained=False)
    net.load_state_dict(load_file(str(converted_weights())), strict=True)
    return net.eval()


def grbg_mask(h: int, w: int) -> torch.Tensor:
    m = torch.zeros(3, h, w)
    m[1, 0::2, 0::2] = 1
    m[0, 0::2, 1::2] = 1
    m[2, 1::2, 0::2] = 1
    m[1, 1::2, 1::2] = 1
    return m


def demosaic_srgb(net: torch.nn.Module, srgb: torch.Tensor) -> torch.Tensor:
    """sRGB ground truth ``(3, H, W)`` → GRBG mosaic → demosaicnet → ``(3, H, W)``."""
    h, w = srgb.shape[-2:]
    x = torch.nn.functional.pad(srgb[None].float(), (PAD, PAD, PAD, PAD), mode="reflect")
    x = x * grbg_mask(*x.shape[-2:])
    with torch.inference_mode():
        y = net(x)[0]
    dy, dx = (y.shape[-2] - h) // 2, (y.shape[-1] - w) // 2
    return y[:, dy : dy + h, dx : dx + w]


def srgb_cpsnr(pred: torch.Tensor, ref: torch.Tensor, border: int = 10) -> float:
    sl = (slice(None), slice(border, -border), slice(border, -border))
    mse = float((pred.double().clamp(0, 1)[sl] - ref.double()[sl]).pow(2).mean())
    return -10.0 * float(torch.log10(torch.tensor(mse)))
