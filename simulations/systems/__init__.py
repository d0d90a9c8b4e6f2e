"""Registry of simulated systems, chosen by name (``--system NAME``).

Each entry builds a :class:`simulations.system.System` from plain keyword
arguments. Unknown names raise ``ValueError`` listing the valid ones.
"""
from __future__ import annotations

from typing import Callable

from ..system import System

__all__ = ["REGISTRY", "get", "names", "TAICHI_NAMES", "DEEPSC_NAMES", "answer_system_names"]


def _bits(**kw) -> System:
    from .bits import BitsSystem
    return BitsSystem(**kw)


def _taichi(name: str) -> Callable[..., System]:
    def build(**kw) -> System:
        from .taichi import build_taichi_system
        return build_taichi_system(name=name, **kw)
    return build


def _deepsc(name: str) -> Callable[..., System]:
    def build(**kw) -> System:
        from .deepsc import build_deepsc_system
        return build_deepsc_system(name, **kw)
    return build


def _bits_taichi(**kw) -> System:
    from .bits_taichi import build_bits_taichi_system
    return build_bits_taichi_system(**kw)


#: TaiChi-architecture systems (default checkpoints in simulations.systems.taichi.TAICHI_SYSTEMS)
TAICHI_NAMES = ("taichi", "taichi-joint", "taichi-separate", "taichi-vlm", "taichi-noban",
                "taichi-mlp", "mobilevlm")
#: the DeepSC-family baselines (simulations.systems.deepsc)
DEEPSC_NAMES = ("deepsc", "t-deepsc", "u-deepsc", "deepsc-vqa")

REGISTRY: dict[str, Callable[..., System]] = {
    "bits": _bits,
    **{n: _taichi(n) for n in TAICHI_NAMES},
    **{n: _deepsc(n) for n in DEEPSC_NAMES},
    "bits-taichi": _bits_taichi,
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


def answer_system_names() -> list[str]:
    """Systems that answer questions about a dataset (take the dataset/checkpoint flags)."""
    return [*TAICHI_NAMES, *DEEPSC_NAMES, "bits-taichi"]
