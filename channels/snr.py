"""The one SNR definition of tokcom, and the conversions that go with it.

SNR definition (used by every channel, system and result row):

    SNR = Es / N0 per complex channel use,

where the transmitter normalises its average power to Es = 1 per complex
symbol (averaged over the symbols of one example) and the noise is circularly
symmetric complex Gaussian CN(0, N0), i.e. variance N0/2 per real dimension.
So ``N0 = 10 ** (-snr_db / 10)``. For fading channels E[|h|^2] = 1, so the
same number is the *average* received SNR.

For a coded bit pipeline, Eb/N0 = Es/N0 - 10 log10(bits_per_symbol * rate);
see :func:`ebno_db_to_snr_db`.
"""
from __future__ import annotations

import math

import torch

__all__ = [
    "snr_db_to_no",
    "no_to_snr_db",
    "ebno_db_to_snr_db",
    "snr_db_to_ebno_db",
    "normalize_power",
    "average_power",
    "real_to_complex",
    "complex_to_real",
    "check_snr_db",
]


def check_snr_db(snr_db: torch.Tensor | float) -> None:
    """Raise ``ValueError`` if any SNR value is NaN or infinite."""
    t = torch.as_tensor(snr_db)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"SNR values must be finite numbers in dB, got {t.tolist()}")


def snr_db_to_no(snr_db: torch.Tensor | float, *, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> torch.Tensor:
    """Noise power N0 (per complex symbol) for Es/N0 = ``snr_db`` dB and Es = 1."""
    t = torch.as_tensor(snr_db, dtype=dtype, device=device)
    check_snr_db(t)
    return torch.pow(torch.tensor(10.0, dtype=dtype, device=t.device), -t / 10.0)


def no_to_snr_db(no: torch.Tensor | float) -> torch.Tensor:
    """Inverse of :func:`snr_db_to_no`: ``-10 log10(N0)`` (Es = 1)."""
    return -10.0 * torch.log10(torch.as_tensor(no))


def ebno_db_to_snr_db(ebno_db: float, bits_per_symbol: int, coderate: float = 1.0) -> float:
    """Es/N0 in dB from Eb/N0 in dB: Es = Eb * bits_per_symbol * coderate."""
    return float(ebno_db) + 10.0 * math.log10(bits_per_symbol * coderate)


def snr_db_to_ebno_db(snr_db: float, bits_per_symbol: int, coderate: float = 1.0) -> float:
    """Eb/N0 in dB from Es/N0 in dB (inverse of :func:`ebno_db_to_snr_db`)."""
    return float(snr_db) - 10.0 * math.log10(bits_per_symbol * coderate)


def average_power(x: torch.Tensor) -> torch.Tensor:
    """Mean |x|^2 over the last dimension (symbols of one example): shape ``x.shape[:-1]``."""
    return x.abs().square().mean(dim=-1)


def normalize_power(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale each example (last dim = its complex symbols) to average power 1.

    Differentiable; the transmitter's power constraint of the SNR definition.
    """
    p = average_power(x).clamp_min(eps)
    return x / torch.sqrt(p).unsqueeze(-1).to(x.dtype)


def real_to_complex(x: torch.Tensor) -> torch.Tensor:
    """Pair the last real dimension (2N values) into N complex symbols.

    Layout: ``[re_0, im_0, re_1, im_1, ...]`` -> ``re_k + j im_k``. Inverse of
    :func:`complex_to_real`.
    """
    if x.shape[-1] % 2:
        raise ValueError(f"last dimension must be even to form complex symbols, got {x.shape[-1]}")
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    return torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2).contiguous())


def complex_to_real(x: torch.Tensor) -> torch.Tensor:
    """Split N complex symbols into 2N interleaved reals (inverse of :func:`real_to_complex`)."""
    return torch.view_as_real(x).reshape(*x.shape[:-1], -1)
