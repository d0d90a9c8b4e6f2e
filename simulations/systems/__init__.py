"""Registry of simulated systems, chosen by name (``--system NAME``).

Each entry builds a :class:`simulations.system.System` from plain keyword
arguments. Unknown names raise ``ValueError`` listing the valid ones.
"""
from __future__ import annotations

from typing import Callable

from ..system import System

__all__ = ["REGISTRY", "get", "names"]


def _bits(**kw) -> System:
    from .bits import BitsSystem
    return BitsSystem(**kw)


def _taichi(**kw) -> System:
    from .taichi import build_taichi_system
    return build_taichi_system(**kw)


REGISTRY: dict[str, Callable[..., System]] = {
    "bits": _bits,
    "taichi": _taichi,
}


def names() -> list[str]:
    return sorted(REGISTRY)


def get(name: str, **params) -> System:
    """Build the system registered as ``name``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown system {name!r}; valid systems: {', '.join(names())}")
    try:
        return REGISTRY[name](**params)
    except TypeError as e:
        raise ValueError(f"bad parameters for system {name!r}: {e}") from None
