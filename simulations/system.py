"""The small contract between the sweep engine and a simulated system.

A *system* is a transmitter, a receiver and a scorer around one channel. The
engine (:mod:`simulations.engine`) owns the SNR loop, seeds, stopping rules,
confidence intervals and the results file; a system only implements::

    batch   = system.sample(batch_size, generator)   # source data, on system.device
    x       = system.transmit(batch)                  # (B, N) complex, unit average power
    est     = system.receive(out, batch)              # out: ChannelOutput with leading SNR dim (S, B, N)
    tallies = system.score(est, batch)                # {metric: Tally(errors (S,), trials)}

``receive`` may use only ``out`` (what crossed the channel plus the receiver's
CSI) and the receiver's own configuration; ``batch`` is passed so that a
receiver can read *shapes* it would know by protocol (never the payload). The
scorer compares ``est`` with ``batch``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import torch

from channels.base import ChannelOutput

__all__ = ["Tally", "System", "MetricKind"]

# "error_rate": value = errors / trials (BER, BLER, SER); lower is better.
# "accuracy":   value = 1 - errors / trials (errors = wrong answers); higher is better.
MetricKind = Literal["error_rate", "accuracy"]


@dataclass
class Tally:
    """Per-SNR error counts of one metric for one batch.

    Attributes:
        errors: (S,) integer tensor, errors per SNR point (wrong bits, wrong blocks, wrong answers).
        trials: trials per SNR point in this batch (bits, blocks, questions).
        kind: how errors/trials become the reported value (see ``MetricKind``).
        errors_sq: optional (S,) tensor, the sum over the batch's samples of the squared
            per-sample error count. When one sample holds many trials (the bits of one
            codeword or fading block) the trials are correlated; with ``errors_sq`` the
            engine widens the interval to a cluster-robust one (samples as clusters).
    """

    errors: torch.Tensor
    trials: int
    kind: MetricKind = "error_rate"
    errors_sq: torch.Tensor | None = None


@runtime_checkable
class System(Protocol):
    """What the engine needs from a system (see module docstring)."""

    name: str
    task: str
    dataset: str
    #: metric names in report order; the first is the primary metric that
    #: ``target_errors`` and ``target_ci`` refer to.
    metrics: tuple[str, ...]

    def sample(self, batch_size: int, generator: torch.Generator) -> Any: ...

    def transmit(self, batch: Any) -> torch.Tensor: ...

    def receive(self, out: ChannelOutput, batch: Any) -> Any: ...

    def score(self, estimate: Any, batch: Any) -> dict[str, Tally]: ...

    def symbols_per_sample(self) -> int:
        """Complex data symbols one example puts on the channel (before pilots)."""
        ...

    def describe(self) -> dict:
        """Parameters that identify the system in a results file (JSON-serialisable)."""
        ...
