"""Registry of simulated systems, chosen by name (``--system NAME``).

Each entry builds a :class:`simulations.system.System` from plain keyword
arguments. Unknown names raise ``ValueError`` listing the valid ones.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..system import System

__all__ = ["REGISTRY", "get", "names", "TAICHI_CHECKPOINTS", "DEEPSC_TASKS", "TAICHI_NAMES",
           "DEEPSC_NAMES", "answer_system_names", "repo_path", "REPO"]

REPO = Path(__file__).resolve().parents[2]

#: TaiChi-architecture systems -> their default checkpoint (repository-relative).
#: ``variants/``: the connector (BAN, projector) retrained on the shipped checkpoint's towers and
#: LM (``make variants``): ``taichi-vlm``/``-noban``/``-mlp`` stop after SFT (Table III),
#: ``taichi-joint``/``taichi-separate`` continue ``taichi-vlm`` with joint (stage 2) or separate
#: (``2sep``) channel coding (Fig. 12), ``mobilevlm`` is the single-encoder system (ViT + LDP).
TAICHI_CHECKPOINTS: dict[str, str] = {
    "taichi": "checkpoints/taichi-tiny",
    "taichi-joint": "checkpoints/variants/taichi-joint",
    "taichi-separate": "checkpoints/variants/taichi-separate",
    "taichi-vlm": "checkpoints/variants/taichi-vlm",
    "taichi-noban": "checkpoints/variants/taichi-noban-vlm",
    "taichi-mlp": "checkpoints/variants/taichi-mlp-vlm",
    "mobilevlm": "checkpoints/variants/mobilevlm",
}
#: the DeepSC-family baselines (checkpoints in ``checkpoints/baselines/``) -> the tasks they serve
DEEPSC_TASKS: dict[str, tuple[str, ...]] = {
    "deepsc": ("classify",), "t-deepsc": ("vqa", "classify"),
    "u-deepsc": ("vqa", "classify"), "deepsc-vqa": ("vqa",)}
TAICHI_NAMES = tuple(TAICHI_CHECKPOINTS)
DEEPSC_NAMES = tuple(DEEPSC_TASKS)


def repo_path(relative: str) -> Path:
    return REPO / relative


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
