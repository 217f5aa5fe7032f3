import numpy as np
import pytest
import torch

from rawpipe.color import (
    BRADFORD_D50_TO_D65,
    BRADFORD_D65_TO_D50,
    BROOKS2019_XYZ_TO_CAMERA,
    SRGB_TO_XYZ_D65,
    WHITE_D50_XYZ,
    WHITE_D65_XYZ,
    XYZ_TO_CAMERA,
    XYZ_TO_SRGB_D65,
    apply_color_matrix,
    camera_to_srgb_matrix,
    forward_matrix_to_srgb_matrix,
    invert_color_matrix,
    random_xyz_to_camera,
    srgb_to_camera_matrix,
)

ALL_CAMERAS = [*XYZ_TO_CAMERA.values(), *BROOKS2019_XYZ_TO_CAMERA]


def test_srgb_xyz_pair():
    np.testing.assert_allclose(SRGB_TO_XYZ_D65 @ XYZ_TO_SRGB_D65, np.eye(3), atol=1e-14)
    # sRGB white is D65; the tabulated IEC inverse (Lindbloom) agrees to 1e-6.
    np.testing.assert_allclose(SRGB_TO_XYZ_D65 @ np.ones(3), WHITE_D65_XYZ, atol=1e-4)
    np.testing.assert_allclose(XYZ_TO_SRGB_D65[0], [3.2404542, -1.5371385, -0.4985314], atol=1e-6)
    assert not SRGB_TO_XYZ_D65.flags.writeable


def test_bradford_matches_published_values():
    # B. Lindbloom's Bradford matrices (D50 = 0.96422, 1, 0.82521; D65 = 0.95047, 1, 1.08883).
    np.testing.assert_allclose(
        BRADFORD_D50_TO_D65,
        [[0.9555766, -0.0230393, 0.0631636],
         [-0.0282895, 1.0099416, 0.0210077],
         [0.0122982, -0.0204830, 1.3299098]],
        atol=1e-6,
    )  # fmt: skip
    np.testing.assert_allclose(
        BRADFORD_D65_TO_D50[0], [1.0478112, 0.0228866, -0.0501270], atol=1e-6
    )
    np.testing.assert_allclose(BRADFORD_D50_TO_D65 @ WHITE_D50_XYZ, WHITE_D65_XYZ, atol=1e-12)
    np.testing.assert_allclose(BRADFORD_D50_TO_D65 @ BRADFORD_D65_TO_D50, np.eye(3), atol=1e-12)


