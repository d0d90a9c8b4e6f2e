"""The channel contract shared by every link-level model in :mod:`channels`.

A channel maps complex baseband symbols to complex baseband observations::

    out = channel(x, snr_db, generator=g)    # x: (..., N) complex, unit average power

and returns a :class:`ChannelOutput` holding the received data symbols ``y``
(same shape as ``x``), the channel state information the *receiver* has
(``h``: perfect, or estimated from pilots that the channel inserts and whose
cost is counted in :meth:`Channel.channel_uses`), the noise power ``no`` and
the CSI error variance. Equalisation is the receiver's job
(:mod:`channels.equalizer`); no channel inverts itself.

Fading channels in this package are flat block fading: the per-symbol model is
``y_k = h_k x_k + n_k`` with ``n_k ~ CN(0, N0)``, ``N0 = 10^(-SNR/10)`` (see
:mod:`channels.snr`) and ``h_k`` constant over a *coherence block*:

- ``coherence="example"``: one draw per example (all N symbols);
- ``coherence="block"``: one draw per ``block_length`` consecutive symbols;
- ``coherence="symbol"``: an independent draw per symbol (fast fading).

Leading dimensions of ``x`` are batch dimensions (examples, SNR points);
``snr_db`` is a float or a tensor broadcastable to ``x.shape[:-1]``.
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Literal

import torch
from sionna.phy.channel import AWGN

from .rng import device_key, precision_of, sionna_rng
from .snr import snr_db_to_no

__all__ = ["ChannelOutput", "Channel", "BlockFadingChannel", "Coherence", "CSIMode"]

Coherence = Literal["example", "block", "symbol"]
CSIMode = Literal["perfect", "ls"]


@dataclass
class ChannelOutput:
    """What reaches the receiver.

    Attributes:
        y: received data symbols, complex, shape of the channel input ``x``.
        h: the receiver's CSI per data symbol, complex, same shape as ``y``
            (the true gain for ``csi="perfect"``, the LS estimate for ``"ls"``).
        no: noise power N0 per complex symbol, real, broadcastable to ``y``.
        err_var: variance of the CSI error ``h_true - h``, real, broadcastable
            to ``y`` (0 for perfect CSI).
    """

    y: torch.Tensor
    h: torch.Tensor
    no: torch.Tensor
    err_var: torch.Tensor


class Channel(torch.nn.Module, metaclass=abc.ABCMeta):
    """Base class: a differentiable, batched, device-agnostic channel.

    Subclasses implement :meth:`forward` and :meth:`channel_uses`. No random
    state is created in ``__init__``: every draw comes from the ``generator``
    passed to the call (or Sionna's global generator when ``None``).
    """

    name: str = "channel"

    @abc.abstractmethod
    def forward(self, x: torch.Tensor, snr_db: torch.Tensor | float,
                generator: torch.Generator | None = None) -> ChannelOutput:
        """Apply the channel to ``x`` (..., N) at ``snr_db``; see the module docstring."""

    def channel_uses(self, num_symbols: int) -> int:
        """Complex channel uses needed to carry ``num_symbols`` data symbols (pilots included)."""
        return int(num_symbols)

    @staticmethod
    def noise_power(x: torch.Tensor, snr_db: torch.Tensor | float) -> torch.Tensor:
        """Check that ``x`` is complex baseband; N0 per example, shape ``x.shape[:-1]``."""
        if not torch.is_complex(x):
            raise TypeError(f"channel input must be complex baseband symbols, got {x.dtype}")
        real = torch.float64 if x.dtype == torch.complex128 else torch.float32
        no = snr_db_to_no(snr_db, dtype=real, device=x.device)
        return torch.broadcast_to(no, x.shape[:-1])

    def describe(self) -> dict:
        """Parameters that identify this channel in a results file."""
        return {"name": self.name}


class BlockFadingChannel(Channel):
    """Flat block fading ``y = h x + n`` with optional LS pilots; subclasses draw ``h``.

    Args:
        coherence: how long one fading draw lasts (see module docstring).
        block_length: symbols per coherence block when ``coherence="block"``.
        csi: ``"perfect"`` (receiver knows ``h``) or ``"ls"`` (the channel sends
            ``num_pilots`` known unit-power pilots at the start of every
            coherence block; the receiver gets their least-squares estimate).
        num_pilots: pilots per coherence block for ``csi="ls"``.
        noiseless: skip the noise (the error-free channel).
    """

    def __init__(self, *, coherence: Coherence = "example", block_length: int = 1,
                 csi: CSIMode = "perfect", num_pilots: int = 4, noiseless: bool = False) -> None:
        super().__init__()
        if coherence not in ("example", "block", "symbol"):
            raise ValueError(f"coherence must be 'example', 'block' or 'symbol', got {coherence!r}")
        if csi not in ("perfect", "ls"):
            raise ValueError(f"csi must be 'perfect' or 'ls', got {csi!r}")
        if coherence == "block" and int(block_length) < 1:
            raise ValueError(f"block_length must be >= 1 symbol, got {block_length}")
        if csi == "ls" and int(num_pilots) < 1:
            raise ValueError(f"num_pilots must be >= 1 for LS estimation, got {num_pilots}")
        if csi == "ls" and coherence == "symbol":
            raise ValueError("csi='ls' needs a coherence block longer than one symbol; "
                             "use coherence='example' or 'block', or csi='perfect'")
        self.coherence = coherence
        self.block_length = int(block_length)
        self.csi = csi
        self.num_pilots = int(num_pilots)
        self.noiseless = bool(noiseless)
        self._awgn: dict[tuple[str, str], AWGN] = {}

    # -- sizes -------------------------------------------------------------
    def num_blocks(self, num_symbols: int) -> int:
        """Independent fading draws per example for ``num_symbols`` data symbols."""
        if self.coherence == "example":
            return 1
        if self.coherence == "symbol":
            return int(num_symbols)
        return math.ceil(int(num_symbols) / self.block_length)

    def channel_uses(self, num_symbols: int) -> int:
        pilots = self.num_blocks(num_symbols) * self.num_pilots if self.csi == "ls" else 0
        return int(num_symbols) + pilots

    def describe(self) -> dict:
        d = {"name": self.name, "coherence": self.coherence, "csi": self.csi}
        if self.coherence == "block":
            d["block_length"] = self.block_length
        if self.csi == "ls":
            d["num_pilots"] = self.num_pilots
        return d

    # -- the model ---------------------------------------------------------
    def draw_gains(self, shape: tuple[int, ...], *, dtype: torch.dtype, device: torch.device,
                   generator: torch.Generator | None) -> torch.Tensor:
        """Complex fading gains of ``shape`` with E|h|^2 = 1 (override in subclasses)."""
        return torch.ones(shape, dtype=dtype, device=device)

    def _noise(self, shape_like: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        key = (device_key(shape_like.device), precision_of(shape_like.dtype))
        if key not in self._awgn:
            self._awgn[key] = AWGN(precision=key[1], device=key[0])
        return self._awgn[key](torch.zeros_like(shape_like), no)

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor | float,
                generator: torch.Generator | None = None) -> ChannelOutput:
        no = self.noise_power(x, snr_db).unsqueeze(-1)  # (..., 1)
        n = x.shape[-1]
        batch = x.shape[:-1]
        real = no.dtype
        nb = self.num_blocks(n)
        with sionna_rng(generator, x.device):
            g = self.draw_gains((*batch, nb), dtype=x.dtype, device=x.device, generator=generator)
            # per-symbol gains: repeat each block's draw over its symbols
            if self.coherence == "example":
                h = g.expand(*batch, n)
            elif self.coherence == "symbol":
                h = g
            else:
                h = g.repeat_interleave(self.block_length, dim=-1)[..., :n]
            y = h * x
            if not self.noiseless:
                y = y + self._noise(y, no)
            if self.csi == "perfect":
                h_rx = h
                err_var = torch.zeros((), dtype=real, device=x.device)
            else:
                # num_pilots pilots p = 1 per block: y_p = g + n_p; LS estimate = mean over pilots
                yp = g.unsqueeze(-1).expand(*batch, nb, self.num_pilots)
                if not self.noiseless:
                    yp = yp + self._noise(yp, no.unsqueeze(-1))
                g_hat = yp.mean(dim=-1)
                if self.coherence == "example":
                    h_rx = g_hat.expand(*batch, n)
                else:
                    h_rx = g_hat.repeat_interleave(self.block_length, dim=-1)[..., :n]
                err_var = (no / self.num_pilots) if not self.noiseless else torch.zeros_like(no)
        if self.noiseless:
            no = torch.zeros_like(no)
        return ChannelOutput(y=y, h=h_rx, no=no, err_var=err_var)
