"""Bilateral Attention Network (BAN) of TaiChi (paper section III.B, eqs. 5-7).

BAN fuses the global LR token stream ``V_l`` (ViT, grid ``g x g``) with the
detail HR stream ``V_h`` (ConvNeXt, grid ``rg x rg``) into ``g*g`` tokens, using
*localised* attention instead of global cross-attention:

* LR -> HR branch (eq. 6): each LR token ``V_l,i`` queries only the ``r x r``
  HR tokens of its spatially aligned window, giving ``V'_l`` at LR resolution.
* HR -> LR branch (eq. 5): each HR token queries only its aligned LR token, or
  with ``hr_neighbourhood = k`` (odd) the ``k x k`` LR neighbourhood centred on
  it (positions outside the grid are masked), giving ``V'_h`` at HR resolution.
* Fusion (eq. 7): ``V = V_l + V'_l + Pool(V'_h)``, ``Pool`` = ``r x r`` average
  pooling back to the LR grid.  The output has the LR token count.

Each branch has its own ``W_Q, W_K, W_V`` and output projection; both inputs are
first projected to the common width ``dim`` (Linear + LayerNorm), and ``V_l`` in
eq. 7 is that projected LR stream.  Tokens are row-major grids (token ``i*g+j``
is cell ``(i, j)``), as produced by :mod:`tokcom.vision`.

Implementation: the HR grid is partitioned into ``g*g`` windows of ``r*r``
tokens that become a batch dimension; the LR neighbourhoods are gathered with
``F.unfold``.  Attention-score memory is ``O(N_l * r^2 + N_h * k^2)`` per head
versus ``O(2 * N_l * N_h)`` for :class:`GlobalCrossAttention`.

Note: with ``hr_neighbourhood = 1`` the HR -> LR softmax is over a single key,
so its weights are identically 1 and ``W_Q``/``W_K`` of that branch receive an
exactly-zero gradient (the branch reduces to ``W_O W_V V_l,aligned``).  This is
eq. 5 taken literally; use ``hr_neighbourhood = 3`` for a non-degenerate branch.

Example::

    >>> import torch
    >>> from tokcom.ban import BilateralAttention
    >>> ban = BilateralAttention(lr_dim=32, hr_dim=48, dim=64, num_heads=4, lr_grid=6, ratio=2)
    >>> v_l, v_h = torch.randn(2, 36, 32), torch.randn(2, 144, 48)
    >>> ban(v_l, v_h).shape
    torch.Size([2, 36, 64])
"""
from __future__ import annotations

import abc

import math
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BilateralAttention", "GlobalCrossAttention", "hr_to_windows", "windows_to_hr"]


def hr_to_windows(x: torch.Tensor, lr_grid: int, ratio: int) -> torch.Tensor:
    """Row-major HR tokens ``(B, (g*r)^2, C)`` -> windows ``(B, g*g, r*r, C)``.

    Window ``w = a*g + b`` holds HR cells ``(a*r + u, b*r + v)`` at index ``u*r + v``.
    """
    b, n, c = x.shape
    g, r = lr_grid, ratio
    if n != (g * r) ** 2:
        raise ValueError(f"expected {(g * r) ** 2} HR tokens for lr_grid={g}, ratio={r}, got {n}")
    x = x.reshape(b, g, r, g, r, c)  # (B, a, u, b, v, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, a, b, u, v, C)
    return x.reshape(b, g * g, r * r, c)  # (B, N_l, r*r, C)


def windows_to_hr(x: torch.Tensor, lr_grid: int, ratio: int) -> torch.Tensor:
    """Inverse of :func:`hr_to_windows`: ``(B, g*g, r*r, C)`` -> ``(B, (g*r)^2, C)``."""
    b, _, _, c = x.shape
    g, r = lr_grid, ratio
    x = x.reshape(b, g, g, r, r, c)  # (B, a, b, u, v, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, a, u, b, v, C)
    return x.reshape(b, (g * r) ** 2, c)  # (B, N_h, C)


