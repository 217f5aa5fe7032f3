"""Colour matrices: camera RGB → linear sRGB, their application and inverse, and named constants.

Conventions: a matrix ``M`` acts on column vectors, ``y = M @ x`` per pixel, so an image
``(*, 3, H, W)`` becomes ``y[c] = Σ_k M[c, k] · x[k]``. Matrices are float64 constants (read-only
numpy arrays); functions accept numpy or torch and return the same kind.

Camera → sRGB, the dcraw/LibRaw construction (dcraw ``cam_xyz_coeff``):

1. ``rgb_to_cam = xyz_to_cam @ SRGB_TO_XYZ_D65`` (linear sRGB → camera);
2. normalise each row of ``rgb_to_cam`` to sum 1, so that sRGB white (1, 1, 1) maps to camera
   (1, 1, 1) — i.e. to a *white-balanced* camera white;
3. ``cam_to_rgb = pinv(rgb_to_cam)`` (a pseudo-inverse, so 4-colour ``(4, 3)`` matrices work too).

The result expects white-balanced camera RGB and maps white to white; DNG's ColorMatrix1/2
(interpolated for the as-shot neutral) or LibRaw's ``rgb_xyz_matrix`` are valid ``xyz_to_cam``.
Brooks et al. ("Unprocessing Images for Learned Raw Denoising", CVPR 2019) build their random
inverse colour matrices the same way from a convex combination of real cameras' ``xyz_to_cam``
(:func:`random_xyz_to_camera`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

from rawpipe._check import check_shape
from rawpipe.color._tensor import as_tensor, like_input, param_like

__all__ = [
    "BRADFORD",
    "BRADFORD_D50_TO_D65",
    "BRADFORD_D65_TO_D50",
    "BROOKS2019_XYZ_TO_CAMERA",
    "SRGB_TO_XYZ_D65",
    "WHITE_D50_XYZ",
    "WHITE_D65_XYZ",
    "XYZ_TO_CAMERA",
    "XYZ_TO_SRGB_D65",
    "apply_color_matrix",
    "bradford_adaptation",
    "camera_to_srgb_matrix",
    "forward_matrix_to_srgb_matrix",
    "invert_color_matrix",
    "random_xyz_to_camera",
    "srgb_to_camera_matrix",
]


def _const(rows: Sequence[Sequence[float]] | np.ndarray, scale: float = 1.0) -> np.ndarray:
    a = np.asarray(rows, dtype=np.float64) / scale
    a.setflags(write=False)
    return a


# Linear sRGB (ITU-R BT.709 primaries, D65 white) → CIE XYZ, as tabulated by B. Lindbloom.
SRGB_TO_XYZ_D65 = _const(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
# Its exact inverse (so that the pair round-trips to float64 precision).
XYZ_TO_SRGB_D65 = _const(np.linalg.inv(SRGB_TO_XYZ_D65))

# Reference whites (Y = 1): CIE D65 and D50 (ICC PCS white, the DNG ForwardMatrix target).
WHITE_D65_XYZ = _const([0.95047, 1.0, 1.08883])
WHITE_D50_XYZ = _const([0.96422, 1.0, 0.82521])

# Bradford cone-response matrix (Lam 1985, as used by ICC and the DNG specification).
BRADFORD = _const(
    [
        [0.8951, 0.2664, -0.1614],
        [-0.7502, 1.7135, 0.0367],
        [0.0389, -0.0685, 1.0296],
    ]
)


def bradford_adaptation(src_white_xyz: Any, dst_white_xyz: Any) -> np.ndarray:
    """Bradford chromatic adaptation matrix (3×3, XYZ → XYZ) taking ``src`` white to ``dst`` white.

    ``M = B⁻¹ · diag(B·dst / B·src) · B`` with ``B`` = :data:`BRADFORD`.

    >>> m = bradford_adaptation(WHITE_D50_XYZ, WHITE_D65_XYZ)
    >>> bool(np.allclose(m @ WHITE_D50_XYZ, WHITE_D65_XYZ))
    True
    """
    src = BRADFORD @ np.asarray(src_white_xyz, dtype=np.float64)
    dst = BRADFORD @ np.asarray(dst_white_xyz, dtype=np.float64)
    return np.linalg.inv(BRADFORD) @ np.diag(dst / src) @ BRADFORD


BRADFORD_D50_TO_D65 = _const(bradford_adaptation(WHITE_D50_XYZ, WHITE_D65_XYZ))
BRADFORD_D65_TO_D50 = _const(bradford_adaptation(WHITE_D65_XYZ, WHITE_D50_XYZ))

# XYZ → camera matrices of real cameras (Adobe DNG Converter values, as tabulated ×10⁴ in dcraw's
# adobe_coeff()). Used for unprocessing and as test data; a RAW file's own matrices take precedence.
XYZ_TO_CAMERA: Mapping[str, np.ndarray] = MappingProxyType(
    {
        "Canon EOS 5D Mark II": _const(
            [[4716, 603, -830], [-7798, 15474, 2480], [-1496, 1937, 6651]], 1e4
        ),
        "Canon EOS 550D": _const(
            [[6941, -1164, -857], [-3825, 11597, 2534], [-416, 1540, 6039]], 1e4
        ),
        "Canon EOS 7D": _const([[6844, -996, -856], [-3876, 11761, 2396], [-593, 1772, 6198]], 1e4),
        "Nikon D3X": _const([[7171, -1986, -648], [-8085, 15555, 2718], [-2170, 2512, 7457]], 1e4),
        "Nikon D700": _const([[8139, -2171, -663], [-8747, 16541, 2295], [-1925, 2008, 8093]], 1e4),
        "Nikon D750": _const([[9020, -2890, -715], [-4535, 12436, 2348], [-934, 1919, 7086]], 1e4),
        "Nikon D5000": _const(
            [[7309, -1403, -519], [-8474, 16008, 2622], [-2433, 2826, 8064]], 1e4
        ),
    }
)

# The four XYZ → camera matrices of Brooks et al. 2019 (google-research/unprocessing; the cameras
# are not named there).
BROOKS2019_XYZ_TO_CAMERA: tuple[np.ndarray, ...] = (
    _const([[1.0234, -0.2969, -0.2266], [-0.5625, 1.6328, -0.0469], [-0.0703, 0.2188, 0.6406]]),
    _const([[0.4913, -0.0541, -0.0202], [-0.613, 1.3513, 0.2906], [-0.1564, 0.2151, 0.7183]]),
    _const([[0.838, -0.263, -0.0639], [-0.2887, 1.0725, 0.2496], [-0.0627, 0.1427, 0.5438]]),
    _const([[0.6596, -0.2079, -0.0562], [-0.4782, 1.3016, 0.1933], [-0.097, 0.1581, 0.5181]]),
)


def _matrix_in(m: Any) -> tuple[torch.Tensor, bool]:
    t, was_numpy = as_tensor(m)
    if t.dim() < 2 or t.shape[-1] != 3:
        raise ValueError(f"matrix: expected shape (*, C, 3), got {list(t.shape)}")
    return t, was_numpy


def srgb_to_camera_matrix(xyz_to_camera: Any) -> Any:
    """Linear sRGB → white-balanced camera RGB (dcraw steps 1–2; the inverse CCM of Brooks 2019).

    Args:
        xyz_to_camera: ``(*, C, 3)`` XYZ → camera matrix (C = 3, or 4 for CMYG-type sensors).

    Returns:
        ``(*, C, 3)``, each row summing to 1. Same kind (numpy/torch) as the input; torch keeps
        autograd and the input's dtype.
    """
    t, was_numpy = _matrix_in(xyz_to_camera)
    rgb_to_cam = t @ param_like(SRGB_TO_XYZ_D65, t)
    rgb_to_cam = rgb_to_cam / rgb_to_cam.sum(dim=-1, keepdim=True)
    return like_input(rgb_to_cam, was_numpy)


def camera_to_srgb_matrix(xyz_to_camera: Any) -> Any:
    """White-balanced camera RGB → linear sRGB (D65), the dcraw/LibRaw construction.

    ``pinv(normalise_rows(xyz_to_cam @ SRGB_TO_XYZ_D65))`` — see the module docstring. The result
    maps camera white (1, 1, 1) to sRGB white (1, 1, 1) (its rows sum to 1 for square inputs).

    Args:
        xyz_to_camera: ``(*, C, 3)``, e.g. DNG ColorMatrix or ``XYZ_TO_CAMERA["Nikon D700"]``.

    Returns:
        ``(*, 3, C)``, same kind as the input.

    >>> m = camera_to_srgb_matrix(XYZ_TO_CAMERA["Nikon D700"])
    >>> bool(np.allclose(m @ np.ones(3), 1.0))
    True
    """
    t, was_numpy = _matrix_in(xyz_to_camera)
    rgb_to_cam = srgb_to_camera_matrix(t)
    return like_input(torch.linalg.pinv(rgb_to_cam), was_numpy)


def forward_matrix_to_srgb_matrix(forward_matrix: Any) -> Any:
    """White-balanced camera RGB → linear sRGB from a DNG ForwardMatrix (camera → XYZ D50).

    ``XYZ_TO_SRGB_D65 @ BRADFORD_D50_TO_D65 @ FM``. A ForwardMatrix maps camera white (1, 1, 1)
    to the D50 white, so the result maps white to (approximately, to the tag's 4-digit rounding)
    white; no row normalisation is done.

    Args:
        forward_matrix: ``(*, 3, C)``.

    Returns:
        ``(*, 3, C)``, same kind as the input.
    """
    t, was_numpy = as_tensor(forward_matrix)
    if t.dim() < 2 or t.shape[-2] != 3:
        raise ValueError(f"forward_matrix: expected shape (*, 3, C), got {list(t.shape)}")
    m = XYZ_TO_SRGB_D65 @ BRADFORD_D50_TO_D65
    return like_input(param_like(m, t) @ t, was_numpy)


def apply_color_matrix(x: Any, matrix: Any) -> Any:
    """Apply a 3×3 colour matrix per pixel: ``y[c] = Σ_k M[c, k] · x[k]``.

    Args:
        x: image ``(*, 3, H, W)``.
        matrix: ``(3, 3)`` for all images or ``(*, 3, 3)`` per image.

    Returns:
        ``(*, 3, H, W)`` in ``x``'s dtype (the matrix is cast to it).
    """
    t, was_numpy = as_tensor(x)
    check_shape(t, ["*", "3", "H", "W"], "x")
    m = param_like(matrix, t)
    check_shape(m, ["*", "3", "3"], "matrix")
    y = torch.einsum("...ck,...khw->...chw", m, t)
    return like_input(y, was_numpy)


def invert_color_matrix(y: Any, matrix: Any) -> Any:
    """Inverse of :func:`apply_color_matrix` (``matrix`` is the forward matrix; inverted in float64
    unless it is a tensor that needs gradients, then in its own dtype)."""
    t, was_numpy = as_tensor(y)
    check_shape(t, ["*", "3", "H", "W"], "y")
    if isinstance(matrix, torch.Tensor) and matrix.requires_grad:
        inv = torch.linalg.inv(matrix.to(device=t.device))
    else:
        m64, _ = as_tensor(matrix.detach() if isinstance(matrix, torch.Tensor) else matrix)
        inv = torch.linalg.inv(m64.to(dtype=torch.float64, device=t.device))
    check_shape(inv, ["*", "3", "3"], "matrix")
    return like_input(apply_color_matrix(t, inv), was_numpy)


def random_xyz_to_camera(
    rng: np.random.Generator | torch.Generator | int | None = None,
    matrices: Sequence[Any] | Mapping[str, Any] | None = None,
) -> Any:
    """A random convex combination of real cameras' XYZ → camera matrices (Brooks et al. 2019).

    Weights are drawn uniformly in (0, 1] and normalised to sum 1. Feed the result to
    :func:`srgb_to_camera_matrix` (unprocessing) and :func:`camera_to_srgb_matrix` (processing).

    Args:
        rng: a numpy ``Generator`` (or seed, or None) → numpy float64 ``(3, 3)``; a
            ``torch.Generator`` → torch float64 ``(3, 3)``.
        matrices: the matrices to mix; default every entry of :data:`XYZ_TO_CAMERA`.

    >>> m = random_xyz_to_camera(np.random.default_rng(0))
    >>> m.shape
    (3, 3)
    """
    if matrices is None:
        matrices = XYZ_TO_CAMERA
    if isinstance(matrices, Mapping):
        matrices = list(matrices.values())
    stack = np.stack([np.asarray(m, dtype=np.float64) for m in matrices])
    if isinstance(rng, torch.Generator):
        w = 1.0 - torch.rand(len(stack), generator=rng, dtype=torch.float64)  # (0, 1]
        w = w / w.sum()
        return torch.einsum("n,nij->ij", w, torch.as_tensor(stack))
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    w = 1.0 - gen.random(len(stack))
    w = w / w.sum()
    return np.einsum("n,nij->ij", w, stack)
