"""Benchmark: localised BAN vs. global cross-attention (forward + backward).

For every grid configuration both fusion modules (:class:`tokcom.ban.BilateralAttention`
and :class:`tokcom.ban.GlobalCrossAttention`, same widths and heads) are run
forward + backward on random tokens and we report

* ``time_s``      - median wall time of one forward+backward (after one warm-up);
* ``attn_mib``    - analytic size of the attention-score tensors of one forward
  (BAN: ``B*H*(N_l*r^2 + N_h*k^2)``; global: ``B*H*2*N_l*N_h`` elements);
* ``saved_mib``   - measured bytes of the non-parameter tensors autograd keeps for
  backward (``torch.autograd.graph.saved_tensors_hooks``, deduplicated by
  storage): the activation memory, measurable on CPU too;
* ``peak_mib``    - ``torch.cuda.max_memory_allocated`` during the step (CUDA only).

Configurations (``--configs``): ``small`` (LR 6x6, r=2, dim 64), ``paper-r2``
(LR 24x24 = 576 tokens as CLIP ViT-L/14-336, HR 48x48 = 2304, lr_dim 1024,
hr_dim 1536, dim 1024, 16 heads, batch 1) and ``paper-r4`` (HR 96x96 = 9216).
A model whose analytic attention memory exceeds ``--max-attn-gib`` is skipped
and reported as such.

Example::

    python -m tokcom.ban_bench --configs small paper-r2 paper-r4 --repeats 3
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence

import torch

from .ban import BilateralAttention, GlobalCrossAttention

__all__ = ["BenchConfig", "CONFIGS", "attention_elements", "run_one", "main"]


@dataclass(frozen=True)
class BenchConfig:
    """One grid configuration."""

    name: str
    lr_grid: int
    ratio: int
    lr_dim: int
    hr_dim: int
    dim: int
    num_heads: int
    batch: int = 1

    @property
    def n_lr(self) -> int:
        return self.lr_grid ** 2

    @property
    def n_hr(self) -> int:
        return (self.lr_grid * self.ratio) ** 2


CONFIGS: Dict[str, BenchConfig] = {
    "small": BenchConfig("small", lr_grid=6, ratio=2, lr_dim=64, hr_dim=64, dim=64, num_heads=4, batch=2),
    "paper-r2": BenchConfig("paper-r2", lr_grid=24, ratio=2, lr_dim=1024, hr_dim=1536, dim=1024, num_heads=16),
    "paper-r4": BenchConfig("paper-r4", lr_grid=24, ratio=4, lr_dim=1024, hr_dim=1536, dim=1024, num_heads=16),
}


def attention_elements(cfg: BenchConfig, kind: str, hr_neighbourhood: int = 1) -> int:
    """Number of attention-score elements of one forward pass (both branches)."""
    h, b = cfg.num_heads, cfg.batch
    if kind == "ban":
        return b * h * (cfg.n_lr * cfg.ratio ** 2 + cfg.n_hr * hr_neighbourhood ** 2)
    if kind == "global":
        return b * h * 2 * cfg.n_lr * cfg.n_hr
    raise ValueError(kind)


def _build(cfg: BenchConfig, kind: str, hr_neighbourhood: int) -> torch.nn.Module:
    args = (cfg.lr_dim, cfg.hr_dim, cfg.dim, cfg.num_heads, cfg.lr_grid, cfg.ratio)
    if kind == "ban":
        return BilateralAttention(*args, hr_neighbourhood=hr_neighbourhood)
    return GlobalCrossAttention(*args)


def run_one(
    cfg: BenchConfig,
    kind: str,
    *,
    hr_neighbourhood: int = 1,
    repeats: int = 3,
    device: str = "cpu",
    max_attn_gib: float = 8.0,
) -> Dict[str, object]:
    """Benchmark one (config, model kind) pair; returns a flat result dict."""
    elems = attention_elements(cfg, kind, hr_neighbourhood)
    res: Dict[str, object] = dict(
        config=cfg.name, model=kind, k=hr_neighbourhood if kind == "ban" else None,
        n_lr=cfg.n_lr, n_hr=cfg.n_hr, batch=cfg.batch, dim=cfg.dim, heads=cfg.num_heads,
        attn_mib=round(elems * 4 / 2 ** 20, 2),
    )
    if elems * 4 > max_attn_gib * 2 ** 30:
        res["skipped"] = f"analytic attention memory {elems * 4 / 2 ** 30:.2f} GiB > --max-attn-gib {max_attn_gib}"
        return res
    torch.manual_seed(0)
    model = _build(cfg, kind, hr_neighbourhood).to(device)
    res["params_m"] = round(sum(p.numel() for p in model.parameters()) / 1e6, 3)
    v_l = torch.randn(cfg.batch, cfg.n_lr, cfg.lr_dim, device=device)
    v_h = torch.randn(cfg.batch, cfg.n_hr, cfg.hr_dim, device=device)
    param_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}
    cuda = device.startswith("cuda")

    def step(measure: bool) -> float:
        model.zero_grad(set_to_none=True)
        seen: Dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            st = t.untyped_storage()
            ptr = st.data_ptr()
            if ptr not in param_ptrs and ptr not in seen:
                seen[ptr] = st.nbytes()
            return t

        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        t0 = time.perf_counter()
        if measure:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                out = model(v_l, v_h)
        else:
            out = model(v_l, v_h)
        out.float().square().mean().backward()
        if cuda:
            torch.cuda.synchronize()
            res["peak_mib"] = round((torch.cuda.max_memory_allocated() - base) / 2 ** 20, 1)
        dt = time.perf_counter() - t0
        if measure:
            res["saved_mib"] = round(sum(seen.values()) / 2 ** 20, 1)
        return dt

    step(measure=True)  # warm-up + saved-tensor measurement
    times = [step(measure=False) for _ in range(max(1, repeats))]
    res["time_s"] = round(statistics.median(times), 4)
    return res


def _fmt(rows: List[Dict[str, object]]) -> str:
    cols = ["config", "model", "k", "n_lr", "n_hr", "params_m", "attn_mib", "saved_mib", "peak_mib", "time_s"]
    lines = [" | ".join(f"{c:>9}" for c in cols)]
    for r in rows:
        if "skipped" in r:
            lines.append(" | ".join(f"{str(r.get(c, '')):>9}" for c in cols[:7]) + f" | SKIPPED: {r['skipped']}")
        else:
            lines.append(" | ".join(f"{str(r.get(c, '-')):>9}" for c in cols))
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> List[Dict[str, object]]:
    """CLI entry point; returns the list of result dicts (also printed as a table)."""
    ap = argparse.ArgumentParser(prog="python -m tokcom.ban_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", nargs="+", default=["small", "paper-r2", "paper-r4"], choices=sorted(CONFIGS))
    ap.add_argument("--models", nargs="+", default=["ban", "global"], choices=["ban", "global"])
    ap.add_argument("--k", nargs="+", type=int, default=[1, 3], help="BAN hr_neighbourhood values")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--max-attn-gib", type=float, default=8.0,
                    help="skip a model whose analytic attention-score memory exceeds this")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args(argv)

    rows: List[Dict[str, object]] = []
    for name in args.configs:
        cfg = CONFIGS[name]
        for kind in args.models:
            for k in (args.k if kind == "ban" else [1]):
                rows.append(run_one(cfg, kind, hr_neighbourhood=k, repeats=args.repeats,
                                    device=args.device, max_attn_gib=args.max_attn_gib))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(f"device={args.device} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"configs={[asdict(CONFIGS[n]) for n in args.configs]}")
    print(_fmt(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":  # pragma: no cover
    main()
