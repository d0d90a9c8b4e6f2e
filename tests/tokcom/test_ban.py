"""Tests for the Bilateral Attention Network (tokcom.ban) and its benchmark."""
from __future__ import annotations

import math

import pytest
import torch

from tokcom.ban import BilateralAttention, GlobalCrossAttention, hr_to_windows, windows_to_hr

G, R, LR_DIM, HR_DIM, DIM, HEADS = 4, 2, 12, 20, 16, 4
N_L, N_H = G * G, (G * R) ** 2


def _ban(k: int = 1, **kw) -> BilateralAttention:
    torch.manual_seed(0)
    return BilateralAttention(LR_DIM, HR_DIM, DIM, HEADS, G, R, hr_neighbourhood=k, **kw).eval()


def _global() -> GlobalCrossAttention:
    torch.manual_seed(0)
    return GlobalCrossAttention(LR_DIM, HR_DIM, DIM, HEADS, G, R).eval()


def _inputs(b: int = 2):
    gen = torch.Generator().manual_seed(1)
    return torch.randn(b, N_L, LR_DIM, generator=gen), torch.randn(b, N_H, HR_DIM, generator=gen)


def _hr_index(a: int, b: int) -> torch.Tensor:
    """Row-major HR token indices of the window aligned with LR cell (a, b)."""
    rows = torch.arange(a * R, a * R + R)
    cols = torch.arange(b * R, b * R + R)
    return (rows[:, None] * (G * R) + cols[None, :]).flatten()


# ---------------------------------------------------------------- shapes
def test_window_roundtrip_and_alignment():
    x = torch.randn(2, N_H, 3)
    w = hr_to_windows(x, G, R)
    assert w.shape == (2, N_L, R * R, 3)
    assert torch.equal(windows_to_hr(w, G, R), x)
    torch.testing.assert_close(w[:, 1 * G + 2], x[:, _hr_index(1, 2)])


@pytest.mark.parametrize("make", [lambda: _ban(1), lambda: _ban(3), _global])
def test_shapes(make):
    m = make()
    v_l, v_h = _inputs()
    out = m(v_l, v_h)
    assert out.shape == (2, N_L, DIM) and out.dtype == torch.float32
    xl, vl, vh = m.branches(v_l, v_h)
    assert xl.shape == vl.shape == (2, N_L, DIM) and vh.shape == (2, N_H, DIM)
    # eq. 7 with explicit r x r average pooling of V'_h
    torch.testing.assert_close(out, xl + vl + hr_to_windows(vh, G, R).mean(2), atol=1e-6, rtol=1e-5)


def test_rejects_bad_shapes_and_args():
    m = _ban()
    v_l, v_h = _inputs()
    with pytest.raises(ValueError):
        m(v_l[:, :-1], v_h)
    with pytest.raises(ValueError):
        m(v_l, v_h[..., :-1])
    with pytest.raises(ValueError):
        BilateralAttention(LR_DIM, HR_DIM, DIM, HEADS, G, R, hr_neighbourhood=2)
    with pytest.raises(ValueError):
        BilateralAttention(LR_DIM, HR_DIM, 18, HEADS, G, R)


# ---------------------------------------------------------------- locality
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("cell", [(1, 2), (0, 0), (3, 3)])
def test_hr_window_perturbation_is_local(k, cell):
    m = _ban(k)
    v_l, v_h = _inputs()
    v_h2 = v_h.clone()
    v_h2[:, _hr_index(*cell)] += torch.randn(2, R * R, HR_DIM)
    with torch.no_grad():
        diff = (m(v_l, v_h2) - m(v_l, v_h)).abs().amax(dim=(0, 2))  # (N_L,)
    w = cell[0] * G + cell[1]
    assert diff[w] > 1e-3
    others = torch.ones(N_L, dtype=torch.bool)
    others[w] = False
    assert diff[others].max() < 1e-6


@pytest.mark.parametrize("k", [1, 3])
def test_lr_perturbation_reaches_exactly_the_neighbourhood(k):
    m = _ban(k)
    v_l, v_h = _inputs()
    a, b = 1, 0
    v_l2 = v_l.clone()
    v_l2[:, a * G + b] += torch.randn(2, LR_DIM)
    with torch.no_grad():
        diff = (m(v_l2, v_h) - m(v_l, v_h)).abs().amax(dim=(0, 2)).reshape(G, G)
    changed = diff > 1e-6
    expected = torch.zeros(G, G, dtype=torch.bool)
    h = k // 2
    expected[max(a - h, 0): a + h + 1, max(b - h, 0): b + h + 1] = True
    assert torch.equal(changed, expected)


