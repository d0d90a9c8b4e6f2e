"""Kolmogorov-Arnold Network (KAN) layers: TaiChi's modality projector (sec. III.C).

A KAN layer with ``d_in`` inputs and ``d_out`` outputs (eq. 8) computes

    f_j(x) = sum_{i=1}^{d_in} phi_{j,i}(x_i),                 j = 1..d_out

with one learnable univariate function per edge (eqs. 9-10):

    phi_{j,i}(x) = w_b[j,i] * SiLU(x) + w_s[j,i] * sum_m c[j,i,m] * B_m(u(x))

where ``B_m`` are B-splines of order ``k`` (``spline_order``, 3 = cubic) on a
uniform grid of ``G`` (``grid_size``) intervals over ``grid_range = (lo, hi)``,
extended by ``k`` knots on both sides, which gives ``G + k`` basis functions
per input feature; ``u(x)`` is the spline input (see "Out-of-grid inputs").

Efficient evaluation
--------------------
No per-edge Python loops: the basis of every input feature is evaluated at
once with the Cox-de Boor recursion, vectorised over a
``(batch, in_features, basis)`` tensor (specialised to the uniform grid,
:func:`uniform_b_spline_basis`; :func:`b_spline_basis` is the general-knot
form); the per-edge scale ``w_s`` is folded
into the coefficients ``c`` and the spline branch is ONE matmul of the
flattened ``(batch, in*(G+k))`` basis with an ``(in*(G+k), out)`` matrix.
The base branch is ``F.linear(SiLU(x), w_b)``. The basis is an autograd
function whose backward is the analytic B-spline derivative (cheaper than
replaying the recursion; first-order gradients only, no double backward).

Out-of-grid inputs
------------------
B-splines are only non-zero on the extended grid
``[lo - k*h, hi + k*h]`` (``h = (hi - lo) / G``) and sum to one only on
``[lo, hi]``. What a layer does with other inputs is set by ``input_norm``,
which acts on the spline branch only (the base branch always sees raw ``x``):

* ``"tanh"`` (default): ``u = (lo+hi)/2 + (hi-lo)/2 * tanh(x)``, squashing
  every real input into the open grid range ``(lo, hi)`` (the whole range is
  covered: ``tanh`` spans ``(-1, 1)`` and is scaled onto it). Every finite
  feature keeps a spline term; large ``|x|`` saturate to the edge value of the
  spline.
* ``"layernorm"``: ``u = LayerNorm(x)`` over the features (learnable affine).
  Features then usually fall inside the grid, but those beyond the extended
  grid get a zero spline term (as with ``"none"``).
* ``"none"``: ``u = x``. Inputs outside the extended grid get a zero spline
  term (only the SiLU branch remains); between ``[lo, hi]`` and the extended
  grid edges the basis is partial (sums to less than one).

Example:
    >>> import torch
    >>> layer = KANLinear(16, 8)
    >>> layer(torch.randn(2, 36, 16)).shape
    torch.Size([2, 36, 8])
    >>> KAN([16, 32, 8])(torch.randn(5, 16)).shape
    torch.Size([5, 8])
"""
from __future__ import annotations

import math
from typing import Any, Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "InputNorm",
    "KAN",
    "KANLinear",
    "KANProjector",
    "b_spline_basis",
    "uniform_b_spline_basis",
    "uniform_knots",
]

InputNorm = Literal["tanh", "layernorm", "none"]
_INPUT_NORMS: tuple[str, ...] = ("tanh", "layernorm", "none")