class _Base(nn.Module, metaclass=abc.ABCMeta):
    """Shared input projections, shape checks and head split/merge."""

    def __init__(
        self, lr_dim: int, hr_dim: int, dim: int, num_heads: int, lr_grid: int, ratio: int, dropout: float
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} must be divisible by num_heads {num_heads}")
        if ratio < 1 or lr_grid < 1:
            raise ValueError("lr_grid and ratio must be positive")
        self.lr_dim, self.hr_dim, self.dim = lr_dim, hr_dim, dim
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.lr_grid, self.ratio = lr_grid, ratio
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.proj_l = nn.Sequential(nn.Linear(lr_dim, dim), nn.LayerNorm(dim))
        self.proj_h = nn.Sequential(nn.Linear(hr_dim, dim), nn.LayerNorm(dim))
        # LR -> HR branch (eq. 6): queries from V_l, keys/values from V_h.
        self.q_l, self.k_l, self.v_l, self.o_l = (nn.Linear(dim, dim) for _ in range(4))
        # HR -> LR branch (eq. 5): queries from V_h, keys/values from V_l.
        self.q_h, self.k_h, self.v_h, self.o_h = (nn.Linear(dim, dim) for _ in range(4))
        self.attn_drop = nn.Dropout(dropout)

    @property
    def num_lr_tokens(self) -> int:
        return self.lr_grid ** 2

    @property
    def num_hr_tokens(self) -> int:
        return (self.lr_grid * self.ratio) ** 2

    def _project(self, v_l: torch.Tensor, v_h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if v_l.dim() != 3 or v_l.shape[1:] != (self.num_lr_tokens, self.lr_dim):
            raise ValueError(f"V_l must be (B, {self.num_lr_tokens}, {self.lr_dim}), got {tuple(v_l.shape)}")
        if v_h.dim() != 3 or v_h.shape[1:] != (self.num_hr_tokens, self.hr_dim):
            raise ValueError(f"V_h must be (B, {self.num_hr_tokens}, {self.hr_dim}), got {tuple(v_h.shape)}")
        if v_l.shape[0] != v_h.shape[0]:
            raise ValueError("V_l and V_h batch sizes differ")
        return self.proj_l(v_l), self.proj_h(v_h)  # (B, N_l, C), (B, N_h, C)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., T, C)`` -> ``(..., H, T, d)``."""
        x = x.reshape(*x.shape[:-1], self.num_heads, self.head_dim)  # (..., T, H, d)
        return x.transpose(-3, -2)  # (..., H, T, d)

    def _merge(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., H, T, d)`` -> ``(..., T, C)``."""
        x = x.transpose(-3, -2)  # (..., T, H, d)
        return x.reshape(*x.shape[:-2], self.dim)  # (..., T, C)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: "torch.Tensor | None" = None):
        """Explicit softmax attention over the last-but-one axis of ``k``/``v``."""
        s = (q @ k.transpose(-1, -2)) * self.scale  # (..., Tq, Tk)
        if mask is not None:
            s = s.masked_fill(~mask, float("-inf"))
        a = self.attn_drop(s.softmax(dim=-1))
        return a @ v  # (..., Tq, d)

    @abc.abstractmethod
    def branches(self, v_l: torch.Tensor, v_h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(V_l, V'_l, V'_h)``: projected LR tokens ``(B, N_l, dim)``,
        the LR->HR branch ``(B, N_l, dim)`` and the HR->LR branch ``(B, N_h, dim)``."""

    def forward(self, v_l: torch.Tensor, v_h: torch.Tensor) -> torch.Tensor:
        """Eq. 7: ``(B, N_l, lr_dim), (B, N_h, hr_dim) -> (B, N_l, dim)``."""
        xl, vl_prime, vh_prime = self.branches(v_l, v_h)
        pooled = hr_to_windows(vh_prime, self.lr_grid, self.ratio).mean(dim=2)  # (B, N_l, C)
        return xl + vl_prime + pooled


class BilateralAttention(_Base):
    """Localised bilateral attention (BAN), eqs. 5-7.

    Args:
        lr_dim: width of the LR tokens ``V_l``.
        hr_dim: width of the HR tokens ``V_h``.
        dim: common width (output width).
        num_heads: attention heads (divide ``dim``).
        lr_grid: LR grid side ``g`` (``N_l = g^2``).
        ratio: HR/LR grid ratio ``r`` (``N_h = (g r)^2``).
        hr_neighbourhood: odd ``k``; each HR token attends to the ``k x k`` LR
            tokens centred on its aligned one (1 = the aligned token only).
        dropout: dropout on the attention weights.

    Shapes: ``V_l (B, N_l, lr_dim)``, ``V_h (B, N_h, hr_dim)`` -> ``(B, N_l, dim)``.
    """

    def __init__(
        self,
        lr_dim: int,
        hr_dim: int,
        dim: int,
        num_heads: int,
        lr_grid: int,
        ratio: int,
        hr_neighbourhood: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(lr_dim, hr_dim, dim, num_heads, lr_grid, ratio, dropout)
        if hr_neighbourhood < 1 or hr_neighbourhood % 2 == 0:
            raise ValueError(f"hr_neighbourhood must be a positive odd integer, got {hr_neighbourhood}")
        self.hr_neighbourhood = hr_neighbourhood
        # Validity of each of the k*k neighbours of every LR cell (False outside the grid).
        ones = torch.ones(1, 1, lr_grid, lr_grid)
        valid = F.unfold(ones, hr_neighbourhood, padding=hr_neighbourhood // 2)  # (1, k*k, N_l)
        self.register_buffer("nbr_mask", valid[0].t().bool(), persistent=False)  # (N_l, k*k)

    def _neighbourhoods(self, x: torch.Tensor) -> torch.Tensor:
        """LR tokens ``(B, N_l, C)`` -> zero-padded ``k x k`` neighbourhoods ``(B, N_l, k*k, C)``."""
        b, n, c = x.shape
        k, g = self.hr_neighbourhood, self.lr_grid
        if k == 1:
            return x.unsqueeze(2)  # (B, N_l, 1, C)
        grid = x.transpose(1, 2).reshape(b, c, g, g)  # (B, C, g, g)
        cols = F.unfold(grid, k, padding=k // 2)  # (B, C*k*k, N_l)
        return cols.reshape(b, c, k * k, n).permute(0, 3, 2, 1)  # (B, N_l, k*k, C)

    def _windows(self, v_l: torch.Tensor, v_h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``xl (B, N_l, C)``, ``V'_l (B, N_l, C)`` and the HR->LR branch before
        its output projection, as windows ``(B, N_l, r*r, C)``."""
        xl, xh = self._project(v_l, v_h)  # (B, N_l, C), (B, N_h, C)
        xh_w = hr_to_windows(xh, self.lr_grid, self.ratio)  # (B, N_l, r*r, C)

        # --- LR -> HR (eq. 6): one query per window, r*r keys.
        q = self._heads(self.q_l(xl).unsqueeze(2))  # (B, N_l, H, 1, d)
        k = self._heads(self.k_l(xh_w))  # (B, N_l, H, r*r, d)
        v = self._heads(self.v_l(xh_w))  # (B, N_l, H, r*r, d)
        vl_prime = self.o_l(self._merge(self._attend(q, k, v)).squeeze(2))  # (B, N_l, C)

        # --- HR -> LR (eq. 5): r*r queries per window share the window's k*k LR keys.
        # Project LR tokens first, then gather neighbourhoods (padding rows are masked).
        q = self._heads(self.q_h(xh_w))  # (B, N_l, H, r*r, d)
        k = self._heads(self._neighbourhoods(self.k_h(xl)))  # (B, N_l, H, k*k, d)
        v = self._heads(self._neighbourhoods(self.v_h(xl)))  # (B, N_l, H, k*k, d)
        mask = None
        if self.hr_neighbourhood > 1:
            mask = self.nbr_mask[None, :, None, None, :]  # (1, N_l, 1, 1, k*k)
        vh_win = self._merge(self._attend(q, k, v, mask))  # (B, N_l, r*r, C)
        return xl, vl_prime, vh_win

    def branches(self, v_l: torch.Tensor, v_h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        xl, vl_prime, vh_win = self._windows(v_l, v_h)
        vh_prime = windows_to_hr(self.o_h(vh_win), self.lr_grid, self.ratio)  # (B, N_h, C)
        return xl, vl_prime, vh_prime

    def forward(self, v_l: torch.Tensor, v_h: torch.Tensor) -> torch.Tensor:
        """Eq. 7: ``(B, N_l, lr_dim), (B, N_h, hr_dim) -> (B, N_l, dim)``.

        ``Pool(W_O x) = W_O Pool(x)`` (affine map, mean pooling), so the window
        mean is taken before the HR branch's output projection (r^2 fewer rows).
        """
        xl, vl_prime, vh_win = self._windows(v_l, v_h)
        return xl + vl_prime + self.o_h(vh_win.mean(dim=2))  # (B, N_l, C)


class GlobalCrossAttention(_Base):
    """Baseline: dense (global) cross-attention in both directions + the eq. 7 fusion.

    Every LR token attends to all ``N_h`` HR tokens and every HR token to all
    ``N_l`` LR tokens (standard multi-head attention with separate Q/K/V/O per
    direction).  Same constructor and shapes as :class:`BilateralAttention`
    (minus ``hr_neighbourhood``).  ``fused=True`` uses
    ``F.scaled_dot_product_attention`` (may avoid materialising the scores);
    the default materialises them, like ``nn.MultiheadAttention`` with weights.
    """

    def __init__(
        self,
        lr_dim: int,
        hr_dim: int,
        dim: int,
        num_heads: int,
        lr_grid: int,
        ratio: int,
        dropout: float = 0.0,
        fused: bool = False,
    ) -> None:
        super().__init__(lr_dim, hr_dim, dim, num_heads, lr_grid, ratio, dropout)
        self.fused = fused
        self.dropout = dropout

    def _mha(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if self.fused:
            p = self.dropout if self.training else 0.0
            return F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        return self._attend(q, k, v)

    def branches(self, v_l: torch.Tensor, v_h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        xl, xh = self._project(v_l, v_h)  # (B, N_l, C), (B, N_h, C)
        q, k, v = self._heads(self.q_l(xl)), self._heads(self.k_l(xh)), self._heads(self.v_l(xh))
        # q (B, H, N_l, d); k, v (B, H, N_h, d); scores (B, H, N_l, N_h)
        vl_prime = self.o_l(self._merge(self._mha(q, k, v)))  # (B, N_l, C)
        q, k, v = self._heads(self.q_h(xh)), self._heads(self.k_h(xl)), self._heads(self.v_h(xl))
        # q (B, H, N_h, d); k, v (B, H, N_l, d); scores (B, H, N_h, N_l)
        vh_prime = self.o_h(self._merge(self._mha(q, k, v)))  # (B, N_h, C)
        return xl, vl_prime, vh_prime
