"""``ToyPairs``: tiny procedural training pairs that need no photographs.

For smoke runs, tests (resume, DDP) and speed measurements of the training loop, not for training
a model anyone should use. Item ``i`` is a deterministic function of ``(seed, i)``: a smooth random
colour field (a bilinearly upsampled 4×4 grid of colours plus a few hard edges) as the clean linear
camera RGB target, its RGGB mosaic with Poisson–Gaussian noise (``a`` log-uniform in
``shot_range``, ``b`` log-uniform in ``read_range``, or fixed values), the same keys and layouts as
:class:`rawpipe.data.SyntheticPairs`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["ToyPairs", "toy_validation_sets"]

_WB = (2.0, 1.0, 1.6)


class ToyPairs(torch.utils.data.Dataset):
    """Map-style dataset of ``length`` items (``None``: unbounded, for the trainer's sampler)."""

    def __init__(
        self,
        patch: int = 64,
        seed: int = 0,
        length: int | None = None,
        shot_range: tuple[float, float] = (1e-4, 1e-2),
        read_range: tuple[float, float] = (1e-7, 1e-4),
        shot: float | None = None,
        read: float | None = None,
    ) -> None:
        if patch % 2 or patch < 4:
            raise ValueError(f"patch must be even and >= 4, got {patch}")
        self.patch, self.seed, self.length = int(patch), int(seed), length
        self.shot_range, self.read_range = tuple(shot_range), tuple(read_range)
        self.shot, self.read = shot, read

    def __len__(self) -> int:
        return self.length if self.length is not None else 2**62

    def _uniform(self, g: torch.Generator, lo: float, hi: float, log: bool = True) -> float:
        u = float(torch.rand((), generator=g))
        if log:
            return math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        return lo + u * (hi - lo)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self.length is not None and not 0 <= index < self.length:
            raise IndexError(index)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(index))
        p = self.patch
        grid = 0.05 + 0.75 * torch.rand(1, 3, 4, 4, generator=g)
        target = F.interpolate(grid, size=(p, p), mode="bilinear", align_corners=True)[0]
        # a few hard vertical/horizontal edges so that demosaicing has something to do
        for _ in range(2):
            pos = int(torch.randint(1, p - 1, (), generator=g))
            gain = 0.4 + 1.2 * torch.rand(3, 1, 1, generator=g)
            if bool(torch.rand((), generator=g) < 0.5):
                target[:, :, pos:] = target[:, :, pos:] * gain
            else:
                target[:, pos:, :] = target[:, pos:, :] * gain
        target = target.clamp(0.0, 1.0)
        shot = self.shot if self.shot is not None else self._uniform(g, *self.shot_range)
        read = self.read if self.read is not None else self._uniform(g, *self.read_range)
        mosaic = torch.empty(1, p, p)
        mosaic[0, 0::2, 0::2] = target[0, 0::2, 0::2]
        mosaic[0, 0::2, 1::2] = target[1, 0::2, 1::2]
        mosaic[0, 1::2, 0::2] = target[1, 1::2, 0::2]
        mosaic[0, 1::2, 1::2] = target[2, 1::2, 1::2]
        if shot > 0:
            mosaic = shot * torch.poisson(mosaic / shot, generator=g)
        if read > 0:
            mosaic = mosaic + math.sqrt(read) * torch.randn(mosaic.shape, generator=g)
        return {
            "mosaic": mosaic.float(),
            "target": target.float(),
            "shot": torch.full((4,), float(shot)),
            "read": torch.full((4,), float(read)),
            "wb": torch.tensor(_WB),
            "cam_to_srgb": torch.eye(3),
        }


def toy_validation_sets(
    levels: tuple[str, ...], seed: int = 0, patch: int = 64, images: int = 2
) -> dict[str, ToyPairs]:
    """Fixed toy validation sets named like the real levels (noise of the issue's ISO levels)."""
    noise = {
        "clean": (0.0, 0.0),
        "iso400": (2.6e-4, 5e-7),
        "iso1600": (1e-3, 3.2e-6),
        "iso6400": (4e-3, 3.6e-5),
        "dark": (1e-3, 3.2e-6),
    }
    out = {}
    for i, level in enumerate(levels):
        shot, read = noise.get(level, (1e-3, 3.2e-6))
        out[level] = ToyPairs(
            patch, seed=10_000 + 97 * seed + i, length=images, shot=shot, read=read
        )
    return out