def test_global_baseline_is_not_local():
    m = _global()
    v_l, v_h = _inputs()
    v_h2 = v_h.clone()
    v_h2[:, _hr_index(1, 2)] += torch.randn(2, R * R, HR_DIM)
    with torch.no_grad():
        diff = (m(v_l, v_h2) - m(v_l, v_h)).abs().amax(dim=(0, 2))
    assert (diff > 1e-6).all()  # every LR output token sees the perturbed window


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("make,zero", [
    (lambda: _ban(3), set()),
    # k = 1: softmax over a single key is identically 1 -> W_Q/W_K of the HR branch get zero grad.
    (lambda: _ban(1), {"q_h.weight", "q_h.bias", "k_h.weight", "k_h.bias"}),
    (_global, set()),
])
def test_every_parameter_gets_a_gradient(make, zero):
    m = make()
    v_l, v_h = _inputs()
    out = m(v_l, v_h)
    (out * torch.randn_like(out)).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        if name in zero:
            assert p.grad.abs().max() == 0, name
        else:
            assert p.grad.abs().sum() > 0, name


def test_dropout_only_in_training():
    m = _ban(3, dropout=0.5)
    v_l, v_h = _inputs()
    with torch.no_grad():
        assert torch.equal(m(v_l, v_h), m(v_l, v_h))
        m.train()
        torch.manual_seed(0)
        a = m(v_l, v_h)
        b = m(v_l, v_h)
    assert not torch.equal(a, b)


# ---------------------------------------------------------------- brute-force references
def _heads_attend(q: torch.Tensor, keys: torch.Tensor, vals: torch.Tensor) -> torch.Tensor:
    """q (C,), keys/vals (T, C) -> (C,) by looping over heads explicitly."""
    d = DIM // HEADS
    outs = []
    for h in range(HEADS):
        sl = slice(h * d, (h + 1) * d)
        w = torch.softmax(keys[:, sl] @ q[sl] / math.sqrt(d), dim=0)  # (T,)
        outs.append(w @ vals[:, sl])
    return torch.cat(outs)


def test_lr_branch_matches_bruteforce():
    m = _ban(1)
    v_l, v_h = _inputs()
    with torch.no_grad():
        _, vl_prime, _ = m.branches(v_l, v_h)
        xl, xh = m.proj_l(v_l), m.proj_h(v_h)
        for bi in range(v_l.shape[0]):
            for a in range(G):
                for b in range(G):
                    win = xh[bi, _hr_index(a, b)]  # (r*r, C)
                    o = _heads_attend(m.q_l(xl[bi, a * G + b]), m.k_l(win), m.v_l(win))
                    torch.testing.assert_close(vl_prime[bi, a * G + b], m.o_l(o), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("k", [1, 3])
def test_hr_branch_matches_bruteforce(k):
    m = _ban(k)
    v_l, v_h = _inputs(1)
    with torch.no_grad():
        _, _, vh_prime = m.branches(v_l, v_h)
        xl, xh = m.proj_l(v_l)[0], m.proj_h(v_h)[0]
        gh, h = G * R, k // 2
        for i in range(gh):
            for j in range(gh):
                a, b = i // R, j // R
                nb = [ai * G + bj for ai in range(a - h, a + h + 1) for bj in range(b - h, b + h + 1)
                      if 0 <= ai < G and 0 <= bj < G]  # valid LR neighbours only
                keys = xl[nb]
                o = _heads_attend(m.q_h(xh[i * gh + j]), m.k_h(keys), m.v_h(keys))
                torch.testing.assert_close(vh_prime[0, i * gh + j], m.o_h(o), atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- benchmark smoke test
def test_bench_main_small(tmp_path):
    from tokcom.ban_bench import CONFIGS, attention_elements, main

    out = tmp_path / "bench.json"
    rows = main(["--configs", "small", "--repeats", "1", "--json", str(out)])
    assert out.exists() and len(rows) == 3  # ban k=1, ban k=3, global
    assert all(r["time_s"] > 0 and r["saved_mib"] > 0 for r in rows)
    cfg = CONFIGS["paper-r4"]
    assert attention_elements(cfg, "global") == 16 * 2 * 576 * 9216
    assert attention_elements(cfg, "ban", 3) == 16 * (576 * 16 + 9216 * 9)
    skipped = main(["--configs", "small", "--models", "global", "--repeats", "1", "--max-attn-gib", "0"])
    assert "skipped" in skipped[0]
