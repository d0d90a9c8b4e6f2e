"""KANLinear / KAN against a per-edge, scalar-by-scalar reference (eqs. 8-10)."""
from __future__ import annotations

import math

import pytest
import torch

from tokcom.projector.kan import KAN, KANLinear, KANProjector, b_spline_basis, uniform_knots


# ---------------------------------------------------------------- reference --
def ref_knots(grid_size: int, k: int, lo: float, hi: float) -> list[float]:
    h = (hi - lo) / grid_size
    return [lo + (j - k) * h for j in range(grid_size + 2 * k + 1)]


def ref_bspline(x: float, t: list[float], i: int, p: int) -> float:
    """B_{i,p}(x), the textbook recursive Cox-de Boor formula."""
    if p == 0:
        return 1.0 if t[i] <= x < t[i + 1] else 0.0
    left = (x - t[i]) / (t[i + p] - t[i]) * ref_bspline(x, t, i, p - 1)
    right = (t[i + p + 1] - x) / (t[i + p + 1] - t[i + 1]) * ref_bspline(x, t, i + 1, p - 1)
    return left + right


def ref_silu(x: float) -> float:
    return x / (1.0 + math.exp(-x))


def ref_kan_linear(layer: KANLinear, x: torch.Tensor) -> torch.Tensor:
    """out[n, j] = sum_i phi_{j,i}(x[n, i]), one edge and one scalar at a time."""
    lo, hi = layer.grid_range
    k, G = layer.spline_order, layer.grid_size
    t = ref_knots(G, k, lo, hi)
    wb = layer.base_weight.detach().tolist()
    ws = layer.spline_scaler.detach().tolist()
    c = layer.spline_weight.detach().tolist()
    out = []
    for row in x.tolist():
        if layer.input_norm == "tanh":
            u = [(lo + hi) / 2 + (hi - lo) / 2 * math.tanh(v) for v in row]
        elif layer.input_norm == "layernorm":
            mean = sum(row) / len(row)
            var = sum((v - mean) ** 2 for v in row) / len(row)
            g = layer.norm.weight.detach().tolist()
            b = layer.norm.bias.detach().tolist()
            u = [(v - mean) / math.sqrt(var + layer.norm.eps) * g[i] + b[i] for i, v in enumerate(row)]
        else:
            u = list(row)
        y = []
        for j in range(layer.out_features):
            acc = 0.0
            for i in range(layer.in_features):
                spline = sum(c[j][i][m] * ref_bspline(u[i], t, m, k) for m in range(G + k))
                acc += wb[j][i] * ref_silu(row[i]) + ws[j][i] * spline
            y.append(acc)
        out.append(y)
    return torch.tensor(out, dtype=torch.float64)


def randomise(layer: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))


# -------------------------------------------------------------------- tests --
@pytest.mark.parametrize(
    "input_norm, grid_size, spline_order, grid_range",
    [
        ("none", 5, 3, (-1.0, 1.0)),
        ("tanh", 5, 3, (-1.0, 1.0)),
        ("layernorm", 5, 3, (-1.0, 1.0)),
        ("none", 4, 2, (-0.5, 2.0)),
        ("tanh", 3, 1, (0.0, 3.0)),
    ],
)
def test_matches_per_edge_reference(input_norm, grid_size, spline_order, grid_range):
    torch.manual_seed(0)
    layer = KANLinear(
        4, 3, grid_size=grid_size, spline_order=spline_order, grid_range=grid_range, input_norm=input_norm
    ).double()
    randomise(layer, seed=1)
    lo, hi = grid_range
    h = (hi - lo) / grid_size
    ext_lo, ext_hi = lo - spline_order * h, hi + spline_order * h
    x = torch.empty(7, 4, dtype=torch.float64).uniform_(ext_lo - 1.0, ext_hi + 1.0)
    # inside, at the edges, in the extension and beyond the extended grid
    x[0] = torch.tensor([lo, hi, 0.5 * (lo + hi), lo + 0.3 * h], dtype=torch.float64)
    x[1] = torch.tensor([lo - 0.5 * h, hi + 0.5 * h, ext_lo - 0.1, ext_hi + 0.1], dtype=torch.float64)
    x[2] = torch.tensor([-7.0, 9.0, ext_hi + 3.0, ext_lo - 5.0], dtype=torch.float64)
    got = layer(x)
    want = ref_kan_linear(layer, x)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_out_of_grid_behaviour():
    kw = dict(grid_size=5, spline_order=3, grid_range=(-1.0, 1.0))
    none = KANLinear(2, 1, input_norm="none", **kw).double()
    far = torch.tensor([[10.0, -10.0]], dtype=torch.float64)
    assert none.basis(far).abs().sum() == 0  # only the SiLU branch remains
    tanh = KANLinear(2, 1, input_norm="tanh", **kw).double()
    b = tanh.basis(far)
    torch.testing.assert_close(b.sum(-1), torch.ones(1, 2, dtype=torch.float64))


