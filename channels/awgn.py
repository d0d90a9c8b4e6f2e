"""AWGN and the error-free channel (Sionna's ``AWGN`` block)."""
from __future__ import annotations

from .base import BlockFadingChannel, CSIMode

__all__ = ["AWGNChannel", "NoChannel"]


class AWGNChannel(BlockFadingChannel):
    """``y = x + n``, ``n ~ CN(0, N0)``, N0 = 10^(-SNR/10).

    The CSI is ``h = 1`` (``csi="perfect"``) or its LS estimate from pilots.

    Example:
        >>> import torch
        >>> out = AWGNChannel()(torch.ones(2, 8, dtype=torch.complex64), 20.0)
        >>> out.y.shape
        torch.Size([2, 8])
    """

    name = "awgn"

    def __init__(self, *, csi: CSIMode = "perfect", num_pilots: int = 4) -> None:
        super().__init__(coherence="example", csi=csi, num_pilots=num_pilots)


class NoChannel(BlockFadingChannel):
    """The error-free channel: ``y = x`` whatever the SNR (reference points)."""

    name = "none"

    def __init__(self) -> None:
        super().__init__(coherence="example", csi="perfect", noiseless=True)
