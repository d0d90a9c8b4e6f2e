"""Scale-out of the Monte-Carlo loop under ``torchrun``.

Launched as ``torchrun --nproc_per_node N -m simulations.snr_sweep ...``, each
rank processes the batches ``b`` with ``b % N == rank`` (seeds depend only on
``b``, so ranks draw disjoint samples and the union equals the 1-process
run's batches) and the per-point counts are summed with ``all_reduce`` after
every round of N batches. gloo on CPU, NCCL on CUDA.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistContext", "init_from_env"]


@dataclass
class DistContext:
    """Rank and world size (``world_size == 1``: no process group)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        """Sum ``t`` over ranks (in place for world_size > 1); returns ``t``."""
        if self.world_size > 1:
            # gloo reduces CPU tensors; NCCL needs them on the rank's GPU
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def init_from_env(device: torch.device) -> DistContext:
    """Join the process group that ``torchrun`` describes in the environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank = int(os.environ["RANK"])
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistContext(rank=rank, world_size=world)
