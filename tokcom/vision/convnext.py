"""High-resolution (HR) visual tokenizer: a ConvNeXt (TaiChi eq. 4).

The HR tokenizer sees the full-resolution image ``X_h`` and produces the detail
feature stream::

    V_h = Conv(Down(Conv(LN(C2d(X_h)))))                          (eq. 4)

i.e. a patchify stem (``C2d``, kernel = stride = ``patch_size``) followed by a
LayerNorm, a stage of ConvNeXt blocks, then for every further stage a
downsampling layer (LN + 2x2 stride-2 conv) and more blocks.  This is timm's
``ConvNeXt``; we build it from keyword arguments (no weights), keep only the
first ``len(depths)`` stages, drop the classifier head and read
``forward_features``: ``(B, C, h, w)`` -> tokens ``(B, h*w, C)`` in row-major
order (token ``i*w + j`` is grid cell ``(i, j)``).

Grid side: ``img_size // (patch_size * 2**(len(depths) - 1))``.  E.g. a 96x96
image, stem 4 and two stages gives 96/4 = 24 -> downsample -> 12x12 tokens.

For the ``paper`` preset (CLIP ConvNeXt-large-d-320) use
:meth:`HRTokenizer.from_open_clip` with a local checkpoint file; nothing is ever
downloaded.

Example::

    >>> import torch
    >>> from tokcom.vision.convnext import HRTokenizer
    >>> tok = HRTokenizer(img_size=96, depths=(1, 1), dims=(16, 32))
    >>> tok.grid_size
    12
    >>> tok(torch.randn(2, 3, 96, 96)).shape
    torch.Size([2, 144, 32])
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from .vit import GridTokenizer, require_checkpoint

__all__ = ["HRTokenizer"]


class HRTokenizer(GridTokenizer):
    """ConvNeXt tokenizer for the full-resolution image (``X_h -> V_h``).

    Args:
        img_size: side of the (square) HR input image in pixels.
        depths: ConvNeXt blocks per stage (1 to 4 stages); stage ``k > 0`` starts
            with a 2x downsample.
        dims: channels per stage (same length as ``depths``); the token width is ``dims[-1]``.
        patch_size: stem conv kernel = stride.
        kernel_size: depth-wise conv kernel of the blocks.
        ls_init_value: layer-scale init (timm default ``1e-6``; ``None`` disables).
        in_chans: input channels.

    Input ``(B, in_chans, img_size, img_size)`` float; output ``(B, grid_size**2, dims[-1])``.
    """

    def __init__(
        self,
        img_size: int = 96,
        depths: Sequence[int] = (1, 1),
        dims: Sequence[int] = (32, 64),
        patch_size: int = 4,
        kernel_size: int = 7,
        ls_init_value: Optional[float] = 1e-6,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        depths, dims = tuple(int(d) for d in depths), tuple(int(d) for d in dims)
        n = len(depths)
        if not 1 <= n <= 4 or len(dims) != n:
            raise ValueError(f"need 1-4 stages with len(dims) == len(depths), got {depths}, {dims}")
        stride = patch_size * 2 ** (n - 1)
        if img_size % stride:
            raise ValueError(f"img_size {img_size} must be divisible by the total stride {stride}")
        from timm.models.convnext import ConvNeXt

        # timm always builds 4 stages: pad with empty stages, then truncate to `n`.
        pad = 4 - n
        backbone = ConvNeXt(
            in_chans=in_chans,
            num_classes=0,
            global_pool="",
            depths=depths + (0,) * pad,
            dims=dims + (dims[-1],) * pad,
            kernel_sizes=kernel_size,
            ls_init_value=ls_init_value,
            patch_size=patch_size,
        )
        backbone.prune_intermediate_layers([n - 1], prune_norm=True, prune_head=True)
        # only forward_features is used; older timm keeps a (never used) head norm after pruning,
        # whose weights would make checkpoints differ between timm versions: drop the head outright
        backbone.head = nn.Identity()
        self.backbone: nn.Module = backbone
        self._grid = img_size // stride
        self._img_size = img_size
        self.embed_dim = dims[-1]

    # ------------------------------------------------------------------ paper preset
    @classmethod
    def from_open_clip(
        cls,
        model_name: str = "convnext_large_d_320",
        checkpoint_path: str = "",
        *,
        stage: int = -1,
        img_size: Optional[int] = None,
    ) -> "HRTokenizer":
        """Build from an open_clip CLIP-ConvNeXt checkpoint on disk, keeping only the timm trunk.

        Args:
            model_name: open_clip config name, e.g. ``"convnext_large_d_320"``
                (stage widths 192/384/768/1536, strides 4/8/16/32).
            checkpoint_path: local file with the full CLIP weights.
            stage: which stage's output to tokenise (python indexing; ``-1`` = last,
                stride 32; ``-2`` = stride 16).  Later stages and the head are removed.
            img_size: HR input side (default: the config's ``image_size``, 320).
                Convolutions accept any size divisible by the stride, e.g. 768
                (-> 24x24 at stage -1, 48x48 at stage -2).

        Raises:
            FileNotFoundError: if ``checkpoint_path`` is not an existing file.
            TypeError: if the visual tower is not an open_clip timm model.
        """
        path = require_checkpoint(checkpoint_path, f"open_clip {model_name!r} (HR ConvNeXt tokenizer)")
        import open_clip
        from open_clip.timm_model import TimmModel

        clip = open_clip.create_model(model_name, pretrained=path, device="cpu")
        visual = clip.visual
        if not isinstance(visual, TimmModel):
            raise TypeError(f"{model_name!r} visual tower is {type(visual).__name__}, not a timm ConvNeXt")
        trunk = visual.trunk
        kept = trunk.prune_intermediate_layers([stage], prune_norm=False, prune_head=True)
        reduction = int(trunk.feature_info[kept[-1]]["reduction"])
        size = int(img_size if img_size is not None else visual.image_size[0])
        if size % reduction:
            raise ValueError(f"img_size {size} must be divisible by the stage stride {reduction}")
        obj = cls.__new__(cls)
        nn.Module.__init__(obj)
        obj.backbone = trunk
        obj._grid = size // reduction
        obj._img_size = size
        obj.embed_dim = int(trunk.feature_info[kept[-1]]["num_chs"])
        return obj

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Last-stage feature map of a validated input as tokens."""
        feats = self.backbone.forward_features(x)  # (B, C, h, w)
        return feats.flatten(2).transpose(1, 2)  # (B, h*w, C)
