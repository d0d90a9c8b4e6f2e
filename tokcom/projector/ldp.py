"""MobileVLM's Lightweight Downsample Projector (LDP, MobileVLM v1, Chu et al. 2023).

Structure (after MobileVLM's ``LDPBlock``, written here in plain PyTorch
rather than with timm blocks):

1. pointwise MLP per token: ``Linear(C, D) -> GELU -> Linear(D, D)``;
2. tokens reshaped to a ``D x g x g`` feature map (``N = g*g``);
3. a stride-1 inverted-residual block with a skip connection;
4. a stride-2 inverted-residual block (no skip) that halves each grid side,
   ``g -> ceil(g/2)`` (about ``N / 4`` tokens);
5. flattened back to tokens.

Each inverted-residual block (MobileNet-V3 style, expansion ratio 1) is
``1x1 conv -> LN -> 3x3 depthwise conv (stride s) -> LN -> SE -> 1x1 conv -> LN``
(convs without bias, LayerNorm over channels in place of BatchNorm). The SE
module reduces channels by 4 with Hardswish inside and a hard-sigmoid gate.

Faithfulness note: MobileVLM builds the norms as
``partial(LayerNormAct2d, act_layer=None)``, so in its code the norms carry
no activation (Hardswish only appears inside SE). ``norm_act=None`` (default)
reproduces that; ``norm_act=nn.Hardswish`` adds the activation after the
first two norms, as the "Hardswish" in the paper's figure would suggest.

Example:
    >>> import torch
    >>> LDPProjector(16, 8)(torch.randn(2, 36, 16)).shape
    torch.Size([2, 9, 8])
"""
from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LDPProjector", "LayerNorm2d", "InvertedResidual", "SqueezeExcite"]


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a ``(B, C, H, W)`` map (shape preserved)."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: ``x * hardsigmoid(W2 act(W1 mean_hw(x))))``.

    Shapes: ``(B, C, H, W)`` -> ``(B, C, H, W)``.
    """

    def __init__(self, channels: int, rd_ratio: float = 0.25, act_layer: type[nn.Module] = nn.Hardswish) -> None:
        super().__init__()
        rd = max(1, round(channels * rd_ratio))
        self.conv_reduce = nn.Conv2d(channels, rd, 1, bias=True)
        self.act = act_layer()
        self.conv_expand = nn.Conv2d(rd, channels, 1, bias=True)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.conv_expand(self.act(self.conv_reduce(s))))


class InvertedResidual(nn.Module):
    """Expansion-1 inverted residual block with depthwise 3x3 conv and SE.

    ``1x1 conv -> LN(+act) -> 3x3 dw conv (stride) -> LN(+act) -> SE -> 1x1 conv -> LN``,
    plus the input when ``stride == 1``.

    Args:
        channels: ``C`` (in = out).
        stride: 1 (skip connection, same size) or 2 (``H -> ceil(H/2)``).
        norm_act: activation after the first two norms (None: none, as MobileVLM).
        se: whether to include squeeze-and-excitation.

    Shapes: ``(B, C, H, W)`` -> ``(B, C, ceil(H/s), ceil(W/s))``.
    """

    def __init__(
        self, channels: int, stride: int = 1, *, norm_act: type[nn.Module] | None = None, se: bool = True
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.has_skip = stride == 1
        act = norm_act if norm_act is not None else nn.Identity
        self.conv_pw = nn.Conv2d(channels, channels, 1, bias=False)
        self.norm1 = LayerNorm2d(channels)
        self.act1 = act()
        self.conv_dw = nn.Conv2d(channels, channels, 3, stride=stride, padding=1, groups=channels, bias=False)
        self.norm2 = LayerNorm2d(channels)
        self.act2 = act()
        self.se = SqueezeExcite(channels) if se else nn.Identity()
        self.conv_pwl = nn.Conv2d(channels, channels, 1, bias=False)
        self.norm3 = LayerNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        y = self.act1(self.norm1(self.conv_pw(x)))
        y = self.act2(self.norm2(self.conv_dw(y)))
        y = self.norm3(self.conv_pwl(self.se(y)))
        return x + y if self.has_skip else y


class LDPProjector(nn.Module):
    """MobileVLM v1 LDP: per-token MLP, then depthwise-conv blocks, 4x fewer tokens.

    Args:
        in_dim: visual feature size ``C``.
        out_dim: LLM embedding size ``D``.
        norm_act: activation after the block norms (None, as MobileVLM's code).
        se: squeeze-and-excitation in the blocks (True, as MobileVLM).

    Shapes:
        ``(B, N, in_dim)`` with ``N = g*g`` -> ``(B, ceil(g/2)**2, out_dim)``.

    Raises:
        ValueError: if ``N`` is not a perfect square or the input is not 3-D.
    """

    def __init__(
        self, in_dim: int, out_dim: int, *, norm_act: type[nn.Module] | None = None, se: bool = True
    ) -> None:
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.mlp = nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))
        self.mb_block = nn.Sequential(
            InvertedResidual(out_dim, 1, norm_act=norm_act, se=se),
            InvertedResidual(out_dim, 2, norm_act=norm_act, se=se),
        )

    @staticmethod
    def grid_side(num_tokens: int) -> int:
        """Side ``g`` of the square token grid; ValueError if ``num_tokens`` is not square."""
        g = math.isqrt(num_tokens) if num_tokens >= 0 else -1
        if num_tokens < 1 or g * g != num_tokens:
            raise ValueError(f"LDP needs a square token grid (N = g*g), got N = {num_tokens}")
        return g

    @classmethod
    def output_tokens(cls, num_tokens: int) -> int:
        """Number of output tokens, ``ceil(g/2)**2``, for ``num_tokens = g*g`` inputs."""
        return ((cls.grid_side(num_tokens) + 1) // 2) ** 2

    def forward(self, x: Tensor) -> Tensor:
        """``(B, g*g, in_dim)`` -> ``(B, ceil(g/2)**2, out_dim)``."""
        if x.dim() != 3:
            raise ValueError(f"LDP expects (B, N, C) tokens, got shape {tuple(x.shape)}")
        b, n, _ = x.shape
        g = self.grid_side(n)
        x = self.mlp(x)
        x = x.transpose(1, 2).reshape(b, self.out_dim, g, g)
        x = self.mb_block(x)
        return x.flatten(2).transpose(1, 2)
