"""Explicit random generators for Sionna blocks.

Sionna 2.x blocks draw from ``sionna.phy.config.torch_rng(device)``, one global
generator per device. tokcom wants every draw to come from a generator the
caller owns (one ``--seed`` fixes data, noise and fading), so this module
installs the caller's generator as Sionna's generator for the duration of a
call. It is the only place that touches Sionna's RNG table.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from sionna.phy import config as sionna_config

__all__ = ["device_key", "sionna_rng", "make_generator", "precision_of"]


def device_key(device: torch.device | str) -> str:
    """Sionna's device string (``'cpu'``, ``'cuda:0'``) for a torch device."""
    d = torch.device(device)
    if d.type == "cuda":
        return f"cuda:{d.index if d.index is not None else torch.cuda.current_device()}"
    return d.type


def precision_of(dtype: torch.dtype) -> str:
    """Sionna precision name for a (complex or real) torch dtype."""
    return "double" if dtype in (torch.complex128, torch.float64) else "single"


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with ``seed``."""
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(int(seed))
    return g


@contextlib.contextmanager
def sionna_rng(generator: torch.Generator | None, device: torch.device | str) -> Iterator[None]:
    """Make Sionna blocks on ``device`` draw from ``generator`` inside the block.

    ``generator=None`` leaves Sionna's own generator in place.
    """
    if generator is None:
        yield
        return
    key = device_key(device)
    if device_key(generator.device) != key:
        raise ValueError(f"generator is on {generator.device}, but the tensors are on {key}")
    table = sionna_config._torch_rngs  # noqa: SLF001 - the one documented hook point
    had = key in table
    old = table.get(key)
    table[key] = generator
    try:
        yield
    finally:
        if had:
            table[key] = old
        else:
            del table[key]
