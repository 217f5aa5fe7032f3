"""Probe quantisation-aware fine-tuning (QAT) of the student for one Android noise bucket.

Issue 5 asks for QAT where post-training quantisation (PTQ) misses the int8 quality limits.
This script measures, on held-out synthetic tiles of one bucket, PSNR against the clean target
(after the inverse VST, on a 1/2.2 power curve) for:

- the fp32 student;
- PTQ (litert-torch's PT2E quantizer, as ``make export-android``);
- QAT (``prepare_qat_pt2e``, a few hundred Adam steps, ``convert_pt2e``): the fake-quant graph
  is trained at batch ``--batch`` on small tiles. Its state then goes to a batch-1 graph by
  ``load_state_dict(strict=True)``, which is how a full-tile graph would get it;
- ``--mode float``: the same fine-tuning without fake quantisation (a control: how much of a QAT
  gain is only extra training on the bucket).

Loss modes: ``target`` (L1 to the VST-domain training target) or ``self`` (L1 to the fp32
student's own output: recover fp32 behaviour). ``--freeze`` fixes the quantisation ranges after
an observer warm-up pass (only weights adapt).

Findings are in the issue-5 notes. Example::

    python scripts/qat_probe.py --bucket 0 --steps 1000 --lr 1e-5 --mode target --freeze

litert-torch's QAT annotators for conv + batch norm fail on this torch/torchao
(``torch.export`` of a function); the student has no batch norm, so those patterns are dropped.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import time

import numpy as np
import torch


def _samples(recipe, bucket, tile, index, n, seed):
    """Calibration-style synthetic raws of ``bucket`` with their clean targets."""
    import rawpipe.data.synthetic as synthetic
    from rawpipe.export.calibration import calibration_samples

    targets = []
    make_raw = synthetic.make_raw

    def capture(*a, **k):
        r = make_raw(*a, **k)
        targets.append(r.target)
        return r

    synthetic.make_raw = capture  # calibration_samples keeps only mosaic/shot/read
    try:
        rec = dataclasses.replace(recipe, tiles_per_bucket=n, seed=seed)
        out = calibration_samples(rec, bucket, (2 * tile, 2 * tile), bucket_index=index)
    finally:
        synthetic.make_raw = make_raw
    for o, t in zip(out, targets, strict=True):
        o["target"] = t[..., : 2 * tile, : 2 * tile]
    return out


def _ranges_from_ptq(qat_model, net, calibration, quantizer) -> int:
    """Copy PTQ's activation ranges (histogram observers, calibrated as the export does) into
    the fake-quant modules of the same name; weight fake-quants keep their own. Returns how many
    were copied."""
    from litert_torch.quantize.pt2e_quantizer import (
        PT2EQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    from rawpipe.export.tflite import export_strict

    ptq_q = PT2EQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
    )
    prepared = prepare_pt2e(export_strict(net, calibration[0]), ptq_q)
    with torch.no_grad():
        for x in calibration:
            prepared(x)
    observers = dict(prepared.named_modules())
    copied = 0
    for name, fq in qat_model.named_modules():
        obs = observers.get(name)
        if obs is None or not hasattr(fq, "scale") or not hasattr(obs, "calculate_qparams"):
            continue
        scale, zp = obs.calculate_qparams()
        inner = getattr(fq, "activation_post_process", None)
        if fq.scale.shape != scale.shape or inner is None or scale.numel() != 1:
            continue  # per-channel weights keep the QAT module's own ranges
        fq.scale.copy_(scale)
        fq.zero_point.copy_(zp)
        # convert_pt2e recomputes qparams from the inner observer's min/max: give it the range
        # the PTQ scale and zero point stand for.
        qmin, qmax = int(obs.quant_min), int(obs.quant_max)
        inner.min_val.copy_(((qmin - zp.float()) * scale).reshape(inner.min_val.shape))
        inner.max_val.copy_(((qmax - zp.float()) * scale).reshape(inner.max_val.shape))
        copied += 1
    print(f"  ranges copied from PTQ: {copied}", flush=True)
    return copied


def main() -> int:
    from litert_torch.quantize.pt2e_quantizer import (
        PT2EQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e import move_exported_model_to_eval, move_exported_model_to_train
    from torchao.quantization.pt2e.fake_quantize import disable_observer
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e

    from rawpipe.export.calibration import load_recipe
    from rawpipe.export.targets import load_target
    from rawpipe.export.tflite import export_strict, quantize_pt2e
    from rawpipe.models import create_model
    from rawpipe.models.jdd import jdd_postprocess, jdd_preprocess, noise_tensors, vst_target

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bucket", type=int, default=0, help="index of the Android noise bucket")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--tile", type=int, default=64, help="packed training tile")
    p.add_argument("--mode", choices=["target", "self", "float"], default="target")
    p.add_argument("--freeze", action="store_true", help="fix ranges after the warm-up")
    p.add_argument(
        "--init",
        choices=["warmup", "ptq"],
        default="warmup",
        help="activation ranges: a moving-average warm-up pass, or PTQ's histogram observers",
    )
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    target = load_target("android")
    recipe = load_recipe(target.calibration_path())
    bucket = target.buckets[args.bucket]
    net = create_model("student").eval()
    train = _samples(recipe, bucket, args.tile, args.bucket, 256, recipe.seed + 1000)
    held = _samples(recipe, bucket, args.tile, args.bucket, 24, recipe.seed + 2000)

    def prep(s):
        shot, read = noise_tensors(s["shot"], s["read"], 1)
        x = jdd_preprocess(s["mosaic"][None].float(), shot, read)
        return x, vst_target(s["target"][None].float(), shot, read), shot, read

    tr, va = [prep(s) for s in train], [prep(s) for s in held]

    def psnr(model) -> float:
        errs = []
        with torch.no_grad():
            for x, y, shot, read in va:
                out = jdd_postprocess(model(x), shot, read).clamp(0, 1) ** (1 / 2.2)
                ref = jdd_postprocess(y, shot, read).clamp(0, 1) ** (1 / 2.2)
                errs.append(float(((out - ref) ** 2).mean()))
        return 10 * math.log10(1 / float(np.mean(errs)))

    print(f"bucket {bucket.name}: fp32 {psnr(net):.3f} dB", flush=True)
    ptq, _ = quantize_pt2e(net, [x for x, *_ in tr[:24]])
    print(f"  PTQ (24 calibration tiles) {psnr(ptq):.3f} dB", flush=True)

    class _Quantizer(PT2EQuantizer):
        STATIC_QAT_ONLY_OPS = []  # noqa: RUF012  (conv + batch-norm patterns: none here)

    quantizer = _Quantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False, is_qat=True)
    )
    b = args.batch

    def batch(idx):
        return torch.cat([tr[i][0] for i in idx]), torch.cat([tr[i][1] for i in idx])

    if args.mode == "float":
        model = copy.deepcopy(net).train()
    else:
        model = prepare_qat_pt2e(export_strict(net, batch(range(b))[0]), quantizer)
        with torch.no_grad():  # observer warm-up: ranges before the first step
            for j in range(0, len(tr) - b + 1, b):
                model(batch(range(j, j + b))[0])
        if args.init == "ptq":
            _ranges_from_ptq(model, net, [x for x, *_ in tr[:24]], quantizer)
        if args.freeze:
            model.apply(disable_observer)
        move_exported_model_to_train(model)
    params = [q for q in model.parameters() if q.is_floating_point()]
    for q in params:
        q.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=args.lr)
    t0 = time.perf_counter()
    for step in range(args.steps):
        x, y = batch(np.random.default_rng(step).choice(len(tr), b, replace=False))
        if args.mode == "self":
            with torch.no_grad():
                y = net(x)
        loss = (model(x) - y).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t0
    if args.mode == "float":
        model.eval()
        print(f"  float fine-tune ({args.steps} steps, {dt:.0f} s) {psnr(model):.3f} dB")
        return 0
    move_exported_model_to_eval(model)
    one = prepare_qat_pt2e(export_strict(net, tr[0][0]), quantizer)
    one.load_state_dict(model.state_dict(), strict=True)  # the state moves to another shape
    move_exported_model_to_eval(one)
    qat = convert_pt2e(one, fold_quantize=False)
    print(
        f"  QAT {args.mode}{' frozen ranges' if args.freeze else ''} "
        f"({args.steps} steps, lr {args.lr:g}, {dt:.0f} s) {psnr(qat):.3f} dB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
