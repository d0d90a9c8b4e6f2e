"""The MLP projector of LLaVA-1.5 (``mlp2x_gelu``): TaiChi's "w/o KAN" ablation.

Example:
    >>> import torch
    >>> MLPProjector(16, 8)(torch.randn(2, 36, 16)).shape
    torch.Size([2, 36, 8])
"""
from __future__ import annotations

from torch import Tensor, nn

__all__ = ["MLPProjector"]


class MLPProjector(nn.Module):
    """``Linear(in_dim, hidden) -> GELU -> Linear(hidden, out_dim)``, applied per token.

    Args:
        in_dim: visual feature size ``C``.
        out_dim: LLM embedding size.
        hidden_dim: hidden width (default ``out_dim``, as in LLaVA-1.5).

    Shapes:
        ``(..., in_dim)`` (e.g. ``(B, N, C)``) -> ``(..., out_dim)``.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int | None = None) -> None:
        super().__init__()
        hidden = out_dim if hidden_dim is None else hidden_dim
        self.in_dim, self.out_dim, self.hidden_dim = in_dim, out_dim, hidden
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))

    @staticmethod
    def output_tokens(num_tokens: int) -> int:
        """Number of output tokens for ``num_tokens`` input tokens (unchanged)."""
        return num_tokens

    def forward(self, x: Tensor) -> Tensor:
        """``(..., in_dim)`` -> ``(..., out_dim)``."""
        return self.net(x)
