"""Modality projectors of TaiChi: visual tokens -> LLM embedding space.

Registry:

* ``"kan"``: :class:`KANProjector`, a 2-layer KAN ``[in_dim, hidden, out_dim]``
  (TaiChi, sec. III.C); ``(B, N, in_dim) -> (B, N, out_dim)``.
* ``"mlp"``: :class:`MLPProjector`, LLaVA-1.5's 2-layer GELU MLP (the
  "w/o KAN" ablation); ``(B, N, in_dim) -> (B, N, out_dim)``.
* ``"ldp"``: :class:`LDPProjector`, MobileVLM's lightweight downsample
  projector; ``(B, g*g, in_dim) -> (B, ceil(g/2)**2, out_dim)``.

Every projector has ``output_tokens(num_tokens) -> int``.

Example:
    >>> import torch
    >>> proj = build_projector("kan", 16, 8, grid_size=4)
    >>> proj(torch.randn(2, 36, 16)).shape
    torch.Size([2, 36, 8])
"""
from __future__ import annotations

from typing import Any, Callable

from torch import nn

from .kan import KAN, KANLinear, KANProjector, b_spline_basis, uniform_b_spline_basis, uniform_knots
from .ldp import LDPProjector
from .mlp import MLPProjector

__all__ = [
    "KAN",
    "KANLinear",
    "KANProjector",
    "LDPProjector",
    "MLPProjector",
    "PROJECTORS",
    "b_spline_basis",
    "build_projector",
    "uniform_b_spline_basis",
    "uniform_knots",
]

#: name -> constructor ``(in_dim, out_dim, **kwargs) -> nn.Module``.
PROJECTORS: dict[str, Callable[..., nn.Module]] = {
    "kan": KANProjector,
    "mlp": MLPProjector,
    "ldp": LDPProjector,
}


def build_projector(name: str, in_dim: int, out_dim: int, **kwargs: Any) -> nn.Module:
    """Build the projector registered as ``name`` mapping ``in_dim`` to ``out_dim`` features.

    Args:
        name: one of ``PROJECTORS`` (``"kan"``, ``"mlp"``, ``"ldp"``), case-insensitive.
        in_dim: visual feature size.
        out_dim: LLM embedding size.
        **kwargs: constructor options, e.g. ``hidden_dim`` (kan, mlp),
            ``grid_size``/``spline_order``/``input_norm`` (kan),
            ``norm_act``/``se`` (ldp).

    Raises:
        ValueError: unknown ``name`` (the message lists the valid names).
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in PROJECTORS:
        raise ValueError(f"unknown projector {name!r}; valid names: {', '.join(sorted(PROJECTORS))}")
    return PROJECTORS[key](in_dim, out_dim, **kwargs)
