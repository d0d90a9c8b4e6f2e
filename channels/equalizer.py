"""Single-stream equalisers for the receiver: ZF and (LMMSE) MMSE.

With CSI ``h`` (perfect or estimated, error variance ``err_var``) and noise
power ``no`` for ``y = h x + n``, ``E|x|^2 = 1``:

- ``zf``:   ``x_hat = y / h``; effective noise ``(no + err_var) / |h|^2``.
- ``mmse``: ``x_hat = conj(h) y / (|h|^2 + err_var + no)`` (biased LMMSE);
  with ``unbiased=True`` it is rescaled by ``1/g``, ``g = |h|^2/(|h|^2+err_var+no)``,
  which for one stream equals ZF in the mean and is what a demapper expects.
  Effective noise: ``(1 - g)`` biased, ``(1 - g)/g`` unbiased.

Returns ``(x_hat, no_eff)`` with shapes of ``y``.
"""
from __future__ import annotations

from typing import Literal

import torch

__all__ = ["equalize", "EQUALIZERS"]

EQUALIZERS = ("zf", "mmse")
_EPS = 1e-12


def equalize(y: torch.Tensor, h: torch.Tensor, no: torch.Tensor | float,
             method: Literal["zf", "mmse"] = "zf", *, err_var: torch.Tensor | float = 0.0,
             unbiased: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Equalise ``y`` with the receiver's CSI ``h``; see module docstring."""
    if method not in EQUALIZERS:
        raise ValueError(f"unknown equalizer {method!r}; valid: {', '.join(EQUALIZERS)}")
    real = y.real.dtype
    no = torch.as_tensor(no, dtype=real, device=y.device)
    err_var = torch.as_tensor(err_var, dtype=real, device=y.device)
    p = h.abs().square()
    if method == "zf":
        x_hat = y / torch.where(p > _EPS, h, torch.full_like(h, _EPS))
        no_eff = (no + err_var) / p.clamp_min(_EPS)
        return x_hat, torch.broadcast_to(no_eff, y.shape)
    denom = p + err_var + no
    x_hat = h.conj() * y / denom.clamp_min(_EPS)
    g = p / denom.clamp_min(_EPS)
    if unbiased:
        x_hat = x_hat / g.clamp_min(_EPS)
        no_eff = (1 - g) / g.clamp_min(_EPS)
    else:
        no_eff = 1 - g
    return x_hat, torch.broadcast_to(no_eff, y.shape)
