"""Final weights and model card of a training run.

``<out_dir>/final.safetensors`` (the network's ``state_dict``, via
:func:`rawpipe.models.save_weights`, with the run's config and training target as metadata) and
``<out_dir>/MODEL_CARD.md``; with ``TrainConfig.export_name`` also
``rawpipe/weights/<export_name>.safetensors`` and ``<export_name>.md`` (or ``export_dir``), which is
what ``create_model(name, pretrained=True)`` loads.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from rawpipe._atomic import atomic_write_bytes

__all__ = ["TRAINING_TARGET", "export_trained", "hardware_description", "model_card"]

TRAINING_TARGET = (
    "VST domain: the network output (generalized Anscombe domain, per RGGB channel with its own "
    "(a, b), a floored at 1e-5) is trained with L1 towards T(y) = E[f(z) | y] of the clean target "
    "y "
    "(the quantity the exact unbiased inverse of Mäkitalo & Foi inverts; weight w_vst), plus L1 "
    "after that inverse on white-balanced, colour-corrected values through the unclamped sRGB "
    "curve (weight w_rgb)."
)


def hardware_description(device: torch.device | str, world: int = 1) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        what = torch.cuda.get_device_name(device)
    else:
        what = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    what = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        what = f"{what}, {torch.get_num_threads()} torch threads ({os.cpu_count()} cores visible)"
    return f"{world} × {what} (torch {torch.__version__})"


def _fmt(v: Any, digits: int = 2) -> str:
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def model_card(
    name: str,
    config: Mapping[str, Any],
    *,
    params: int,
    gmac_per_mp: float,
    steps: int,
    hardware: str,
    train_hours: float,
    steps_per_s: float,
    validation: Mapping[str, Mapping[str, float]],
    skipped: int = 0,
    rollbacks: int = 0,
    sha256: str = "",
) -> str:
    """Markdown model card (data, training, hardware, measured numbers)."""
    cfg = dict(config)
    lines = [
        f"# Model card: `{name}`",
        "",
        f"Architecture: registered model `{cfg['model']}` with overrides "
        f"`{json.dumps(cfg.get('model_kwargs', {}))}`; {params:,} parameters; "
        f"{gmac_per_mp:.3f} GMAC per output megapixel (packed RGGB in, 12 channels out, "
        "depth-to-space and VST on the host).",
        "",
        "## Training target",
        "",
        TRAINING_TARGET,
        "",
        f"Loss weights: w_vst={cfg['w_vst']}, w_rgb={cfg['w_rgb']}"
        + (
            f", w_kd_out={cfg['w_kd_out']}, w_kd_feat={cfg['w_kd_feat']} "
            f"(distilled from `{cfg['teacher']}`"
            + (f", weights `{cfg['teacher_weights']}`" if cfg.get("teacher_weights") else "")
            + ")"
            if cfg.get("teacher")
            else " (no distillation)"
        ),
        "",
        "## Data",
        "",
        (
            "Synthetic pairs (`rawpipe.data.SyntheticPairs`): clean photographs of the offline set "
            "(../shared/DATA.md), downscaled with area averaging, unprocessed (Brooks et al. 2019) "
            "to clean linear camera RGB (target), mosaicked with a random CFA phase, "
            "Poisson-Gaussian noise added; training split only (validation photos held out by "
            "photo)."
            if cfg.get("dataset", "synthetic") == "synthetic"
            else "Procedural toy pairs (`rawpipe.train.toy.ToyPairs`): a smoke-test run, not a "
            "model to use."
        )
        + f" Options: `{json.dumps(cfg.get('data', {}), sort_keys=True)}`; seed {cfg['seed']}.",
        "",
        "## Training",
        "",
        f"- steps: {steps} (batch {cfg['batch']} per process × {cfg['patch']}² patches), "
        f"AdamW lr {cfg['lr']} (warm-up {cfg['warmup']}, cosine to {cfg['min_lr']}), "
        f"grad clip {cfg['grad_clip']}",
        f"- skipped steps (spike guard): {skipped}; rollbacks: {rollbacks}",
        f"- hardware: {hardware}",
        f"- training time: {train_hours:.2f} h ({steps_per_s:.2f} steps/s)",
        f"- date: {_dt.date.today().isoformat()}",
        "",
        "## Validation (fixed validation split)",
        "",
        "CPSNR in dB after white balance, camera→sRGB matrix, clipping and the sRGB curve, "
        "10 px border excluded.",
        "",
        "| level | CPSNR (dB) | images |",
        "|---|---|---|",
    ]
    for level, r in validation.items():
        lines.append(f"| {level} | {_fmt(float(r['cpsnr']))} | {_fmt(r.get('images', ''))} |")
    if not validation:
        lines.append("| (not measured) | | |")
    if sha256:
        lines += ["", f"Weights sha256 (tensor digest): `{sha256}`"]
    return "\n".join(lines) + "\n"


def export_trained(trainer: Any, summary: Mapping[str, Any]) -> dict[str, Any]:
    """Write the final weights and model card(s) of ``trainer``; return the paths."""
    from rawpipe.models import macs_per_output_megapixel, save_weights
    from rawpipe.models.registry import shipped_weights_path
    from rawpipe.models.weights import read_weights_metadata

    cfg = trainer.config
    net = trainer.task.model.net
    was_training = net.training
    net.eval()
    try:
        s = int(getattr(net, "total_stride", 8))
        gmac = macs_per_output_megapixel(net, (8 * s, 8 * s)) / 1e9
    finally:
        net.train(was_training)
    params = sum(p.numel() for p in net.parameters())
    validation = {k: dict(v) for k, v in (summary.get("validation") or {}).items()}
    metadata = {
        "model": cfg.model,
        "model_kwargs": json.dumps(dict(cfg.model_kwargs), sort_keys=True),
        "training_target": TRAINING_TARGET,
        "steps": str(trainer.step),
        "config": cfg.to_json(indent=None),
        "validation": json.dumps(validation, sort_keys=True),
    }
    out_dir = Path(cfg.out_dir)
    final = save_weights(net, out_dir / "final.safetensors", metadata)
    sha = read_weights_metadata(final).get("rawpipe.sha256", "")
    elapsed = float(getattr(trainer, "elapsed", 0.0))
    card = model_card(
        cfg.export_name or cfg.model,
        cfg.to_dict(),
        params=params,
        gmac_per_mp=gmac,
        steps=trainer.step,
        hardware=hardware_description(trainer.device, trainer.dist.world),
        train_hours=elapsed / 3600.0,
        steps_per_s=trainer.step / elapsed if elapsed > 0 else float("nan"),
        validation=validation,
        skipped=trainer.guard.skipped,
        rollbacks=trainer.guard.rollbacks,
        sha256=sha,
    )
    atomic_write_bytes(out_dir / "MODEL_CARD.md", card.encode())
    result: dict[str, Any] = {"final_weights": final, "model_card": out_dir / "MODEL_CARD.md"}
    if cfg.export_name:
        if cfg.export_dir:
            wpath = Path(cfg.export_dir) / f"{cfg.export_name}.safetensors"
        else:
            wpath = shipped_weights_path(cfg.export_name)
        save_weights(net, wpath, metadata)
        atomic_write_bytes(wpath.with_suffix(".md"), card.encode())
        result["exported_weights"] = wpath
        result["exported_card"] = wpath.with_suffix(".md")
    return result
