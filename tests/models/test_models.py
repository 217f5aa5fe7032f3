"""Every registered model: construction; every packed-I/O model: shapes, finiteness, backward,
feature taps and receptive field (timm's tests/test_models.py, in spirit)."""

from __future__ import annotations

import pytest
import torch

from rawpipe.models import create_model, get_model_spec, list_models

PACKED = list_models("packed_io")
TRAINABLE = [n for n in PACKED if "trainable" in get_model_spec(n).capabilities]
DISTILLABLE = list_models("distillable")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("name", PACKED)
def test_forward_shape_and_finite(name):
    m = create_model(name, pretrained=False).eval()
    s = m.total_stride
    x = torch.rand(2, 4, 2 * s, 3 * s) * 30  # VST-domain values are O(1)–O(100)
    with torch.no_grad():
        y = m(x)
    assert y.shape == (2, 12, 2 * s, 3 * s)
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()
    assert (m.in_channels, m.out_channels) == (4, 12)


@pytest.mark.parametrize("name", PACKED)
def test_input_checks(name):
    m = create_model(name, pretrained=False)
    s = m.total_stride
    with pytest.raises(ValueError, match="total stride"):
        m(torch.zeros(1, 4, s + 2, s))
    with pytest.raises(ValueError, match="expected shape"):
        m(torch.zeros(1, 5, s, s))


@pytest.mark.parametrize("name", TRAINABLE)
def test_backward(name):
    m = create_model(name, pretrained=False)
    s = m.total_stride
    x = torch.rand(2, 4, 2 * s, 2 * s) * 10
    loss = (m(x) - x.repeat(1, 3, 1, 1)).abs().mean()
    loss.backward()
    for n, p in m.named_parameters():
        assert p.grad is not None, n
        assert torch.isfinite(p.grad).all(), n
        assert p.grad.abs().sum() > 0, f"{n} got a zero gradient"


@pytest.mark.parametrize("name", PACKED)
def test_starts_near_bilinear_baseline(name):
    # The head is initialised small, so an untrained net is the bilinear baseline plus a small
    # correction (a sane starting point for training without normalisation layers).
    from rawpipe.models.layers import bayer_bilinear_baseline

    m = create_model(name, pretrained=False).eval()
    x = torch.rand(1, 4, 2 * m.total_stride, 2 * m.total_stride) * 10
    with torch.no_grad():
        d = (m(x) - bayer_bilinear_baseline(x)).abs().mean()
    assert d < 1.0


@pytest.mark.parametrize("name", DISTILLABLE)
def test_forward_features(name):
    m = create_model(name, pretrained=False).eval()
    s = m.total_stride
    x = torch.rand(1, 4, 2 * s, 2 * s)
    with torch.no_grad():
        out, feats = m.forward_features(x)
        assert torch.equal(out, m(x))
    assert list(feats) == list(m.feature_channels)
    for k, f in feats.items():
        lvl = m.levels - 1 if k == "bottleneck" else int(k[3:])
        assert f.shape == (1, m.feature_channels[k], 2 * s >> lvl, 2 * s >> lvl), k


def test_teacher_and_student_taps_align():
    """The student's distillation taps (dec1, dec0) exist in the teacher at the same stride."""
    t = create_model("teacher", pretrained=False)
    s = create_model("student", pretrained=False)
    assert list(t.feature_channels) == ["bottleneck", "dec2", "dec1", "dec0"]
    assert list(s.feature_channels) == ["bottleneck", "dec1", "dec0"]
    for tap in ("dec1", "dec0"):
        assert s.feature_strides[tap] == t.feature_strides[tap]
    assert (t.total_stride, s.total_stride) == (8, 4)
    assert (t.required_alignment, s.required_alignment) == (16, 8)  # raw pixels


def _measured_reach(m: torch.nn.Module, phase: int) -> int:
    """Largest one-sided distance (packed px) from output pixel to an input it depends on,
    with all weights positive so no ReLU hides a dependency."""
    with torch.no_grad():
        for p in m.parameters():
            p.abs_().add_(1e-3)
    size = 2 * m.halo + 4 * m.total_stride
    size += -size % m.total_stride
    x = torch.ones(1, 4, size, size, requires_grad=True)
    c = size // 2 - (size // 2) % m.total_stride + phase
    m(x)[0, :, c, c].sum().backward()
    g = x.grad[0].abs().sum(0)
    rows = torch.nonzero(g.sum(1)).flatten()
    cols = torch.nonzero(g.sum(0)).flatten()
    return int(max(c - rows.min(), rows.max() - c, c - cols.min(), cols.max() - c))


@pytest.mark.parametrize("name", PACKED)
def test_receptive_field_bounds_dependencies(name):
    m = create_model(name, pretrained=False)
    assert m.receptive_field == 2 * m.halo + 1
    phases = range(m.total_stride) if name == "student" else (0, 1, m.total_stride - 1)
    reach = max(_measured_reach(m, p) for p in phases)
    print(f"{name}: halo {m.halo} packed px (bound), measured max reach {reach}")
    assert reach <= m.halo
    assert m.halo - reach < m.total_stride  # the bound is tight up to the stride phase


@pytest.mark.parametrize("name", PACKED)
def test_tiles_equal_whole_image(name):
    # What the pipeline relies on: tile origins aligned to total_stride, and a tile's output is
    # exact wherever it lies ≥ halo from the tile's edge.
    small = {"widths": (8, 8, 8, 8)} if name == "teacher" else {}  # same depth, fewer MACs
    m = create_model(name, pretrained=False, **small).eval()
    s, halo = m.total_stride, m.halo
    wt = 2 * halo + 2 * s
    wt += -wt % s
    off = 2 * s
    x = torch.rand(1, 4, 2 * s, off + wt + s) * 10
    with torch.no_grad():
        whole = m(x)
        tile = m(x[..., off : off + wt])
    assert torch.allclose(
        whole[..., off + halo : off + wt - halo], tile[..., halo : wt - halo], atol=1e-5
    )
    # and a tile whose origin is not stride-aligned does not reproduce it
    with torch.no_grad():
        bad = m(x[..., off + 1 : off + 1 + wt])
    assert not torch.allclose(
        whole[..., off + halo : off + wt - halo], bad[..., halo - 1 : wt - halo - 1], atol=1e-5
    )