@pytest.mark.parametrize("spline_order", [1, 2, 3])
def test_partition_of_unity(spline_order):
    G, lo, hi = 5, -1.0, 2.0
    t = uniform_knots(G, spline_order, (lo, hi), dtype=torch.float64)
    assert t.shape == (G + 2 * spline_order + 1,)
    x = torch.cat([torch.linspace(lo, hi, 101, dtype=torch.float64), torch.tensor([lo, hi], dtype=torch.float64)])
    b = b_spline_basis(x, t, spline_order)
    assert b.shape == (x.numel(), G + spline_order)
    assert (b >= 0).all()
    torch.testing.assert_close(b.sum(-1), torch.ones_like(x), atol=1e-12, rtol=0)
    h = (hi - lo) / G
    # partial in the extension, zero beyond the extended grid
    ext = b_spline_basis(torch.tensor([lo - 0.5 * h, hi + 0.5 * h], dtype=torch.float64), t, spline_order)
    assert (ext.sum(-1) < 1).all() and (ext.sum(-1) > 0).all()
    out = b_spline_basis(torch.tensor([lo - (spline_order + 0.1) * h, hi + (spline_order + 0.1) * h]), t, spline_order)
    assert out.abs().sum() == 0


@pytest.mark.parametrize("input_norm", ["tanh", "layernorm", "none"])
def test_gradients_reach_every_parameter(input_norm):
    torch.manual_seed(0)
    model = KAN([6, 5, 3], input_norm=input_norm)
    x = torch.randn(2, 4, 6, requires_grad=True)
    model(x).pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    names = [n for n, _ in model.named_parameters()]
    assert any("spline_weight" in n for n in names) and any("spline_scaler" in n for n in names)
    if input_norm == "layernorm":
        assert any("norm" in n for n in names)
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_shapes_and_leading_dims():
    torch.manual_seed(0)
    layer = KANLinear(8, 5)
    x = torch.randn(2, 3, 8)
    y = layer(x)
    assert y.shape == (2, 3, 5)
    torch.testing.assert_close(y.reshape(6, 5), layer(x.reshape(6, 8)))
    assert layer(torch.randn(8)).shape == (5,)
    assert layer(torch.randn(4, 2, 3, 8)).shape == (4, 2, 3, 5)
    assert layer.basis(x).shape == (2, 3, 8, 5 + 3)
    with pytest.raises(ValueError):
        layer(torch.randn(2, 7))


def test_kan_stack_and_projector():
    torch.manual_seed(0)
    model = KAN([8, 6, 4], grid_size=3)
    assert [(l.in_features, l.out_features, l.grid_size) for l in model.layers] == [(8, 6, 3), (6, 4, 3)]
    x = torch.randn(2, 9, 8)
    torch.testing.assert_close(model(x), model.layers[1](model.layers[0](x)))
    proj = KANProjector(8, 4)
    assert proj.dims == [8, 4, 4]
    assert KANProjector(8, 4, hidden_dim=16).dims == [8, 16, 4]
    assert proj(x).shape == (2, 9, 4)
    with pytest.raises(ValueError):
        KAN([8])


def test_init_and_validation():
    torch.manual_seed(0)
    layer = KANLinear(64, 32)
    assert layer.spline_weight.shape == (32, 64, 8)
    assert layer.base_weight.abs().max() <= 1 / math.sqrt(64) + 1e-6
    assert layer.spline_weight.std() < 0.05  # small random splines
    assert torch.equal(layer.spline_scaler, torch.ones(32, 64))
    assert "knots" not in layer.state_dict()
    for bad in (dict(grid_size=0), dict(spline_order=-1), dict(grid_range=(1.0, 1.0)), dict(input_norm="x")):
        with pytest.raises(ValueError):
            KANLinear(2, 2, **bad)


@pytest.mark.parametrize("spline_order", [0, 1, 2, 3, 4])
def test_uniform_basis_matches_general_cox_de_boor(spline_order):
    from tokcom.projector.kan import uniform_b_spline_basis

    G, rng = 6, (-0.5, 1.5)
    t = uniform_knots(G, spline_order, rng, dtype=torch.float64)
    x = torch.linspace(-4.0, 5.0, 181, dtype=torch.float64)
    want = b_spline_basis(x, t, spline_order)
    got = uniform_b_spline_basis(x, G, spline_order, rng)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


@pytest.mark.parametrize("spline_order", [1, 2, 3])
def test_uniform_basis_gradient(spline_order):
    from tokcom.projector.kan import uniform_b_spline_basis

    G, rng = 4, (-1.0, 1.0)
    h = (rng[1] - rng[0]) / G
    # away from knots (kinks for order 1), inside, in the extension and outside
    x = torch.tensor([-0.93, -0.41, 0.07, 0.66, 0.99, -1.27, 1.52, -3.1, 4.3], dtype=torch.float64)
    assert ((x / h) - torch.round(x / h)).abs().min() > 1e-3
    fn = lambda v: uniform_b_spline_basis(v, G, spline_order, rng)
    assert torch.autograd.gradcheck(fn, (x.clone().requires_grad_(True),), eps=1e-6, atol=1e-6)
