"""MLP / LDP projectors, the registry and the KAN benchmark entry point."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from tokcom.projector import (
    PROJECTORS,
    KANLinear,
    KANProjector,
    LDPProjector,
    MLPProjector,
    build_projector,
)
from tokcom.projector import bench
from tokcom.projector.ldp import InvertedResidual


def test_mlp_projector_structure_and_shapes():
    torch.manual_seed(0)
    proj = MLPProjector(12, 8)
    kinds = [type(m) for m in proj.net]
    assert kinds == [nn.Linear, nn.GELU, nn.Linear]
    assert (proj.net[0].in_features, proj.net[0].out_features, proj.net[2].out_features) == (12, 8, 8)
    assert MLPProjector(12, 8, hidden_dim=20).net[0].out_features == 20
    x = torch.randn(2, 9, 12)
    y = proj(x)
    assert y.shape == (2, 9, 8)
    want = proj.net[2](torch.nn.functional.gelu(proj.net[0](x)))
    torch.testing.assert_close(y, want)
    assert proj.output_tokens(9) == 9


@pytest.mark.parametrize("g", [1, 2, 5, 6, 7, 24])
def test_ldp_shapes(g):
    torch.manual_seed(0)
    proj = LDPProjector(12, 8)
    y = proj(torch.randn(2, g * g, 12))
    side = (g + 1) // 2
    assert y.shape == (2, side * side, 8)
    assert proj.output_tokens(g * g) == side * side


@pytest.mark.parametrize("n", [0, 2, 35, 37])
def test_ldp_rejects_non_square(n):
    proj = LDPProjector(4, 4)
    with pytest.raises(ValueError, match="square"):
        proj(torch.randn(1, n, 4))
    with pytest.raises(ValueError):
        proj.output_tokens(n)


def test_ldp_structure_and_gradients():
    torch.manual_seed(0)
    proj = LDPProjector(6, 8)
    assert [type(m) for m in proj.mlp] == [nn.Linear, nn.GELU, nn.Linear]
    b1, b2 = proj.mb_block
    assert isinstance(b1, InvertedResidual) and b1.has_skip and b1.conv_dw.stride == (1, 1)
    assert isinstance(b2, InvertedResidual) and not b2.has_skip and b2.conv_dw.stride == (2, 2)
    assert b1.conv_dw.groups == 8  # depthwise
    with pytest.raises(ValueError):
        proj(torch.randn(36, 6))  # not (B, N, C)
    x = torch.randn(2, 16, 6, requires_grad=True)
    proj(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in proj.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    # batch elements do not mix
    x2 = torch.randn(3, 16, 6)
    torch.testing.assert_close(proj(x2)[1:2], proj(x2[1:2]))
    with_act = LDPProjector(6, 8, norm_act=nn.Hardswish, se=False)
    assert isinstance(with_act.mb_block[0].act1, nn.Hardswish)
    assert isinstance(with_act.mb_block[0].se, nn.Identity)
    assert with_act(torch.randn(1, 9, 6)).shape == (1, 4, 8)


def test_registry():
    assert set(PROJECTORS) == {"kan", "mlp", "ldp"}
    x = torch.randn(2, 16, 12)
    expected_tokens = {"kan": 16, "mlp": 16, "ldp": 4}
    for name in PROJECTORS:
        proj = build_projector(name, 12, 8)
        assert isinstance(proj, nn.Module)
        assert proj(x).shape == (2, expected_tokens[name], 8)
        assert proj.output_tokens(16) == expected_tokens[name]
    kan = build_projector("kan", 12, 8)
    assert isinstance(kan, KANProjector) and kan.dims == [12, 8, 8]
    assert all(isinstance(l, KANLinear) for l in kan.layers) and len(kan.layers) == 2
    kan2 = build_projector("KAN", 12, 8, hidden_dim=5, grid_size=3, input_norm="none")
    assert kan2.dims == [12, 5, 8]
    assert all(l.grid_size == 3 and l.input_norm == "none" for l in kan2.layers)
    assert build_projector("mlp", 12, 8, hidden_dim=6).net[0].out_features == 6
    with pytest.raises(ValueError) as err:
        build_projector("qformer", 12, 8)
    for name in ("kan", "mlp", "ldp"):
        assert name in str(err.value)


def test_bench_runs_and_agrees():
    res = bench.run_benchmark(batch=2, tokens=3, in_dim=6, out_dim=5, grid_size=3, repeats=1, naive_repeats=1)
    assert res["max_abs_diff"] < 1e-5
    for key in ("efficient", "naive", "linear", "ratio_naive_over_efficient"):
        assert res[key] > 0
    assert bench.main(["--batch", "1", "--tokens", "2", "--in-dim", "4", "--out-dim", "3", "--repeats", "1",
                       "--naive-repeats", "1"]) == 0
