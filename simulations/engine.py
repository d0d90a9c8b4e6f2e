"""The Monte-Carlo sweep engine: one transmitter pass per batch, every SNR point per pass.

For every batch ``b`` the engine

1. draws the source data from a generator seeded by ``(seed, b, 0)``,
2. runs the transmitter ONCE,
3. applies the channel to those same symbols for *all* SNR points of the grid
   in one batched call (leading SNR dimension), with a generator seeded by
   ``(seed, b, 1)``,
4. runs the receiver and the scorer on the points that are still running.

Because every draw is a function of ``(seed, b)`` only, a point's counts do
not depend on which other points are still running, on interruptions, or on
how batches are spread over ``torchrun`` ranks. Each point stops by its own
rule (:class:`StopRule`) and is written to the results file as soon as it
finishes.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from channels.base import Channel, ChannelOutput
from channels.rng import make_generator

from .distributed import DistContext
from .results import ResultStore
from .stats import cluster_interval, interval
from .system import System, Tally

__all__ = ["StopRule", "run_sweep", "batch_seed", "slice_output", "config_dict", "CI_METHOD",
           "error_rate_interval"]

#: interval per metric; anything else (accuracy, BLER) uses Wilson.
CI_METHOD = {"ber": "clopper-pearson", "ser": "clopper-pearson"}


@dataclass
class StopRule:
    """When one SNR point has enough samples.

    A point stops at ``max_samples`` samples, or, once it has ``min_samples``,
    as soon as its primary metric has ``target_errors`` errors or its 95% CI
    half-width is at most ``target_ci``. Samples are counted in whole batches.
    """

    min_samples: int = 0
    max_samples: int = 10_000
    target_errors: int | None = None
    target_ci: float | None = None

    def __post_init__(self) -> None:
        if self.max_samples < 1:
            raise ValueError(f"max_samples must be >= 1, got {self.max_samples}")
        if self.min_samples < 0 or self.min_samples > self.max_samples:
            raise ValueError(f"min_samples must be in [0, max_samples], got {self.min_samples}")
        if self.target_errors is not None and self.target_errors < 1:
            raise ValueError(f"target_errors must be >= 1, got {self.target_errors}")
        if self.target_ci is not None and not (0 < self.target_ci < 1):
            raise ValueError(f"target_ci must be in (0, 1), got {self.target_ci}")

    def done(self, samples: int, errors: float, trials: float, method: str,
             errors_sq: float | None = None) -> bool:
        if samples >= self.max_samples:
            return True
        if samples < self.min_samples or samples == 0:
            return False
        if self.target_errors is not None and errors >= self.target_errors:
            return True
        if self.target_ci is not None:
            lo, hi = error_rate_interval(method, samples, errors, trials, errors_sq)
            if (hi - lo) / 2 <= self.target_ci:
                return True
        return False


def error_rate_interval(method: str, samples: int, errors: float, trials: float,
                        errors_sq: float | None) -> tuple[float, float]:
    """95% interval of errors/trials; cluster-robust when per-sample squares are known."""
    if errors_sq is not None and trials > samples:
        return cluster_interval(errors, trials, samples, errors_sq, method)
    return interval(errors, trials, method)


def batch_seed(seed: int, batch_index: int, stream: int) -> int:
    """A well-mixed 63-bit seed for (sweep seed, batch, stream) via NumPy's SeedSequence."""
    ss = np.random.SeedSequence([int(seed), int(batch_index), int(stream)])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def slice_output(out: ChannelOutput, index: torch.Tensor) -> ChannelOutput:
    """Select SNR points (leading dimension) from a channel output with broadcast fields."""
    def pick(t: torch.Tensor) -> torch.Tensor:
        same_lead = t.dim() == out.y.dim() and t.shape[0] == out.y.shape[0]
        return t.index_select(0, index) if same_lead else t
    return ChannelOutput(y=pick(out.y), h=pick(out.h), no=pick(out.no), err_var=pick(out.err_var))


def _receive_and_score(system: System, out: ChannelOutput, idx: torch.Tensor, batch,
                       chunk: int | None) -> dict[str, Tally]:
    """Receiver + scorer on the active points, in chunks of ``chunk`` SNR points."""
    parts = [idx] if chunk is None else list(idx.split(chunk))
    tallies: dict[str, Tally] = {}
    for part in parts:
        t = system.score(system.receive(slice_output(out, part), batch), batch)
        for m, v in t.items():
            sq = None if v.errors_sq is None else v.errors_sq.reshape(-1)
            if m in tallies:
                old = tallies[m]
                tallies[m] = Tally(torch.cat([old.errors, v.errors.reshape(-1)]), v.trials, v.kind,
                                   None if sq is None else torch.cat([old.errors_sq, sq]))
            else:
                tallies[m] = Tally(v.errors.reshape(-1), v.trials, v.kind, sq)
    return tallies


def _value(kind: str, errors: float, trials: float) -> float:
    rate = errors / trials if trials else float("nan")
    return 1.0 - rate if kind == "accuracy" else rate


def _row(system: System, channel_name: str, snr: float, metric: str, kind: str, samples: int,
         errors: float, trials: float, errors_sq: float | None, uses: int, seed: int,
         cfg_id: str) -> dict:
    lo, hi = error_rate_interval(CI_METHOD.get(metric, "wilson"), samples, errors, trials, errors_sq)
    if kind == "accuracy":
        lo, hi = 1.0 - hi, 1.0 - lo
    num_errors = int(errors) if float(errors).is_integer() else float(errors)
    return {"system": system.name, "task": system.task, "dataset": system.dataset,
            "channel": channel_name, "snr_db": float(snr), "metric": metric,
            "value": _value(kind, errors, trials), "ci_low": lo, "ci_high": hi,
            "num_samples": int(samples), "num_errors": num_errors, "num_trials": int(trials),
            "channel_uses_per_sample": int(uses), "seed": int(seed), "config_id": cfg_id}


