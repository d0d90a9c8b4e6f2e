"""Dual visual tokenizers of TaiChi (paper section III.A).

* :class:`LRTokenizer` (``vit.py``) - a ViT on the downsampled image ``X_l``,
  giving the global stream ``V_l`` (eqs. 1-3).
* :class:`HRTokenizer` (``convnext.py``) - a ConvNeXt on the full-resolution
  image ``X_h``, giving the detail stream ``V_h`` (eq. 4).
* :func:`downsample_image` - ``X_h -> X_l``.

Both return row-major token grids ``(B, g*g, C)`` with a ``grid_size`` property.

Choosing sizes for the Bilateral Attention Network
--------------------------------------------------
BAN (``tokcom.ban``) needs the HR grid to be an integer multiple ``r`` of the
LR grid: ``g_h = r * g_l``.  With an HR image of side ``S`` and a downsampling
factor ``f``::

    g_l = (S / f) / vit_patch
    g_h = S / (convnext_stem * 2**(n_stages - 1))
    r   = g_h / g_l = f * vit_patch / (convnext_stem * 2**(n_stages - 1))

Tiny (tests / CPU) example, ``r = 2``:

* HR 96x96 -> ConvNeXt stem 4 (24x24) + one downsample (2 stages) -> 12x12 grid;
* LR 48x48 (``f = 2``) -> ViT patch 8 -> 6x6 grid.

Paper-scale example: LR 336x336 -> CLIP ViT-L/14 -> 24x24 (576 tokens, width
1024); HR 768x768 -> CLIP ConvNeXt-L stage -2 (stride 16) -> 48x48 (``r = 2``,
width 768) or stage -1 (stride 32) -> 24x24 (``r = 1``, width 1536).  Note that
336 is not 768 / integer; in that case the LR image is resized to the ViT input
size rather than produced by :func:`downsample_image`.

Example::

    >>> import torch
    >>> from tokcom.vision import HRTokenizer, LRTokenizer, downsample_image
    >>> x_h = torch.rand(1, 3, 96, 96)
    >>> x_l = downsample_image(x_h, 2)                     # (1, 3, 48, 48)
    >>> lr = LRTokenizer(img_size=48, patch_size=8, embed_dim=32, depth=1, num_heads=4)
    >>> hr = HRTokenizer(img_size=96, depths=(1, 1), dims=(16, 32))
    >>> lr(x_l).shape, hr(x_h).shape, hr.grid_size // lr.grid_size
    (torch.Size([1, 36, 32]), torch.Size([1, 144, 32]), 2)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .convnext import HRTokenizer
from .vit import LRTokenizer, require_checkpoint

__all__ = ["LRTokenizer", "HRTokenizer", "downsample_image", "require_checkpoint"]


def downsample_image(x: torch.Tensor, factor: int, mode: str = "bilinear") -> torch.Tensor:
    """Downsample ``(B, C, H, W)`` images by an integer ``factor`` -> ``(B, C, H/f, W/f)``.

    Args:
        x: image batch (float); ``H`` and ``W`` must be divisible by ``factor``.
        factor: integer downsampling factor (``1`` returns ``x`` unchanged).
        mode: ``"bilinear"`` (antialiased, i.e. a triangle filter widened by
            ``factor``, like PIL's resize) or ``"area"`` (mean of each
            ``factor x factor`` block).
    """
    if factor < 1 or int(factor) != factor:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    factor = int(factor)
    h, w = x.shape[-2:]
    if h % factor or w % factor:
        raise ValueError(f"image size {h}x{w} is not divisible by factor {factor}")
    if factor == 1:
        return x
    size = (h // factor, w // factor)
    if mode == "bilinear":
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    if mode == "area":
        return F.avg_pool2d(x, kernel_size=factor, stride=factor)
    raise ValueError(f"unknown mode {mode!r}; use 'bilinear' or 'area'")
