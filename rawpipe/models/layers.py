"""Export-safe building blocks shared by the JDD networks, and the host-side depth-to-space.

Network I/O contract (teacher and student alike)
-------------------------------------------------
- input: packed RGGB in the VST domain, ``(N, 4, H/2, W/2)``, channels ``PACKED_CHANNELS`` =
  (R, Gr, Gb, B) sampled at the 2×2 phases (0,0), (0,1), (1,0), (1,1) of the CFA-normalised mosaic;
  no noise-level channel (the VST has already made the noise unit-variance, and one int8 input scale
  covers all channels, so a 4-channel input is the int8-friendly choice).
- output: ``(N, 12, H/2, W/2)``, channel ``4·c + 2·dy + dx`` is colour ``c`` ∈ (R, G, B) at the
  full-resolution pixel ``(2i + dy, 2j + dx)``: the CRD order of
  :func:`torch.nn.functional.pixel_shuffle`. :func:`depth_to_space` (on the host, never inside an
  exported graph) turns it into ``(N, 3, H, W)``. ONNX ``DepthToSpace`` defaults to DCR; use
  ``mode="CRD"`` there.
- residual: the network body predicts a correction that is added to :class:`BayerBilinearBaseline`,
  a frozen 3×3 convolution computing bilinear demosaicing of the packed input directly in the
  12-channel output layout (an image-space residual, which survives int8 better than a
  feature-space one: Mobile AI 2021 SR challenge report).

Everything here uses only Conv2d (3×3, 1×1, depthwise, stride 2), ReLU, add and 2× nearest
upsampling, i.e. ops that lower to single int8 TFLite ops (../shared/TOOLCHAIN.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from rawpipe._check import check_shape

__all__ = [
    "COLOURS",
    "IN_CHANNELS",
    "OUT_CHANNELS",
    "PACKED_CHANNELS",
    "BayerBilinearBaseline",
    "FixedConv2d",
    "PackedUNet",
    "ResidualBlock",
    "UpMerge",
    "bayer_bilinear_baseline",
    "bayer_bilinear_kernel",
    "depth_to_space",
    "make_block",
    "space_to_depth",
]

PACKED_CHANNELS: tuple[str, ...] = ("R", "Gr", "Gb", "B")
"""Packed RGGB channel order; channel k sits at CFA phase (k // 2, k % 2)."""
COLOURS: tuple[str, ...] = ("R", "G", "B")
IN_CHANNELS = 4
OUT_CHANNELS = 12
BLOCK_KINDS = ("conv", "sep", "res", "sepres")


# --------------------------------------------------------------------------------------------
# depth-to-space and its inverse (host side)
# --------------------------------------------------------------------------------------------


def depth_to_space(x: Tensor, block: int = 2) -> Tensor:
    """Rearrange ``(*, C·b², h, w)`` into ``(*, C, h·b, w·b)`` in CRD order.

    Channel ``c·b² + dy·b + dx`` of the input becomes pixel ``(i·b + dy, j·b + dx)`` of output
    channel ``c`` (the order of ``torch.nn.functional.pixel_shuffle``; ONNX ``DepthToSpace`` with
    ``mode="CRD"``). Runs on the host after the network; it is not part of any exported graph.

    >>> depth_to_space(torch.arange(12.0).view(1, 12, 1, 1))[0, 1]
    tensor([[4., 5.],
            [6., 7.]])
    """
    check_shape(x, ["*", "C", "h", "w"], "depth_to_space input")
    *lead, c, h, w = x.shape
    if c % (block * block):
        raise ValueError(f"depth_to_space: {c} channels are not a multiple of {block}²")
    co = c // (block * block)
    y = x.reshape(*lead, co, block, block, h, w)
    n = len(lead)
    # (..., co, dy, dx, h, w) -> (..., co, h, dy, w, dx)
    y = y.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return y.reshape(*lead, co, h * block, w * block)


def space_to_depth(x: Tensor, block: int = 2) -> Tensor:
    """Inverse of :func:`depth_to_space`: ``(*, C, H, W)`` → ``(*, C·b², H/b, W/b)``, CRD order."""
    check_shape(x, ["*", "C", "H", "W"], "space_to_depth input")
    *lead, c, hh, ww = x.shape
    if hh % block or ww % block:
        raise ValueError(f"space_to_depth: size {hh}×{ww} is not a multiple of {block}")
    h, w = hh // block, ww // block
    y = x.reshape(*lead, c, h, block, w, block)
    n = len(lead)
    # (..., c, h, dy, w, dx) -> (..., c, dy, dx, h, w)
    y = y.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return y.reshape(*lead, c * block * block, h, w)


# --------------------------------------------------------------------------------------------
# fixed bilinear baseline (image-space residual)
# --------------------------------------------------------------------------------------------

# For every output colour and phase (dy, dx): the packed taps (channel, di, dj, weight) whose
# weighted sum is the bilinear estimate of that colour at full-resolution pixel (2i+dy, 2j+dx).
# R lives at (0,0), Gr at (0,1), Gb at (1,0), B at (1,1) of each 2×2 cell.
_R, _GR, _GB, _B = range(4)
_BILINEAR_TAPS: dict[tuple[int, int, int], list[tuple[int, int, int, float]]] = {
    # red
    (0, 0, 0): [(_R, 0, 0, 1.0)],
    (0, 0, 1): [(_R, 0, 0, 0.5), (_R, 0, 1, 0.5)],
    (0, 1, 0): [(_R, 0, 0, 0.5), (_R, 1, 0, 0.5)],
    (0, 1, 1): [(_R, 0, 0, 0.25), (_R, 0, 1, 0.25), (_R, 1, 0, 0.25), (_R, 1, 1, 0.25)],
    # green
    (1, 0, 0): [(_GB, -1, 0, 0.25), (_GB, 0, 0, 0.25), (_GR, 0, -1, 0.25), (_GR, 0, 0, 0.25)],
    (1, 0, 1): [(_GR, 0, 0, 1.0)],
    (1, 1, 0): [(_GB, 0, 0, 1.0)],
    (1, 1, 1): [(_GR, 0, 0, 0.25), (_GR, 1, 0, 0.25), (_GB, 0, 0, 0.25), (_GB, 0, 1, 0.25)],
    # blue
    (2, 0, 0): [(_B, -1, -1, 0.25), (_B, -1, 0, 0.25), (_B, 0, -1, 0.25), (_B, 0, 0, 0.25)],
    (2, 0, 1): [(_B, -1, 0, 0.5), (_B, 0, 0, 0.5)],
    (2, 1, 0): [(_B, 0, -1, 0.5), (_B, 0, 0, 0.5)],
    (2, 1, 1): [(_B, 0, 0, 1.0)],
}


def bayer_bilinear_kernel(dtype: torch.dtype = torch.float32) -> Tensor:
    """The ``(12, 4, 3, 3)`` weights of bilinear demosaicing written as one packed-domain conv.

    Output channel ``4·c + 2·dy + dx`` (CRD, see :func:`depth_to_space`) is colour ``c`` at phase
    ``(dy, dx)``: the sample itself where the CFA measured that colour, else the mean of its 2 or 4
    nearest same-colour samples. Every output channel has equal non-zero weights (1, 1/2 or 1/4),
    so per-channel symmetric int8 quantisation represents the kernel exactly.
    """
    k = torch.zeros(OUT_CHANNELS, IN_CHANNELS, 3, 3, dtype=dtype)
    for (c, dy, dx), taps in _BILINEAR_TAPS.items():
        for ch, di, dj, wgt in taps:
            k[4 * c + 2 * dy + dx, ch, 1 + di, 1 + dj] += wgt
    return k


def bayer_bilinear_baseline(packed: Tensor) -> Tensor:
    """Bilinear demosaicing of packed RGGB ``(N, 4, h, w)`` → ``(N, 12, h, w)`` (CRD phases).

    Zero padding: the outermost packed row/column mixes in zeros (the network corrects it; tiles
    with an overlap of at least the receptive field never see it in their kept interior).
    """
    check_shape(packed, ["N", "4", "h", "w"], "packed")
    weight = bayer_bilinear_kernel(packed.dtype).to(packed.device)
    return torch.nn.functional.conv2d(packed, weight, padding=1)


class FixedConv2d(nn.Conv2d):
    """A bias-free Conv2d whose weight is a constant (a non-persistent buffer, not a parameter).

    It is an ``nn.Conv2d`` for MAC counting, op checks and export (one CONV_2D op), but it is
    neither trained nor stored in weight files.
    """

    def __init__(self, weight: Tensor, padding: int = 0) -> None:
        out_c, in_c, kh, kw = weight.shape
        super().__init__(in_c, out_c, (kh, kw), padding=padding, bias=False)
        del self.weight
        self.register_buffer("weight", weight.detach().clone(), persistent=False)


class BayerBilinearBaseline(FixedConv2d):
    """Module twin of :func:`bayer_bilinear_baseline` (a frozen 3×3 conv, 4 → 12 channels)."""

    def __init__(self) -> None:
        super().__init__(bayer_bilinear_kernel(), padding=1)


# --------------------------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------------------------


def conv3x3(c_in: int, c_out: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, groups=groups)


def conv1x1(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 1)


def _down_conv(c_in: int, c_out: int, kernel: int) -> nn.Conv2d:
    """Stride-2 downsampling conv. ``kernel=2`` (no padding, non-overlapping 2×2 cells) lowers to
    one int8 CONV_2D with VALID padding; ``kernel=3`` with torch's symmetric padding 1 makes the
    TFLite converter insert an explicit PAD before each such conv (TF "SAME" pads bottom/right)."""
    if kernel == 2:
        return nn.Conv2d(c_in, c_out, 2, stride=2)
    return conv3x3(c_in, c_out, stride=2)


def _scale_(conv: nn.Conv2d, factor: float) -> nn.Conv2d:
    """Shrink a conv's initial weights (the last conv of a residual branch, the head), so a deep
    network without normalisation starts close to identity / the baseline."""
    with torch.no_grad():
        conv.weight.mul_(factor)
        if conv.bias is not None:
            conv.bias.zero_()
    return conv


class ResidualBlock(nn.Module):
    """``x + body(x)``: the only operation beyond its body is one add (EDSR-style, no norm)."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def make_block(kind: str, c: int, act: Callable[[], nn.Module] = nn.ReLU) -> nn.Module:
    """One processing block at constant width ``c``.

    - ``"conv"``: 3×3 conv + act (one 3×3 conv; 9c² MACs per pixel)
    - ``"sep"``: depthwise 3×3 + pointwise 1×1 + act (9c + c²)
    - ``"res"``: ``x + conv3×3(act(conv3×3(x)))`` (2·9c²)
    - ``"sepres"``: ``x + pw(dw(act(pw(dw(x)))))`` (2·(9c + c²))
    """
    if kind == "conv":
        return nn.Sequential(conv3x3(c, c), act())
    if kind == "sep":
        return nn.Sequential(conv3x3(c, c, groups=c), conv1x1(c, c), act())
    if kind == "res":
        return ResidualBlock(nn.Sequential(conv3x3(c, c), act(), _scale_(conv3x3(c, c), 0.1)))
    if kind == "sepres":
        return ResidualBlock(
            nn.Sequential(
                conv3x3(c, c, groups=c),
                conv1x1(c, c),
                act(),
                conv3x3(c, c, groups=c),
                _scale_(conv1x1(c, c), 0.1),
            )
        )
    raise ValueError(f"unknown block kind {kind!r}; expected one of {BLOCK_KINDS}")


def _block_halo(kind: str) -> int:
    """Receptive-field growth of one block, in units of its level's pixels (one side)."""
    return {"conv": 1, "sep": 1, "res": 2, "sepres": 2}[kind]


class UpMerge(nn.Module):
    """Decoder merge: 1×1 conv at the coarse level, 2× nearest upsampling, then add (or concat +
    1×1 conv + act) with the skip.

    A 1×1 conv commutes exactly with nearest upsampling (also in int8: nearest resize copies
    quantised values), so "upsample then conv" is computed at the coarse level for a quarter of
    the MACs. Ops: CONV_2D, RESIZE_NEAREST_NEIGHBOR, ADD (or CONCATENATION + CONV_2D).
    """

    def __init__(
        self,
        c_low: int,
        c_high: int,
        merge: str = "add",
        act: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        if merge not in ("add", "concat"):
            raise ValueError(f"merge must be 'add' or 'concat', got {merge!r}")
        self.merge = merge
        self.reduce = conv1x1(c_low, c_high)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        if merge == "concat":
            self.fuse = nn.Sequential(conv1x1(2 * c_high, c_high), act())

    def forward(self, low: Tensor, skip: Tensor) -> Tensor:
        up = self.up(self.reduce(low))
        if self.merge == "add":
            return up + skip
        return self.fuse(torch.cat([up, skip], dim=1))


def _per_level(value: int | str | Sequence, levels: int, what: str) -> tuple:
    if isinstance(value, (int, str)):
        return (value,) * levels
    value = tuple(value)
    if len(value) != levels:
        raise ValueError(
            f"{what}: expected {levels} entries (one per level), got {len(value)}; "
            "per-level settings must be given again when the number of widths changes"
        )
    return value


def _is_tracing() -> bool:
    """True under torch.export / dynamo / jit.trace, where shape checks would only add guards."""
    return bool(
        torch.compiler.is_compiling() or torch.compiler.is_exporting() or torch.jit.is_tracing()
    )


# --------------------------------------------------------------------------------------------
# the U-Net skeleton used by student and teacher
# --------------------------------------------------------------------------------------------


class PackedUNet(nn.Module):
    """U-Net on packed RGGB (VST domain) → 12 channels at packed resolution, plus bilinear baseline.

    Layout (``L = len(widths)`` levels, level ``l`` at 1/2^l of the packed resolution)::

        stem: conv3×3(4 → w0) + act
        for l < L-1: enc_blocks[l] blocks at w_l  → skip_l ;
                     down: conv k×k stride 2 (w_l → w_l+1) + act, k = down_kernel (2 or 3)
        mid: mid_blocks blocks at w_{L-1}                        → feature "bottleneck"
        for l = L-2 … 0: UpMerge(w_l+1 → w_l, skip_l); dec_blocks[l] blocks  → feature "dec{l}"
        head: conv3×3(w0 → 12);   output = head + BayerBilinearBaseline(input)

    Attributes:
        total_stride: 2^(L-1) packed pixels; inputs must be multiples of it and tile origins
            aligned to it (in raw pixels: ``required_alignment`` = 2·total_stride, the attribute
            name :class:`rawpipe.models.classical.ClassicalEngine` uses).
        halo: an output pixel depends only on input pixels within ±halo packed pixels (an upper
            bound computed from the layer list: each 3×3 conv at level l adds 2^l, each stride-2
            conv from level l adds 2^l, each nearest upsampling to level l adds 2^l).
        receptive_field: 2·halo + 1 packed pixels. Tiles overlapping by ≥ halo on each side give
            the un-tiled result exactly.
        feature_channels: channels of each tap returned by :meth:`forward_features`.
        feature_strides: each tap's stride in packed pixels (``bottleneck``: 2^(L-1), ``dec{l}``:
            2^l); distillation pairs the taps that share name and stride.
    """

    in_channels: int = IN_CHANNELS
    out_channels: int = OUT_CHANNELS

    def __init__(
        self,
        widths: Sequence[int] = (16, 32, 64, 128),
        enc_blocks: int | Sequence[int] = 1,
        mid_blocks: int = 2,
        dec_blocks: int | Sequence[int] = 1,
        block: str | Sequence[str] = "conv",
        merge: str = "add",
        act: str = "relu",
        down_kernel: int = 2,
        head_init_scale: float = 0.1,
    ) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        levels = len(widths)
        if levels < 2:
            raise ValueError("PackedUNet needs at least 2 levels")
        acts: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "relu6": nn.ReLU6}
        if act not in acts:
            raise ValueError(f"act must be one of {sorted(acts)}, got {act!r}")
        act_fn = acts[act]
        enc_n = _per_level(enc_blocks, levels - 1, "enc_blocks")
        dec_n = _per_level(dec_blocks, levels - 1, "dec_blocks")
        kinds = _per_level(block, levels, "block")
        if down_kernel not in (2, 3):
            raise ValueError(f"down_kernel must be 2 or 3, got {down_kernel}")
        for k in kinds:
            if k not in BLOCK_KINDS:
                raise ValueError(f"unknown block kind {k!r}; expected one of {BLOCK_KINDS}")

        self.widths = widths
        self.levels = levels
        self.total_stride = 2 ** (levels - 1)
        self.required_alignment = 2 * self.total_stride  # raw pixels, as ClassicalEngine's

        self.baseline = BayerBilinearBaseline()
        self.stem = nn.Sequential(conv3x3(IN_CHANNELS, widths[0]), act_fn())
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        for lvl in range(levels - 1):
            self.encoders.append(
                nn.Sequential(
                    *[make_block(kinds[lvl], widths[lvl], act_fn) for _ in range(enc_n[lvl])]
                )
            )
            self.downs.append(
                nn.Sequential(_down_conv(widths[lvl], widths[lvl + 1], down_kernel), act_fn())
            )
        self.mid = nn.Sequential(
            *[make_block(kinds[-1], widths[-1], act_fn) for _ in range(mid_blocks)]
        )
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for lvl in range(levels - 1):
            self.ups.append(UpMerge(widths[lvl + 1], widths[lvl], merge, act_fn))
            self.decoders.append(
                nn.Sequential(
                    *[make_block(kinds[lvl], widths[lvl], act_fn) for _ in range(dec_n[lvl])]
                )
            )
        self.head = _scale_(conv3x3(widths[0], OUT_CHANNELS), head_init_scale)

        # Receptive field along the deepest path (see class docstring).
        halo = 1  # stem
        for lvl in range(levels - 1):
            halo += (enc_n[lvl] * _block_halo(kinds[lvl]) + 1) * 2**lvl  # blocks + stride-2 conv
        halo += mid_blocks * _block_halo(kinds[-1]) * 2 ** (levels - 1)
        for lvl in range(levels - 1):
            halo += (1 + dec_n[lvl] * _block_halo(kinds[lvl])) * 2**lvl  # upsampling + blocks
        halo += 1  # head
        self.halo = halo
        self.receptive_field = 2 * halo + 1
        self.feature_channels = {"bottleneck": widths[-1]}
        self.feature_strides = {"bottleneck": 2 ** (levels - 1)}
        for lvl in range(levels - 2, -1, -1):
            self.feature_channels[f"dec{lvl}"] = widths[lvl]
            self.feature_strides[f"dec{lvl}"] = 2**lvl

    def _check_input(self, x: Tensor) -> None:
        if _is_tracing():
            return
        check_shape(x, ["N", str(IN_CHANNELS), "h", "w"], "packed input")
        h, w = x.shape[-2:]
        s = self.total_stride
        if h % s or w % s:
            raise ValueError(
                f"packed input {h}×{w} is not a multiple of the total stride {s}; "
                "pad it on the host"
            )

    def _run(self, x: Tensor, features: dict[str, Tensor] | None) -> Tensor:
        self._check_input(x)
        y = self.stem(x)
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            y = enc(y)
            skips.append(y)
            y = down(y)
        y = self.mid(y)
        if features is not None:
            features["bottleneck"] = y
        for lvl in range(self.levels - 2, -1, -1):
            y = self.ups[lvl](y, skips[lvl])
            y = self.decoders[lvl](y)
            if features is not None:
                features[f"dec{lvl}"] = y
        return self.head(y) + self.baseline(x)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, 4, h, w)`` packed VST-domain input → ``(N, 12, h, w)`` (CRD phases)."""
        return self._run(x, None)

    def forward_features(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Output and intermediate features for distillation.

        Taps: ``"bottleneck"`` (level L-1) and ``"dec{l}"`` for l = L-2 … 0 (level l, after its
        decoder blocks). Networks with the same number of levels share names and spatial sizes;
        channels differ (``feature_channels``): a distillation loss aligns them with 1×1 adapters.
        """
        feats: dict[str, Tensor] = {}
        out = self._run(x, feats)
        return out, feats