def run_sweep(system: System, channel: Channel, snr_db: Sequence[float], *, batch_size: int,
              stop: StopRule, seed: int, device: torch.device | str = "cpu",
              store: ResultStore | None = None, dist_ctx: DistContext | None = None,
              progress: bool = True, channel_name: str | None = None,
              snr_chunk: int | None = None,
              on_batch: Callable[[int], None] | None = None) -> list[dict]:
    """Run the sweep; return the rows of the points computed in this call.

    Points already in ``store`` are skipped. ``snr_chunk``: run the receiver on
    at most this many SNR points per call (memory/cache bound receivers such
    as BP decoding); ``None`` uses ``system.preferred_snr_chunk`` if set, else
    all active points in one call. The
    transmitter still runs once per batch either way. ``on_batch(b)`` is called
    after every batch (tests use it to simulate a kill).
    """
    if snr_chunk is None:   # a system may know its receiver's sweet spot
        snr_chunk = getattr(system, "preferred_snr_chunk", None)
    if snr_chunk is not None and snr_chunk < 1:
        raise ValueError(f"snr_chunk must be >= 1, got {snr_chunk}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    snrs = [float(s) for s in snr_db]
    if not snrs:
        raise ValueError("the SNR list is empty")
    if any(not math.isfinite(s) for s in snrs):
        raise ValueError(f"SNR values must be finite numbers in dB, got {snrs}")
    if len(set(snrs)) != len(snrs):
        raise ValueError(f"the SNR list has duplicates: {snrs}")
    device = torch.device(device)
    dist_ctx = dist_ctx or DistContext()
    channel_name = channel_name or channel.name
    uses = channel.channel_uses(system.symbols_per_sample())
    cfg_id = store.config_id if store is not None else ""
    done = store.done_snrs() if store is not None else set()
    active = [i for i, s in enumerate(snrs) if s not in done]
    snr_t = torch.tensor(snrs, dtype=torch.float32, device=device).view(-1, 1)  # (S, 1)
    metrics = list(system.metrics)
    primary = metrics[0]
    # totals per point: samples, then (errors, trials, sum of squared per-sample errors) per
    # metric; a negative square sum marks "not provided"
    width = 1 + 3 * len(metrics)
    totals = {i: np.zeros(width, dtype=np.float64) for i in active}
    kinds: dict[str, str] = {}
    rows_out: list[dict] = []
    bar = tqdm(total=len(active) * stop.max_samples, unit="smp", dynamic_ncols=True,
               disable=not (progress and dist_ctx.is_main), desc=f"{system.name}/{channel_name}")
    round_index = 0
    try:
        while active:
            b = round_index * dist_ctx.world_size + dist_ctx.rank
            idx = torch.tensor(active, device=device)
            with torch.no_grad():
                batch = system.sample(batch_size, make_generator(batch_seed(seed, b, 0), device))
                x = system.transmit(batch)                                  # (B, N), once
                xs = x.unsqueeze(0).expand(len(snrs), *x.shape)             # (S, B, N)
                out = channel(xs, snr_t, generator=make_generator(batch_seed(seed, b, 1), device))
                tallies = _receive_and_score(system, out, idx, batch, snr_chunk)
            local = torch.zeros(len(active), width, dtype=torch.float64)
            local[:, 0] = float(batch_size)
            for j, m in enumerate(metrics):
                t = tallies[m]
                kinds[m] = t.kind
                local[:, 1 + 3 * j] = t.errors.detach().to("cpu", torch.float64).reshape(-1)
                local[:, 2 + 3 * j] = float(t.trials)
                local[:, 3 + 3 * j] = (-1.0 if t.errors_sq is None else
                                       t.errors_sq.detach().to("cpu", torch.float64).reshape(-1))
            reduce_dev = device if (dist_ctx.world_size > 1 and device.type == "cuda") else "cpu"
            local = dist_ctx.all_reduce_sum(local.to(reduce_dev)).cpu().numpy()
            finished = []
            for row, i in enumerate(active):
                totals[i] += local[row]
                n, e, tr, e2 = totals[i][0], totals[i][1], totals[i][2], totals[i][3]
                if stop.done(int(n), e, tr, CI_METHOD.get(primary, "wilson"), e2 if e2 >= 0 else None):
                    finished.append(i)
            bar.update(int(local[:, 0].sum()))
            lead = active[0]
            bar.set_postfix({"snr_dB": snrs[lead], "n": int(totals[lead][0]),
                             primary: f"{_value(kinds[primary], totals[lead][1], totals[lead][2]):.3g}"})
            for i in finished:
                n = int(totals[i][0])
                point_rows = [_row(system, channel_name, snrs[i], m, kinds[m], n,
                                   totals[i][1 + 3 * j], totals[i][2 + 3 * j],
                                   totals[i][3 + 3 * j] if totals[i][3 + 3 * j] >= 0 else None,
                                   uses, seed, cfg_id)
                              for j, m in enumerate(metrics)]
                rows_out.extend(point_rows)
                if store is not None and dist_ctx.is_main:
                    store.append(point_rows)
                active.remove(i)
                del totals[i]
                bar.update(max(0, stop.max_samples - n))
            if on_batch is not None:
                on_batch(b)
            round_index += 1
    finally:
        bar.close()
    return rows_out


def config_dict(stop: StopRule, batch_size: int, seed: int) -> dict:
    """The engine's part of a results configuration."""
    return {"stop": asdict(stop), "batch_size": batch_size, "seed": seed}
