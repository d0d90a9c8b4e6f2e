"""Rayleigh flat block fading (Sionna's ``GenerateFlatFadingChannel``, SISO)."""
from __future__ import annotations

import math

import torch
from sionna.phy.channel import GenerateFlatFadingChannel

from .base import BlockFadingChannel, Coherence, CSIMode
from .rng import device_key, precision_of

__all__ = ["RayleighChannel"]


class RayleighChannel(BlockFadingChannel):
    """``y = h x + n`` with ``h ~ CN(0, 1)`` per coherence block.

    Example:
        >>> ch = RayleighChannel(coherence="block", block_length=16)
        >>> out = ch(torch.ones(8, 64, dtype=torch.complex64), snr_db=10.0)
        >>> out.y.shape
        torch.Size([8, 64])
    """

    name = "rayleigh"

    def __init__(self, *, coherence: Coherence = "example", block_length: int = 1,
                 csi: CSIMode = "perfect", num_pilots: int = 4) -> None:
        super().__init__(coherence=coherence, block_length=block_length, csi=csi,
                         num_pilots=num_pilots)
        self._gen: dict[tuple[str, str], GenerateFlatFadingChannel] = {}

    def rayleigh_gains(self, shape: tuple[int, ...], *, dtype: torch.dtype,
                       device: torch.device) -> torch.Tensor:
        """CN(0, 1) draws of ``shape`` from Sionna's flat-fading generator."""
        key = (device_key(device), precision_of(dtype))
        if key not in self._gen:
            self._gen[key] = GenerateFlatFadingChannel(num_tx_ant=1, num_rx_ant=1,
                                                       precision=key[1], device=key[0])
        count = math.prod(shape)
        return self._gen[key](count).reshape(shape)

    def draw_gains(self, shape, *, dtype, device, generator):
        return self.rayleigh_gains(shape, dtype=dtype, device=device)
