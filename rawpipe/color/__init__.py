"""Colour: white balance, colour matrices, sRGB transfer and tone curves — each with its inverse.

Torch functions on NCHW float tensors (numpy arrays in give numpy arrays out), differentiable and
defined beyond [0, 1], so that unprocessing (Brooks et al., CVPR 2019) can run every step backwards.
"""

from __future__ import annotations

from rawpipe.color.matrix import (
    BRADFORD,
    BRADFORD_D50_TO_D65,
    BRADFORD_D65_TO_D50,
    BROOKS2019_XYZ_TO_CAMERA,
    SRGB_TO_XYZ_D65,
    WHITE_D50_XYZ,
    WHITE_D65_XYZ,
    XYZ_TO_CAMERA,
    XYZ_TO_SRGB_D65,
    apply_color_matrix,
    bradford_adaptation,
    camera_to_srgb_matrix,
    forward_matrix_to_srgb_matrix,
    invert_color_matrix,
    random_xyz_to_camera,
    srgb_to_camera_matrix,
)
from rawpipe.color.tone import (
    SRGB_ENCODED_BREAK,
    SRGB_LINEAR_BREAK,
    deprocess,
    inverse_tone_curve,
    process,
    srgb_gamma_compression,
    srgb_gamma_expansion,
    tone_curve,
)
from rawpipe.color.white_balance import (
    apply_white_balance,
    apply_white_balance_mosaic,
    invert_white_balance,
    invert_white_balance_mosaic,
    mosaic_gain_map,
)

__all__ = [
    "BRADFORD",
    "BRADFORD_D50_TO_D65",
    "BRADFORD_D65_TO_D50",
    "BROOKS2019_XYZ_TO_CAMERA",
    "SRGB_ENCODED_BREAK",
    "SRGB_LINEAR_BREAK",
    "SRGB_TO_XYZ_D65",
    "WHITE_D50_XYZ",
    "WHITE_D65_XYZ",
    "XYZ_TO_CAMERA",
    "XYZ_TO_SRGB_D65",
    "apply_color_matrix",
    "apply_white_balance",
    "apply_white_balance_mosaic",
    "bradford_adaptation",
    "camera_to_srgb_matrix",
    "deprocess",
    "forward_matrix_to_srgb_matrix",
    "inverse_tone_curve",
    "invert_color_matrix",
    "invert_white_balance",
    "invert_white_balance_mosaic",
    "mosaic_gain_map",
    "process",
    "random_xyz_to_camera",
    "srgb_gamma_compression",
    "srgb_gamma_expansion",
    "srgb_to_camera_matrix",
    "tone_curve",
]
