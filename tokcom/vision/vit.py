"""Low-resolution (LR) visual tokenizer: a Vision Transformer (TaiChi eqs. 1-3).

The LR tokenizer sees the *downsampled* image ``X_l`` and produces the global
feature stream ``V_l`` as a grid of patch tokens.  Each encoder layer is a
pre-LN transformer block::

    M_mha,i = MHA(LN(M_ff,i-1)) + M_ff,i-1                      (eq. 1)
    M_ff,i  = GeLU-MLP(LN(M_mha,i)) + M_mha,i                    (eq. 2)
    MHA(X)  = Softmax(W_Q X (W_K X)^T / sqrt(d_k)) W_V X         (eq. 3)

which is exactly timm's ``VisionTransformer`` block (``pre_norm=False``: the
first block consumes the patch embeddings directly, as in eq. 1).  We build the
timm model from plain keyword arguments, with no class token, no pooling and no
classifier head, so the output is the ``(B, g*g, embed_dim)`` patch-token grid
in row-major order (token ``i*g + j`` is grid cell ``(i, j)``).

For the ``paper`` preset (CLIP ViT-L/14-336, 24x24 = 576 tokens of width 1024)
use :meth:`LRTokenizer.from_open_clip` with a local checkpoint file; nothing is
ever downloaded.

Example::

    >>> import torch
    >>> from tokcom.vision.vit import LRTokenizer
    >>> tok = LRTokenizer(img_size=48, patch_size=8, embed_dim=32, depth=2, num_heads=4)
    >>> tok.grid_size
    6
    >>> tok(torch.randn(2, 3, 48, 48)).shape
    torch.Size([2, 36, 32])
"""
from __future__ import annotations

import abc
import os
import torch
from torch import nn

__all__ = ["GridTokenizer", "LRTokenizer", "require_checkpoint"]


def require_checkpoint(checkpoint_path: "str | os.PathLike[str]", what: str) -> str:
    """Return ``checkpoint_path`` as ``str`` if it is an existing file.

    Raises:
        FileNotFoundError: with a single message naming the expected path.  There
            is no hub access on these machines, so a missing file is fatal
            (open_clip would otherwise try to resolve the string as a
            download tag).
    """
    path = os.fspath(checkpoint_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{what} checkpoint not found: expected a local open_clip weights file at "
            f"{path!r} (no hub/network access; place the file there or pass its path)"
        )
    return path


class GridTokenizer(nn.Module, metaclass=abc.ABCMeta):
    """Shared API of the visual tokenizers: a square image -> a row-major ``g x g`` token grid.

    Subclasses set ``_grid``, ``_img_size`` and ``embed_dim`` and implement ``tokens(x)``.
    """

    _grid: int
    _img_size: int

    @property
    def grid_size(self) -> int:
        """Side ``g`` of the square token grid; the output has ``g*g`` tokens."""
        return self._grid

    @property
    def img_size(self) -> int:
        """Expected input image side in pixels."""
        return self._img_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` image -> ``(B, g*g, embed_dim)`` tokens (row-major grid)."""
        if x.dim() != 4 or x.shape[-2:] != (self._img_size, self._img_size):
            raise ValueError(
                f"expected (B, C, {self._img_size}, {self._img_size}) input, got {tuple(x.shape)}"
            )
        return self.tokens(x)

    @abc.abstractmethod
    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens ``(B, g*g, embed_dim)`` of an input already checked by :meth:`forward`."""


class LRTokenizer(GridTokenizer):
    """ViT patch tokenizer for the downsampled image (``X_l -> V_l``).

    Args:
        img_size: side of the (square) LR input image in pixels.
        patch_size: patch side; must divide ``img_size``. ``grid_size = img_size // patch_size``.
        embed_dim: token width.
        depth: number of transformer blocks ``L``.
        num_heads: attention heads (must divide ``embed_dim``).
        mlp_ratio: MLP hidden width / ``embed_dim``.
        in_chans: input channels.

    Input ``(B, in_chans, img_size, img_size)`` float; output ``(B, grid_size**2, embed_dim)``.
    """

    def __init__(
        self,
        img_size: int = 48,
        patch_size: int = 8,
        embed_dim: int = 64,
        depth: int = 2,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        if img_size % patch_size:
            raise ValueError(f"patch_size {patch_size} must divide img_size {img_size}")
        from timm.models.vision_transformer import VisionTransformer

        self.backbone: nn.Module = VisionTransformer(
            img_size=img_size,
            patch_size=patch_size,
            in_chans=in_chans,
            num_classes=0,
            global_pool="",
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            class_token=False,
        )
        self._source = "timm"
        self._grid = img_size // patch_size
        self._img_size = img_size
        self.embed_dim = embed_dim

    # ------------------------------------------------------------------ paper preset
    @classmethod
    def from_open_clip(
        cls,
        model_name: str = "ViT-L-14-336",
        checkpoint_path: str = "",
        *,
        select_layer: int = -2,
    ) -> "LRTokenizer":
        """Build from an open_clip CLIP checkpoint on disk, keeping only its visual tower.

        Args:
            model_name: open_clip built-in (or ``open_clip.add_model_config``-registered)
                config name, e.g. ``"ViT-L-14-336"`` (24x24 grid, width 1024).
            checkpoint_path: local file with the full CLIP weights.
            select_layer: which transformer block's output to take (python
                indexing over blocks).  ``-2`` (penultimate block, no ``ln_post``,
                CLS token dropped) is the LLaVA / Mini-Gemini convention; ``-1``
                takes the last block.

        Raises:
            FileNotFoundError: if ``checkpoint_path`` is not an existing file.
            TypeError: if the model's visual tower is not an open_clip ViT.
        """
        path = require_checkpoint(checkpoint_path, f"open_clip {model_name!r} (LR ViT tokenizer)")
        import open_clip
        from open_clip.transformer import VisionTransformer as OCViT

        clip = open_clip.create_model(model_name, pretrained=path, device="cpu")
        visual = clip.visual
        if not isinstance(visual, OCViT):
            raise TypeError(f"{model_name!r} visual tower is {type(visual).__name__}, not an open_clip ViT")
        # Drop the blocks after `select_layer`, ln_post and the projection head.
        visual.prune_intermediate_layers([select_layer], prune_norm=True, prune_head=True)
        obj = cls.__new__(cls)
        nn.Module.__init__(obj)
        obj.backbone = visual
        obj._source = "open_clip"
        obj._grid = int(visual.grid_size[0])
        obj._img_size = int(visual.image_size[0])
        obj.embed_dim = int(visual.conv1.out_channels)
        return obj

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Patch tokens of a validated input (see :meth:`GridTokenizer.forward`)."""
        if self._source == "timm":
            return self.backbone.forward_features(x)  # (B, g*g, D), final LayerNorm applied
        out = self.backbone.forward_intermediates(
            x, indices=1, stop_early=True, intermediates_only=True, output_fmt="NLC"
        )
        return out["image_intermediates"][-1]  # (B, g*g, D), CLS token removed

