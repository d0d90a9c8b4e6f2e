"""Rician flat block fading: a line-of-sight term plus Sionna's Rayleigh fading.

Sionna has no standalone Rician block (its TDL-D/E profiles carry the LOS
case for frequency-selective links), so the flat model is built here:

    h = sqrt(K / (K + 1)) e^{j theta} + sqrt(1 / (K + 1)) h_NLOS,   h_NLOS ~ CN(0, 1),

with K the K-factor (linear, from ``k_factor_db``) and the LOS phase theta
drawn uniformly in [0, 2 pi) per coherence block (the receiver does not know
the geometry). E|h|^2 = 1, so the SNR definition of :mod:`channels.snr` holds.
"""
from __future__ import annotations

import math

import torch

from .base import Coherence, CSIMode
from .rayleigh import RayleighChannel

__all__ = ["RicianChannel"]


class RicianChannel(RayleighChannel):
    """Rician flat block fading with K-factor ``k_factor_db`` (dB).

    Example:
        >>> ch = RicianChannel(k_factor_db=6.0)
        >>> ch(torch.ones(4, 32, dtype=torch.complex64), 5.0).y.shape
        torch.Size([4, 32])
    """

    name = "rician"

    def __init__(self, *, k_factor_db: float = 6.0, coherence: Coherence = "example",
                 block_length: int = 1, csi: CSIMode = "perfect", num_pilots: int = 4) -> None:
        super().__init__(coherence=coherence, block_length=block_length, csi=csi,
                         num_pilots=num_pilots)
        if not math.isfinite(float(k_factor_db)):
            raise ValueError(f"k_factor_db must be a finite number in dB, got {k_factor_db}")
        self.k_factor_db = float(k_factor_db)

    def describe(self) -> dict:
        return {**super().describe(), "k_factor_db": self.k_factor_db}

    def draw_gains(self, shape, *, dtype, device, generator):
        k = 10.0 ** (self.k_factor_db / 10.0)
        real = torch.float64 if dtype == torch.complex128 else torch.float32
        theta = 2 * math.pi * torch.rand(shape, dtype=real, device=device, generator=generator)
        los = torch.polar(torch.ones_like(theta), theta).to(dtype)
        nlos = self.rayleigh_gains(shape, dtype=dtype, device=device)
        return math.sqrt(k / (k + 1)) * los + math.sqrt(1 / (k + 1)) * nlos
