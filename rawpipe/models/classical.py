"""Classical Bayer demosaicing and the classical engine (the network interface, without a network).

Every demosaicer takes an RGGB mosaic ``(*, 1, H, W)`` (float, any H, W ≥ 2; the R site is at
even row and even column) and returns ``(*, 3, H, W)`` linear RGB. Borders are handled by
mirror-reflecting the mosaic (``torch`` "reflect" padding: edge pixel not repeated), which keeps
every site's colour, so border pixels get the same filters as interior ones. The outputs are
differentiable in the mosaic (the Menon 2007 direction decision is piecewise constant).

Notes: none of them clips (values below 0 or above 1 pass through, and overshoot near edges is
kept), denoises, or white-balances; apply white balance to the mosaic first
(:class:`ClassicalEngine` does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rawpipe._check import check_shape
from rawpipe.color.white_balance import apply_white_balance_mosaic, invert_white_balance

__all__ = [
    "DEMOSAICERS",
    "ClassicalEngine",
    "demosaic_bilinear",
    "demosaic_malvar2004",
    "demosaic_menon2007",
]

Method = Literal["menon2007", "malvar2004", "bilinear"]

# How far (in raw pixels) an output pixel can depend on the input, per method; the mosaic is
# reflect-padded by this (rounded up to even, to keep the RGGB phase) and internal convolutions
# are zero-padded, so their wrong borders never reach the cropped result.
_RADIUS = {"bilinear": 1, "malvar2004": 2, "menon2007_norefine": 6, "menon2007": 8}


# --------------------------------------------------------------------------------------------
# helpers


def _as_batch(mosaic: Tensor) -> tuple[Tensor, tuple[int, ...]]:
    if not isinstance(mosaic, Tensor):
        raise TypeError(f"mosaic: expected a torch.Tensor, got {type(mosaic).__name__}")
    check_shape(mosaic, ["*", "1", "H", "W"], "mosaic")
    if mosaic.shape[-1] < 2 or mosaic.shape[-2] < 2:
        raise ValueError(f"mosaic: H and W must be at least 2, got {list(mosaic.shape)}")
    x = mosaic if mosaic.is_floating_point() else mosaic.to(torch.float32)
    lead = tuple(x.shape[:-3])
    return x.reshape(-1, 1, x.shape[-2], x.shape[-1]), lead


def _reflect_pad(x: Tensor, p: int) -> Tensor:
    """Mirror-pad ``(N, C, H, W)`` by ``p`` on every side, in steps when ``p`` ≥ the size."""
    while p > 0:
        step = min(p, x.shape[-2] - 1, x.shape[-1] - 1)
        x = F.pad(x, (step, step, step, step), mode="reflect")
        p -= step
    return x


def _site_masks(h: int, w: int, device: torch.device) -> tuple[Tensor, ...]:
    """Boolean ``(1, 1, h, w)`` masks of an RGGB mosaic: R, G, B, G-in-red-row, G-in-blue-row."""
    even_row = (torch.arange(h, device=device) % 2 == 0)[:, None]
    even_col = (torch.arange(w, device=device) % 2 == 0)[None, :]
    r = even_row & even_col
    b = ~even_row & ~even_col
    g_rrow = even_row & ~even_col
    g_brow = ~even_row & even_col
    g = g_rrow | g_brow
    return tuple(m[None, None] for m in (r, g, b, g_rrow, g_brow))


def _conv(x: Tensor, kernel: Any) -> Tensor:
    """Zero-padded 'same' 2-D correlation of every channel of ``x`` with one odd-sized kernel."""
    k = torch.as_tensor(kernel, dtype=x.dtype, device=x.device)
    c = x.shape[1]
    weight = k[None, None].expand(c, 1, *k.shape)
    return F.conv2d(x, weight, padding=(k.shape[0] // 2, k.shape[1] // 2), groups=c)


def _conv_h(x: Tensor, taps: list[float]) -> Tensor:
    return _conv(x, [taps])


def _conv_v(x: Tensor, taps: list[float]) -> Tensor:
    return _conv(x, [[t] for t in taps])


def _finish(fn: Callable[[Tensor], Tensor], mosaic: Tensor, radius: int) -> Tensor:
    x, lead = _as_batch(mosaic)
    h, w = x.shape[-2:]
    p = radius + radius % 2
    out = fn(_reflect_pad(x, p))[..., p : p + h, p : p + w]
    return out.reshape(*lead, 3, h, w)


# --------------------------------------------------------------------------------------------
# bilinear

_BILINEAR_G = [[0.0, 0.25, 0.0], [0.25, 1.0, 0.25], [0.0, 0.25, 0.0]]
_BILINEAR_RB = [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]]


def _bilinear(x: Tensor) -> Tensor:
    r_m, g_m, b_m, _, _ = _site_masks(x.shape[-2], x.shape[-1], x.device)
    zero = x.new_zeros(())
    r = _conv(torch.where(r_m, x, zero), _BILINEAR_RB)
    g = _conv(torch.where(g_m, x, zero), _BILINEAR_G)
    b = _conv(torch.where(b_m, x, zero), _BILINEAR_RB)
    return torch.cat([r, g, b], dim=1)


def demosaic_bilinear(mosaic: Tensor) -> Tensor:
    """Bilinear demosaicing of an RGGB mosaic: each missing value is the mean of its nearest
    same-colour neighbours (2 or 4).

    Args:
        mosaic: ``(*, 1, H, W)`` RGGB.

    Returns:
        ``(*, 3, H, W)``; measured sites keep their values.

    Notes: no clipping, no denoising, no white balance.
    """
    return _finish(_bilinear, mosaic, _RADIUS["bilinear"])


# --------------------------------------------------------------------------------------------
# Malvar, He & Cutler 2004

# Filters of Malvar, He, Cutler, "High-quality linear interpolation for demosaicing of
# Bayer-patterned color images", ICASSP 2004, Fig. 2 (coefficients × 1/8).
_MALVAR_G_AT_RB = [
    [0, 0, -1, 0, 0],
    [0, 0, 2, 0, 0],
    [-1, 2, 4, 2, -1],
    [0, 0, 2, 0, 0],
    [0, 0, -1, 0, 0],
]
# Colour c at a green site whose row holds c (c's neighbours are left and right).
_MALVAR_C_AT_G_ROW = [
    [0, 0, 0.5, 0, 0],
    [0, -1, 0, -1, 0],
    [-1, 4, 5, 4, -1],
    [0, -1, 0, -1, 0],
    [0, 0, 0.5, 0, 0],
]
# Colour c at a green site whose column holds c (c's neighbours are above and below).
_MALVAR_C_AT_G_COL = [list(r) for r in zip(*_MALVAR_C_AT_G_ROW)]
# R at a B site and B at an R site.
_MALVAR_RB_AT_BR = [
    [0, 0, -1.5, 0, 0],
    [0, 2, 0, 2, 0],
    [-1.5, 0, 6, 0, -1.5],
    [0, 2, 0, 2, 0],
    [0, 0, -1.5, 0, 0],
]


def _malvar(x: Tensor) -> Tensor:
    r_m, g_m, b_m, g_rrow, g_brow = _site_masks(x.shape[-2], x.shape[-1], x.device)
    k = torch.tensor(
        [_MALVAR_G_AT_RB, _MALVAR_C_AT_G_ROW, _MALVAR_C_AT_G_COL, _MALVAR_RB_AT_BR],
        dtype=x.dtype,
        device=x.device,
    )
    est = F.conv2d(x, k[:, None] / 8.0, padding=2)
    g_at_rb, c_row, c_col, rb_at_br = est.unbind(dim=1)
    g_at_rb, c_row, c_col, rb_at_br = (t[:, None] for t in (g_at_rb, c_row, c_col, rb_at_br))
    r = torch.where(r_m, x, torch.where(g_rrow, c_row, torch.where(g_brow, c_col, rb_at_br)))
    g = torch.where(g_m, x, g_at_rb)
    b = torch.where(b_m, x, torch.where(g_brow, c_row, torch.where(g_rrow, c_col, rb_at_br)))
    return torch.cat([r, g, b], dim=1)


def demosaic_malvar2004(mosaic: Tensor) -> Tensor:
    """Gradient-corrected bilinear demosaicing (Malvar, He, Cutler, "High-quality linear
    interpolation for demosaicing of Bayer-patterned color images", ICASSP 2004).

    Bilinear estimates corrected by the Laplacian of the measured colour at the site, as the
    paper's eight 5×5 filters (four distinct up to symmetry).

    Args:
        mosaic: ``(*, 1, H, W)`` RGGB.

    Returns:
        ``(*, 3, H, W)``; measured sites keep their values.

    Notes: no clipping (the correction overshoots at edges), no denoising, no white balance.
    """
    return _finish(_malvar, mosaic, _RADIUS["malvar2004"])


# --------------------------------------------------------------------------------------------
# Menon, Andriani & Calvagno 2007

# Horizontal green interpolation at R/B sites: (G₋₁ + G₊₁)/2 + (2C₀ − C₋₂ − C₊₂)/4.
_MENON_G_TAPS = [-0.25, 0.5, 0.5, 0.5, -0.25]
# D(i, j) = |C(i, j) − C(i, j + 2)| as a correlation (absolute value taken afterwards).
_MENON_DIFF_TAPS = [0.0, 0.0, 1.0, 0.0, -1.0]
# Directional classifier δ_H(i, j): sum of D_H over the 5×5 neighbourhood with these weights
# (rows and columns −2..2); δ_V uses the transpose on D_V.
_MENON_CLASSIFIER = [
    [1, 0, 1, 0, 0],
    [0, 1, 0, 0, 0],
    [3, 0, 3, 0, 0],
    [0, 1, 0, 0, 0],
    [1, 0, 1, 0, 0],
]
_PAIR = [0.5, 0.0, 0.5]
_THIRDS = [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]


def _menon(x: Tensor, refine: bool) -> Tensor:
    r_m, g_m, b_m, g_rrow, g_brow = _site_masks(x.shape[-2], x.shape[-1], x.device)
    rb_m = r_m | b_m
    zero = x.new_zeros(())

    # 1. Directional green estimates at R/B sites.
    g_h = torch.where(g_m, x, _conv_h(x, _MENON_G_TAPS))
    g_v = torch.where(g_m, x, _conv_v(x, _MENON_G_TAPS))

    # 2. A-posteriori decision: compare the smoothness of the colour differences along each
    #    direction (chrominance gradients, summed over a 5×5 window).
    c_h = torch.where(rb_m, x - g_h, zero)
    c_v = torch.where(rb_m, x - g_v, zero)
    d_h = _conv_h(c_h, _MENON_DIFF_TAPS).abs()
    d_v = _conv_v(c_v, _MENON_DIFF_TAPS).abs()
    delta_h = _conv(d_h, _MENON_CLASSIFIER)
    delta_v = _conv(d_v, [list(r) for r in zip(*_MENON_CLASSIFIER)])
    horizontal = delta_v >= delta_h
    g = torch.where(horizontal, g_h, g_v)

    # 3. Red and blue: at G sites by the colour difference of the two neighbours that carry the
    #    colour; at B (R) sites along the chosen direction.
    r = torch.where(r_m, x, zero)
    b = torch.where(b_m, x, zero)
    r = torch.where(g_rrow, g + _conv_h(r - g, _PAIR), r)
    r = torch.where(g_brow, g + _conv_v(torch.where(r_m, r - g, zero), _PAIR), r)
    b = torch.where(g_brow, g + _conv_h(b - g, _PAIR), b)
    b = torch.where(g_rrow, g + _conv_v(torch.where(b_m, b - g, zero), _PAIR), b)
    rb = r - b
    r = torch.where(b_m, b + torch.where(horizontal, _conv_h(rb, _PAIR), _conv_v(rb, _PAIR)), r)
    b = torch.where(r_m, r - torch.where(horizontal, _conv_h(rb, _PAIR), _conv_v(rb, _PAIR)), b)

    if refine:
        r, g, b = _menon_refine(r, g, b, horizontal, (r_m, g_m, b_m, g_rrow, g_brow))
    return torch.cat([r, g, b], dim=1)


def _menon_refine(
    r: Tensor, g: Tensor, b: Tensor, horizontal: Tensor, masks: tuple[Tensor, ...]
) -> tuple[Tensor, Tensor, Tensor]:
    """Menon 2007, Sec. IV (refining): re-estimate each interpolated value from low-passed colour
    differences along the chosen direction (for G) or from the two neighbours (for R/B at G)."""
    r_m, _, b_m, g_rrow, g_brow = masks

    def along(t: Tensor) -> Tensor:
        return torch.where(horizontal, _conv_h(t, _THIRDS), _conv_v(t, _THIRDS))

    # Green at R and B sites.
    g = torch.where(r_m, r - along(r - g), torch.where(b_m, b - along(b - g), g))
    # Red and blue at G sites (red neighbours of a G site in a red row are left/right).
    r_g, b_g = r - g, b - g
    r = torch.where(
        g_rrow, g + _conv_h(r_g, _PAIR), torch.where(g_brow, g + _conv_v(r_g, _PAIR), r)
    )
    b = torch.where(
        g_brow, g + _conv_h(b_g, _PAIR), torch.where(g_rrow, g + _conv_v(b_g, _PAIR), b)
    )
    # Red at B sites and blue at R sites.
    r_b = along(r - b)
    r, b = torch.where(b_m, b + r_b, r), torch.where(r_m, r - r_b, b)
    return r, g, b


def demosaic_menon2007(mosaic: Tensor, refine: bool = True) -> Tensor:
    """Demosaicing with directional filtering and a-posteriori decision (Menon, Andriani,
    Calvagno, "Demosaicing with directional filtering and a posteriori decision", IEEE TIP 16(1),
    2007), also known as DDFAPD.

    Green is interpolated horizontally and vertically at R/B sites; the direction whose colour
    differences vary least over a 5×5 window is kept; red and blue follow from colour differences
    along it; ``refine=True`` runs the paper's refining step.

    Args:
        mosaic: ``(*, 1, H, W)`` RGGB.
        refine: run the refinement (the default, as in the paper).

    Returns:
        ``(*, 3, H, W)``.

    Notes: no clipping, no denoising, no white balance. Ties in the decision (flat areas) go to
    the horizontal estimate. Agrees with ``colour_demosaicing.demosaicing_CFA_Bayer_Menon2007``
    away from the borders (the borders differ: that implementation pads some steps with zeros).
    """
    radius = _RADIUS["menon2007" if refine else "menon2007_norefine"]
    return _finish(lambda x: _menon(x, refine), mosaic, radius)


DEMOSAICERS: dict[str, Callable[[Tensor], Tensor]] = {
    "menon2007": demosaic_menon2007,
    "malvar2004": demosaic_malvar2004,
    "bilinear": demosaic_bilinear,
}


# --------------------------------------------------------------------------------------------
# engine


class ClassicalEngine(nn.Module):
    """A classical demosaicer behind the interface the networks share.

    ``engine(mosaic, wb_gains=..., noise=...)`` takes a normalised RGGB mosaic ``(N, 1, H, W)``
    ((DN − black)/(white − black)) and returns linear camera RGB ``(N, 3, H, W)`` *without*
    white balance: the gains are applied to the mosaic before demosaicing (as LibRaw does — the
    direction decisions and colour differences are meaningful only on balanced data) and divided
    out afterwards.

    Attributes:
        method: ``"menon2007"`` (default), ``"malvar2004"`` or ``"bilinear"``.
        receptive_field: side in raw pixels of the square of input pixels that can influence one
            output pixel (odd, ``2 * halo + 1``): 3 bilinear, 5 Malvar, 17 Menon.
        halo: ``receptive_field // 2``; a tile whose origin is a multiple of
            ``required_alignment`` gives the whole-image output wherever it lies ≥ ``halo`` pixels
            inside the tile (and everywhere next to a true image border, which is reflect-padded).
        required_alignment: tiles must start at multiples of this (2: the RGGB phase);
            ``alignment`` is the same number under the pipeline's name.
        needs_noise: False (no denoising).

    Notes: does not denoise (``noise`` is accepted and ignored) and does not clip.
    """

    required_alignment: int = 2
    alignment: int = 2
    needs_noise: bool = False

    def __init__(self, method: Method = "menon2007") -> None:
        super().__init__()
        if method not in DEMOSAICERS:
            raise ValueError(f"method must be one of {sorted(DEMOSAICERS)}, got {method!r}")
        self.method = method
        self.halo = _RADIUS[method]
        self.receptive_field = 2 * self.halo + 1

    def forward(self, mosaic: Tensor, *, wb_gains: Tensor, noise: Any = None) -> Tensor:
        """Demosaic ``mosaic`` ``(N, 1, H, W)`` with white balance ``wb_gains`` ``(3,)`` or
        ``(N, 3)`` (R, G, B); returns ``(N, 3, H, W)`` linear camera RGB, gains divided out."""
        check_shape(mosaic, ["N", "1", "H", "W"], "mosaic")
        gains = torch.as_tensor(wb_gains, dtype=mosaic.dtype, device=mosaic.device)
        if gains.shape not in ((3,), (mosaic.shape[0], 3)):
            raise ValueError(
                f"wb_gains: expected shape (3,) or ({mosaic.shape[0]}, 3), got {list(gains.shape)}"
            )
        balanced = apply_white_balance_mosaic(mosaic, gains)
        rgb = DEMOSAICERS[self.method](balanced)
        return invert_white_balance(rgb, gains)

    def extra_repr(self) -> str:
        return f"method={self.method!r}, receptive_field={self.receptive_field}"
