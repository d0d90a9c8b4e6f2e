"""Benchmark: efficient :class:`KANLinear` vs a naive loop-over-outputs KAN layer.

Times forward + backward (gradients of the parameters and the input) of

* ``efficient``: :class:`~tokcom.projector.kan.KANLinear`, Cox-de Boor basis
  vectorised over ``(batch, in, basis)`` and ONE spline matmul;
* ``naive``: :class:`NaiveKANLinear`, the obvious direct transcription of
  eq. 8: the same parameters and the same basis evaluation (computed once),
  then a Python loop over the output features, each summing
  ``phi_{j,i}(x_i)`` over its edges with element-wise products (vectorised
  over the batch and ``i`` only), so the ratio isolates loop vs one matmul;
* ``mlp``: an :class:`~tokcom.projector.mlp.MLPProjector`-sized
  ``nn.Linear`` for scale (one layer, same in/out).

Run::

    python -m tokcom.projector.bench --batch 8 --tokens 36 --in-dim 256 --out-dim 256 --grid-size 5
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .kan import KANLinear

__all__ = ["NaiveKANLinear", "main", "run_benchmark", "time_fwd_bwd"]


class NaiveKANLinear(nn.Module):
    """Loop-over-output-features KAN layer sharing a :class:`KANLinear`'s parameters.

    ``y[..., j] = sum_i (w_b[j,i] SiLU(x_i) + w_s[j,i] sum_m c[j,i,m] B_m(u_i))``,
    one output feature per Python iteration.

    Shapes: ``(..., in)`` -> ``(..., out)``.
    """

    def __init__(self, ref: KANLinear) -> None:
        super().__init__()
        self.ref = ref

    def forward(self, x: Tensor) -> Tensor:
        r = self.ref
        silu = F.silu(x)  # (..., in)
        basis = r.basis(x)  # (..., in, G+k)
        cols = []
        for j in range(r.out_features):
            base_j = (r.base_weight[j] * silu).sum(-1)
            spline_j = (r.spline_scaler[j] * (basis * r.spline_weight[j]).sum(-1)).sum(-1)
            cols.append(base_j + spline_j)
        return torch.stack(cols, dim=-1)


def time_fwd_bwd(fn: Callable[[Tensor], Tensor], x: Tensor, *, repeats: int, warmup: int = 1) -> list[float]:
    """Wall times (s) of ``fn(x).square().mean().backward()``, ``repeats`` runs after ``warmup``."""
    times = []
    for it in range(warmup + repeats):
        xi = x.detach().requires_grad_(True)
        t0 = time.perf_counter()
        fn(xi).square().mean().backward()
        dt = time.perf_counter() - t0
        if it >= warmup:
            times.append(dt)
    return times


def run_benchmark(
    *,
    batch: int = 8,
    tokens: int = 36,
    in_dim: int = 256,
    out_dim: int = 256,
    grid_size: int = 5,
    spline_order: int = 3,
    repeats: int = 5,
    naive_repeats: int = 2,
    warmup: int = 1,
    seed: int = 0,
) -> dict[str, float]:
    """Time the three layers.

    Returns:
        ``{name: median s, name + "_min": min s}`` for ``efficient``, ``naive``,
        ``linear``, plus ``ratio_naive_over_efficient`` (of the medians),
        ``ratio_min`` (of the minima) and ``max_abs_diff`` (forward outputs).
    """
    torch.manual_seed(seed)
    eff = KANLinear(in_dim, out_dim, grid_size=grid_size, spline_order=spline_order)
    naive = NaiveKANLinear(eff)
    lin = nn.Linear(in_dim, out_dim)
    x = torch.randn(batch, tokens, in_dim)
    with torch.no_grad():
        max_diff = (eff(x) - naive(x)).abs().max().item()
    res: dict[str, float] = {"max_abs_diff": max_diff}
    plan = (("efficient", eff, repeats, warmup), ("naive", naive, naive_repeats, 0), ("linear", lin, repeats, warmup))
    for name, mod, n, w in plan:
        mod.zero_grad(set_to_none=True)
        times = time_fwd_bwd(mod, x, repeats=n, warmup=w)
        res[name], res[name + "_min"] = statistics.median(times), min(times)
    res["ratio_naive_over_efficient"] = res["naive"] / res["efficient"]
    res["ratio_min"] = res["naive_min"] / res["efficient_min"]
    return res


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; prints the timings and returns 0."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=36)
    ap.add_argument("--in-dim", type=int, default=256)
    ap.add_argument("--out-dim", type=int, default=256)
    ap.add_argument("--grid-size", type=int, default=5)
    ap.add_argument("--spline-order", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--naive-repeats", type=int, default=2, help="timed runs of the (slow) naive layer, no warm-up")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave as is)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    res = run_benchmark(
        batch=a.batch, tokens=a.tokens, in_dim=a.in_dim, out_dim=a.out_dim, grid_size=a.grid_size,
        spline_order=a.spline_order, repeats=a.repeats, naive_repeats=a.naive_repeats, warmup=a.warmup,
        seed=a.seed,
    )
    print(
        f"KANLinear fwd+bwd  x=({a.batch}, {a.tokens}, {a.in_dim}) -> {a.out_dim}, "
        f"grid {a.grid_size}, order {a.spline_order}, {torch.get_num_threads()} threads, "
        f"{a.repeats} runs ({a.naive_repeats} naive)"
    )
    print(f"  {'':10}  {'median ms':>10}  {'min ms':>10}")
    for name, label in (("efficient", "efficient"), ("naive", "naive"), ("linear", "nn.Linear")):
        print(f"  {label:10}  {res[name] * 1e3:10.2f}  {res[name + '_min'] * 1e3:10.2f}")
    print(
        f"  naive / efficient = {res['ratio_naive_over_efficient']:.1f}x (median), "
        f"{res['ratio_min']:.1f}x (min); max |diff| = {res['max_abs_diff']:.2e}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