def uniform_knots(
    grid_size: int,
    spline_order: int,
    grid_range: tuple[float, float] = (-1.0, 1.0),
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Knot vector of a uniform grid extended by ``spline_order`` knots per side.

    Returns:
        Tensor of shape ``(grid_size + 2*spline_order + 1,)`` with knots
        ``lo + (j - k) * h``, ``h = (hi - lo) / grid_size``, ``j = 0..G+2k``.
    """
    lo, hi = float(grid_range[0]), float(grid_range[1])
    h = (hi - lo) / grid_size
    j = torch.arange(-spline_order, grid_size + spline_order + 1, dtype=torch.float64)
    return (lo + j * h).to(dtype=dtype or torch.get_default_dtype(), device=device)


def b_spline_basis(x: Tensor, knots: Tensor, spline_order: int) -> Tensor:
    """All B-spline basis functions of order ``spline_order`` at ``x`` (Cox-de Boor).

    Vectorised over every element of ``x`` and every basis function; the
    order-0 bases use half-open intervals ``[t_j, t_{j+1})``.

    Args:
        x: any shape ``(...)``.
        knots: increasing knot vector, shape ``(n,)``.
        spline_order: ``k >= 0`` (3 = cubic).

    Returns:
        Tensor of shape ``(..., n - 1 - k)``; entry ``m`` is ``B_{m,k}(x)``.
        Zero outside ``[t_0, t_{n-1})``; sums to one on ``[t_k, t_{n-1-k}]``.
    """
    x = x.unsqueeze(-1)
    t = knots.to(dtype=x.dtype, device=x.device)
    bases = ((x >= t[:-1]) & (x < t[1:])).to(x.dtype)
    for p in range(1, spline_order + 1):
        left = (x - t[: -(p + 1)]) / (t[p:-1] - t[: -(p + 1)])
        right = (t[p + 1 :] - x) / (t[p + 1 :] - t[1:-p])
        bases = left * bases[..., :-1] + right * bases[..., 1:]
    return bases


class _UniformBSplineFn(torch.autograd.Function):
    """Unnormalised uniform B-splines ``U_k = k! B_k`` of grid positions ``s``.

    Forward: the Cox-de Boor recursion (no autograd graph). Backward: the
    analytic derivative ``dU_{j,k}/ds = k (U_{j,k-1} - U_{j+1,k-1})``, so the
    backward pass costs a few element-wise ops instead of replaying the
    recursion. Once differentiable (no double backward).
    """

    @staticmethod
    def forward(ctx: Any, s: Tensor, num_intervals: int, k: int) -> Tensor:
        j = torch.arange(num_intervals, dtype=s.dtype, device=s.device)
        d = s.unsqueeze(-1) - j  # (..., n_int): d_j = s - j
        bases = (torch.floor(s).unsqueeze(-1) == j).to(s.dtype)
        prev = bases
        for p in range(1, k + 1):
            m = num_intervals - p
            prev = bases
            bases = d[..., :m] * prev[..., :-1]
            bases.addcmul_(p - d[..., 1 : m + 1], prev[..., 1:])
        ctx.k = k
        ctx.save_for_backward(prev if k > 0 else None)
        return bases

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None, None]:
        if ctx.k == 0 or not ctx.needs_input_grad[0]:
            return None, None, None
        (prev,) = ctx.saved_tensors
        grad_s = (grad * (prev[..., :-1] - prev[..., 1:])).sum(-1) * ctx.k
        return grad_s, None, None


def uniform_b_spline_basis(
    x: Tensor,
    grid_size: int,
    spline_order: int,
    grid_range: tuple[float, float] = (-1.0, 1.0),
    *,
    normalise: bool = True,
) -> Tensor:
    """:func:`b_spline_basis` on :func:`uniform_knots`, specialised to uniform knots.

    The same Cox-de Boor recursion, vectorised over ``(..., basis)``, with the
    knots ``t_j = t_0 + j*h`` substituted: with ``s = (x - t_0)/h`` and
    ``d_j = s - j``, ``k! B_{j,k}`` follows from
    ``U_{j,p} = d_j U_{j,p-1} + (p - d_{j+1}) U_{j+1,p-1}`` (``U_p = p! B_p``),
    with no knot tensors and no divisions. The gradient w.r.t. ``x`` is the
    analytic B-spline derivative ``dB_{j,k}/dx = (B_{j,k-1} - B_{j+1,k-1}) / h``
    (no double backward; ``k = 0`` has zero gradient).

    Args:
        x: any shape ``(...)``.
        normalise: if False, skip the constant ``1/k!`` (the caller folds it
            into the coefficients), returning ``k! * B``.

    Returns:
        Tensor of shape ``(..., grid_size + spline_order)``.
    """
    lo, hi = float(grid_range[0]), float(grid_range[1])
    k = spline_order
    h = (hi - lo) / grid_size
    s = (x - (lo - k * h)) * (1.0 / h)
    bases = _UniformBSplineFn.apply(s, grid_size + 2 * k, k)
    if normalise and k > 1:
        bases = bases * (1.0 / math.factorial(k))
    return bases


class KANLinear(nn.Module):
    """One Kolmogorov-Arnold layer (eqs. 8-10), evaluated with one spline matmul.

    Args:
        in_features: ``d_in``.
        out_features: ``d_out``.
        grid_size: number of grid intervals ``G`` over ``grid_range``.
        spline_order: B-spline order ``k`` (3 = cubic).
        grid_range: ``(lo, hi)`` of the (non-extended) grid.
        input_norm: how the spline input is formed from ``x``: ``"tanh"``,
            ``"layernorm"`` or ``"none"`` (see the module docstring).
        base_activation: class of the base-branch activation (``nn.SiLU``).
        spline_init_scale: std of the initial spline coefficients is
            ``spline_init_scale / sqrt(in_features)`` (small random splines).

    Parameters:
        base_weight: ``w_b``, shape ``(out, in)``, Kaiming-uniform like
            ``nn.Linear`` (bound ``1/sqrt(in)``).
        spline_weight: ``c``, shape ``(out, in, G + k)``.
        spline_scaler: ``w_s``, per-edge scale, shape ``(out, in)``, init 1.

    Shapes:
        input ``(..., in_features)`` (e.g. ``(B, T, C)``) ->
        output ``(..., out_features)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        grid_size: int = 5,
        spline_order: int = 3,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        input_norm: InputNorm = "tanh",
        base_activation: type[nn.Module] = nn.SiLU,
        spline_init_scale: float = 0.1,
    ) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"in/out features must be >= 1, got {in_features}, {out_features}")
        if grid_size < 1:
            raise ValueError(f"grid_size must be >= 1, got {grid_size}")
        if spline_order < 0:
            raise ValueError(f"spline_order must be >= 0, got {spline_order}")
        lo, hi = float(grid_range[0]), float(grid_range[1])
        if not lo < hi:
            raise ValueError(f"grid_range must satisfy lo < hi, got {grid_range}")
        if input_norm not in _INPUT_NORMS:
            raise ValueError(f"input_norm must be one of {_INPUT_NORMS}, got {input_norm!r}")

        self.in_features = in_features
        self.out_features = out_features
        self.grid_size = grid_size
        self.spline_order = spline_order
        self.grid_range = (lo, hi)
        self.input_norm = input_norm
        self.spline_init_scale = spline_init_scale
        self.num_basis = grid_size + spline_order

        # The extended knot vector (inspection, b_spline_basis); derived from the
        # hyper-parameters, so not stored in state_dict. forward() uses the
        # uniform closed form of the same knots.
        self.register_buffer("knots", uniform_knots(grid_size, spline_order, (lo, hi)), persistent=False)
        self.norm: nn.LayerNorm | None = nn.LayerNorm(in_features) if input_norm == "layernorm" else None
        self.base_activation = base_activation()

        self.base_weight = nn.Parameter(torch.empty(out_features, in_features))
        self.spline_weight = nn.Parameter(torch.empty(out_features, in_features, self.num_basis))
        self.spline_scaler = nn.Parameter(torch.empty(out_features, in_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform ``w_b``, ``N(0, (scale/sqrt(in))^2)`` ``c``, unit ``w_s``."""
        nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5))
        nn.init.normal_(self.spline_weight, std=self.spline_init_scale / math.sqrt(self.in_features))
        nn.init.ones_(self.spline_scaler)
        if self.norm is not None:
            self.norm.reset_parameters()

    def spline_input(self, x: Tensor) -> Tensor:
        """``u(x)``, the input of the spline branch, shape as ``x`` ``(..., in)``."""
        if self.input_norm == "tanh":
            lo, hi = self.grid_range
            return 0.5 * (lo + hi) + 0.5 * (hi - lo) * torch.tanh(x)
        if self.norm is not None:
            return self.norm(x)
        return x

    def basis(self, x: Tensor) -> Tensor:
        """B-spline basis of ``u(x)``: ``(..., in)`` -> ``(..., in, G + k)``."""
        return self._basis(x, normalise=True)

    def _basis(self, x: Tensor, normalise: bool) -> Tensor:
        return uniform_b_spline_basis(
            self.spline_input(x), self.grid_size, self.spline_order, self.grid_range, normalise=normalise
        )

    def scaled_spline_weight(self, factor: float = 1.0) -> Tensor:
        """``factor * w_s[j,i] * c[j,i,m]`` as the ``(out, in*(G+k))`` spline matmul matrix."""
        w = self.spline_weight * (self.spline_scaler.unsqueeze(-1) * factor)
        return w.reshape(self.out_features, -1)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., in_features)`` -> ``(..., out_features)``."""
        if x.shape[-1] != self.in_features:
            raise ValueError(f"expected last dim {self.in_features}, got shape {tuple(x.shape)}")
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        base = F.linear(self.base_activation(x2), self.base_weight)
        # 1/k! of the uniform basis is folded into the (small) coefficient matrix.
        basis = self._basis(x2, normalise=False).reshape(x2.shape[0], -1)
        spline = F.linear(basis, self.scaled_spline_weight(1.0 / math.factorial(self.spline_order)))
        return (base + spline).reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"grid_size={self.grid_size}, spline_order={self.spline_order}, "
            f"grid_range={self.grid_range}, input_norm={self.input_norm!r}"
        )


class KAN(nn.Module):
    """A stack of :class:`KANLinear` layers, ``dims = [d_0, d_1, ..., d_L]``.

    Args:
        dims: feature sizes, at least two entries.
        **kan_kwargs: passed to every :class:`KANLinear` (``grid_size``, ...).

    Shapes:
        ``(..., dims[0])`` -> ``(..., dims[-1])``.
    """

    def __init__(self, dims: Sequence[int], **kan_kwargs: Any) -> None:
        super().__init__()
        dims = [int(d) for d in dims]
        if len(dims) < 2:
            raise ValueError(f"KAN needs at least two dims (in, out), got {dims}")
        self.dims = dims
        self.layers = nn.ModuleList(KANLinear(a, b, **kan_kwargs) for a, b in zip(dims[:-1], dims[1:]))

    @property
    def in_features(self) -> int:
        return self.dims[0]

    @property
    def out_features(self) -> int:
        return self.dims[-1]

    def forward(self, x: Tensor) -> Tensor:
        """``(..., dims[0])`` -> ``(..., dims[-1])``."""
        for layer in self.layers:
            x = layer(x)
        return x


class KANProjector(KAN):
    """TaiChi's KAN projector: a 2-layer KAN ``[in_dim, hidden_dim, out_dim]``.

    Args:
        in_dim: visual feature size ``C``.
        out_dim: LLM embedding size.
        hidden_dim: hidden width (default ``out_dim``).
        **kan_kwargs: passed to every :class:`KANLinear`.

    Shapes:
        ``(B, N, in_dim)`` -> ``(B, N, out_dim)`` (token count unchanged).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int | None = None, **kan_kwargs: Any) -> None:
        super().__init__([in_dim, out_dim if hidden_dim is None else hidden_dim, out_dim], **kan_kwargs)

    @staticmethod
    def output_tokens(num_tokens: int) -> int:
        """Number of output tokens for ``num_tokens`` input tokens (unchanged)."""
        return num_tokens
