"""Link-level channels for tokcom, built on Sionna 2.x (PyTorch).

Use the registry::

    import channels
    ch = channels.get("rayleigh", coherence="block", block_length=16, csi="ls")
    out = ch(x, snr_db=10.0, generator=g)   # ChannelOutput(y, h, no, err_var)

SNR convention: :mod:`channels.snr`.
"""
from __future__ import annotations

from typing import Callable

from .awgn import AWGNChannel, NoChannel
from .base import BlockFadingChannel, Channel, ChannelOutput
from .equalizer import EQUALIZERS, equalize
from .rayleigh import RayleighChannel
from .rician import RicianChannel
from .snr import normalize_power, snr_db_to_no

__all__ = ["get", "names", "REGISTRY", "Channel", "ChannelOutput", "BlockFadingChannel",
           "equalize", "EQUALIZERS", "normalize_power", "snr_db_to_no"]


def _tdl(**params) -> Channel:
    from .tdl import TDLOFDMChannel  # imported on use: builds Sionna OFDM blocks
    return TDLOFDMChannel(**params)


REGISTRY: dict[str, Callable[..., Channel]] = {
    "none": NoChannel,
    "awgn": AWGNChannel,
    "rayleigh": RayleighChannel,
    "rician": RicianChannel,
    "tdl": _tdl,
}


def names() -> list[str]:
    """Registered channel names."""
    return sorted(REGISTRY)


def get(name: str, **params) -> Channel:
    """Build the channel registered as ``name`` with keyword ``params``.

    Raises:
        ValueError: unknown name (the message lists the valid ones) or bad params.
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown channel {name!r}; valid channels: {', '.join(names())}")
    try:
        return REGISTRY[name](**params)
    except TypeError as e:  # unexpected keyword -> a clear ValueError
        raise ValueError(f"bad parameters for channel {name!r}: {e}") from None
