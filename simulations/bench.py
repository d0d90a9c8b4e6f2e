"""Benchmarks (not tests): each figure is a ratio against the obvious alternative, same run.

    python -m simulations.bench                    # all, CPU
    python -m simulations.bench --only channel --device cuda

1. ``sweep``: the engine's SNR-batched pass (transmitter once per batch, the
   channel and receiver batched over all SNR points) against a naive loop
   that re-runs source, transmitter, channel and receiver per SNR point.
2. ``channel``: channel throughput in complex samples/s for AWGN and Rayleigh
   against a plain memory copy of the same tensor (the bandwidth bound).

Prints a Markdown table and writes it to ``--out`` (CSV) when given.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

import channels
from channels.rng import make_generator
from simulations import systems
from simulations.engine import StopRule, run_sweep

__all__ = ["main", "bench_sweep", "bench_channels", "timeit"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn: Callable[[], object], device: torch.device, repeat: int = 3) -> float:
    """Best wall time of ``repeat`` runs after one warm-up run (seconds)."""
    fn()
    _sync(device)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def bench_sweep(device: torch.device, snrs: list[float], batch_size: int, batches: int,
                system_name: str, system_kw: dict, snr_chunk: int | None = None) -> list[dict]:
    """SNR-batched engine vs per-SNR loop on the same system, channel and sample budget."""
    system = systems.get(system_name, device=device, **system_kw)
    channel = channels.get("rayleigh")
    stop = StopRule(max_samples=batch_size * batches)

    def batched():
        run_sweep(system, channel, snrs, batch_size=batch_size, stop=stop, seed=0,
                  device=device, progress=False, snr_chunk=snr_chunk)

    def naive():
        with torch.no_grad():
            for snr in snrs:
                for b in range(batches):
                    batch = system.sample(batch_size, make_generator(b, device))
                    x = system.transmit(batch).unsqueeze(0)
                    out = channel(x, torch.tensor([[snr]], device=device),
                                  generator=make_generator(10_000 + b, device))
                    system.score(system.receive(out, batch), batch)

    t_b, t_n = timeit(batched, device, 2), timeit(naive, device, 2)
    n = len(snrs) * batch_size * batches
    chunk = "all" if snr_chunk is None else snr_chunk
    desc = (f"{system_name} {system_kw}, rayleigh, {len(snrs)} SNR pts x "
            f"{batch_size * batches} samples, receiver chunk {chunk}")
    return [{"benchmark": "sweep", "case": desc, "variant": "SNR-batched engine", "seconds": t_b,
             "rate": n / t_b, "unit": "samples/s", "ratio_vs_baseline": t_n / t_b},
            {"benchmark": "sweep", "case": desc, "variant": "per-SNR loop (baseline)",
             "seconds": t_n, "rate": n / t_n, "unit": "samples/s", "ratio_vs_baseline": 1.0}]


def bench_channels(device: torch.device, num_samples: int) -> list[dict]:
    """Complex samples/s through AWGN and Rayleigh vs ``clone()`` of the same tensor."""
    g = make_generator(0, device)
    x = torch.randn(num_samples // 1024, 1024, dtype=torch.complex64, device=device, generator=g)
    rows = []
    t_copy = timeit(lambda: x.clone(), device, 5)
    case = f"{num_samples:.1e} complex64 samples on {device.type}"
    rows.append({"benchmark": "channel", "case": case, "variant": "memory copy (bound)",
                 "seconds": t_copy, "rate": x.numel() / t_copy, "unit": "samples/s",
                 "ratio_vs_baseline": 1.0})
    for name, kw in [("awgn", {}), ("rayleigh", {}), ("rayleigh", {"coherence": "symbol"})]:
        ch = channels.get(name, **kw)
        t = timeit(lambda: ch(x, 10.0, generator=g), device, 5)
        label = name + (f" ({kw['coherence']})" if kw else "")
        rows.append({"benchmark": "channel", "case": case, "variant": label, "seconds": t,
                     "rate": x.numel() / t, "unit": "samples/s", "ratio_vs_baseline": t_copy / t})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulations.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=["sweep", "channel"], default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--snr", type=float, nargs="+", default=[float(s) for s in range(0, 21, 2)],
                   help="SNR points in dB for the sweep benchmark")
    p.add_argument("--batch-size", type=int, default=100, help="codewords per batch")
    p.add_argument("--batches", type=int, default=2, help="batches per SNR point")
    p.add_argument("--system", choices=["bits", "taichi"], default="bits",
                   help="system for the sweep benchmark (taichi: the shipped checkpoint if present)")
    p.add_argument("--coding", choices=["ldpc", "none"], default="ldpc", help="[bits] channel code")
    p.add_argument("--snr-chunk", type=int, default=None, help="receiver chunk in SNR points")
    p.add_argument("--channel-samples", type=int, default=2 ** 22,
                   help="complex samples per channel call")
    p.add_argument("--out", default=None, help="write the table as CSV here")
    ns = p.parse_args(argv)
    device = torch.device(ns.device)
    torch.set_num_threads(torch.get_num_threads())
    rows: list[dict] = []
    if ns.only in (None, "channel"):
        rows += bench_channels(device, ns.channel_samples)
    if ns.only in (None, "sweep"):
        kw = {"coding": ns.coding, "modulation": "16qam"} if ns.system == "bits" else {}
        rows += bench_sweep(device, ns.snr, ns.batch_size, ns.batches, ns.system, kw, ns.snr_chunk)
    df = pd.DataFrame(rows)
    print(f"# tokcom benchmarks ({device.type}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__})")
    print(df.to_markdown(index=False, floatfmt=".4g") if _has_tabulate() else df.to_string())
    if ns.out:
        Path(ns.out).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(ns.out, index=False)
    return 0


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
        return True
    except ImportError:
        return False


if __name__ == "__main__":
    sys.exit(main())