@pytest.mark.parametrize("xyz_to_cam", ALL_CAMERAS)
def test_camera_to_srgb_maps_white_to_white(xyz_to_cam):
    rgb_to_cam = srgb_to_camera_matrix(xyz_to_cam)
    cam_to_rgb = camera_to_srgb_matrix(xyz_to_cam)
    np.testing.assert_allclose(rgb_to_cam.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(cam_to_rgb.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(cam_to_rgb @ rgb_to_cam, np.eye(3), atol=1e-12)
    # A plausible CCM: positive diagonal dominating (saturation boost), not the identity.
    assert np.all(np.diag(cam_to_rgb) > 1.0)


def test_camera_to_srgb_matches_libraw():
    # LibRaw's rgb_cam (rawpy ``color_matrix``) for a Nikon D5000 DNG whose ColorMatrix2 equals
    # dcraw's D5000 entry: the same construction, computed independently (float32 there).
    libraw = np.array(
        [[1.8269329, -0.6549717, -0.17196122],
         [-0.00681379, 1.3321934, -0.32537964],
         [0.06258368, -0.40054944, 1.3379657]]
    )  # fmt: skip
    np.testing.assert_allclose(
        camera_to_srgb_matrix(XYZ_TO_CAMERA["Nikon D5000"]), libraw, atol=1e-5
    )


@pytest.mark.data
def test_camera_to_srgb_matches_libraw_on_real_dng(hdrmerge_dngs):
    rawpy = pytest.importorskip("rawpy")
    with rawpy.imread(str(hdrmerge_dngs[0])) as r:
        xyz_to_cam = np.array(r.rgb_xyz_matrix[:3], dtype=np.float64)
        rgb_cam = np.array(r.color_matrix[:, :3], dtype=np.float64)
    np.testing.assert_allclose(camera_to_srgb_matrix(xyz_to_cam), rgb_cam, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_batched_and_differentiable(dtype):
    m = torch.tensor(np.stack(ALL_CAMERAS[:3]), dtype=dtype, requires_grad=True)
    c = camera_to_srgb_matrix(m)
    assert isinstance(c, torch.Tensor) and c.shape == (3, 3, 3) and c.dtype == dtype
    assert torch.allclose(c.sum(-1), torch.ones((), dtype=dtype), atol=1e-5)
    c[:, 0, 0].sum().backward()
    assert m.grad is not None and torch.isfinite(m.grad).all() and m.grad.abs().sum() > 0


def test_four_colour_pseudo_inverse():
    xyz_to_cmyg = np.vstack([XYZ_TO_CAMERA["Nikon D700"], [0.2, 0.5, 0.3]])
    c = camera_to_srgb_matrix(xyz_to_cmyg)
    assert c.shape == (3, 4)
    np.testing.assert_allclose(c @ srgb_to_camera_matrix(xyz_to_cmyg), np.eye(3), atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("per_image", [False, True])
def test_apply_invert_round_trip(dtype, per_image):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 8, 6, generator=g, dtype=dtype) * 3 - 1
    m = torch.tensor(camera_to_srgb_matrix(XYZ_TO_CAMERA["Canon EOS 550D"]), dtype=dtype)
    if per_image:
        m = torch.stack(
            [m, torch.tensor(camera_to_srgb_matrix(XYZ_TO_CAMERA["Nikon D3X"]), dtype=dtype)]
        )
    y = apply_color_matrix(x, m)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert torch.allclose(invert_color_matrix(y, m), x, atol=tol)
    mm = m if per_image else m.expand(2, 3, 3)
    for n in range(2):
        expected = mm[n] @ x[n].reshape(3, -1)
        assert torch.allclose(y[n].reshape(3, -1), expected, atol=tol)


def test_apply_numpy_and_gradients():
    x = np.random.default_rng(0).random((3, 4, 4))
    m = camera_to_srgb_matrix(XYZ_TO_CAMERA["Nikon D700"])
    y = apply_color_matrix(x, m)
    assert isinstance(y, np.ndarray)
    np.testing.assert_allclose(invert_color_matrix(y, m), x, atol=1e-12)
    mt = torch.tensor(m, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    invert_color_matrix(apply_color_matrix(xt, mt), mt).sum().backward()
    assert torch.allclose(xt.grad, torch.ones_like(xt))  # round trip is the identity in x


def test_forward_matrix_to_srgb_white():
    # A ForwardMatrix maps camera white to the D50 white: build one from a camera matrix.
    rgb = camera_to_srgb_matrix(XYZ_TO_CAMERA["Canon EOS 5D Mark II"])
    fm = BRADFORD_D65_TO_D50 @ SRGB_TO_XYZ_D65 @ rgb
    np.testing.assert_allclose(fm @ np.ones(3), WHITE_D50_XYZ, atol=1e-4)
    np.testing.assert_allclose(forward_matrix_to_srgb_matrix(fm), rgb, atol=1e-12)


def test_random_xyz_to_camera_is_convex_combination():
    stack = np.stack(list(XYZ_TO_CAMERA.values()))
    draws = [random_xyz_to_camera(np.random.default_rng(s)) for s in range(20)]
    for d in draws:
        assert d.shape == (3, 3)
        assert np.all(d >= stack.min(0) - 1e-12) and np.all(d <= stack.max(0) + 1e-12)
    assert not np.allclose(draws[0], draws[1])
    np.testing.assert_array_equal(random_xyz_to_camera(3), random_xyz_to_camera(3))
    t = random_xyz_to_camera(torch.Generator().manual_seed(0), BROOKS2019_XYZ_TO_CAMERA)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    one = random_xyz_to_camera(0, [XYZ_TO_CAMERA["Nikon D700"]])
    np.testing.assert_allclose(one, XYZ_TO_CAMERA["Nikon D700"], atol=1e-15)
    # Every mixture still yields a white-preserving CCM.
    for d in draws:
        np.testing.assert_allclose(camera_to_srgb_matrix(d).sum(1), 1.0, atol=1e-12)
