"""Learned channel encoder/decoder for token states (design eqs. 13 and 15).

The encoder maps every token state z (D reals) to ``symbols_per_token``
complex channel symbols; the symbols of one example are normalised to unit
average power (the transmitter's power constraint of :mod:`channels.snr`).
``symbols_per_token`` is the bandwidth knob: channel uses per sample =
tokens x symbols_per_token (plus the channel's pilots).

The decoder sees the equalised symbols and their effective noise variance
per symbol (both from :func:`channels.equalize` on the receiver's CSI) and
maps them back to D-dimensional token states. Its noise feature is floored at
``noise_floor``: a trained checkpoint sets it to N0 at the top of its training
SNR range, so an SNR above that range (or the error-free channel, N0 = 0)
looks like the cleanest condition the decoder was trained on (the effect on the
shipped checkpoint's error-free accuracy is in the README, measured with
``make eval-shipped``). ``IdentityEncoder`` sends the state's 2k reals as k
complex symbols unchanged (no power normalisation): a reference for parity
tests over the error-free channel only.

Token-state statistics (``state_stats=True``): the states of a pretrained LM
are far from unit scale (SmolLM2-135M after layer 8: mean per-token norm 239,
``results/smollm2-chatml/codec_fidelity_taichi-smollm2.csv``), a scale a decoder
trained with Adam at lr ~1e-3 reaches only slowly. With statistics, the encoder
standardises each dimension with a per-dimension mean and std, and the decoder
outputs standardised states that it maps back; both hold the same statistics
(part of the trained codec, not side information), measured by
:func:`calibrate_state_stats` on token states before codec training begins.
Added because two smollm2 runs without it answered near-constant words through
the codec; the run with it did no better at the same budget (README, "smollm2"),
so it did not remove that failure.

Coding the tokens jointly (``context_layers > 0``): by default every token state is
coded alone, so each token gets the same ``symbols_per_token`` whatever it carries
(a left pad, a background cell of the image, the question's key word). With
context layers the encoder runs ``context_layers`` bidirectional Transformer layers
over the example's token states (with a learned position embedding, so that equal
states at different positions can send different symbols) before the per-token
map to symbols, and the decoder runs as many over the decoded states of all
received tokens before its output: a token's symbols may then carry what other
tokens need, and the decoder may use the whole received sequence. The channel uses
per sample stay ``P x symbols_per_token``; the receiver still sees only the channel
output (and its noise estimate).
"""
from __future__ import annotations

import torch
from torch import nn

from channels.snr import complex_to_real, normalize_power, real_to_complex

__all__ = ["ChannelEncoder", "ChannelDecoder", "IdentityEncoder", "IdentityDecoder",
           "reset_noise_floor", "set_noise_floor_from_policy", "calibrate_state_stats",
           "needs_state_calibration"]


class _StateStats(nn.Module):
    """Per-dimension mean and std of token states (buffers, stored with the codec).

    ``calibrated`` is 0 until :func:`calibrate_state_stats` sets them; the identity until then.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.register_buffer("calibrated", torch.zeros((), dtype=torch.long))

    def standardize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean.to(z.dtype)) / self.std.to(z.dtype)

    def restore(self, u: torch.Tensor) -> torch.Tensor:
        return u * self.std.to(u.dtype) + self.mean.to(u.dtype)

    @torch.no_grad()
    def set_from(self, z: torch.Tensor) -> None:
        flat = z.detach().float().reshape(-1, z.shape[-1])
        if flat.shape[0] < 2:
            raise ValueError("calibrating token-state statistics needs at least 2 states")
        self.mean.copy_(flat.mean(0))
        # a floor keeps near-constant dimensions finite (their mean carries them)
        self.std.copy_(flat.std(0).clamp_min(1e-3 * float(flat.std(0).mean()) + 1e-6))
        self.calibrated.fill_(1)


class _Context(nn.Module):
    """``layers`` pre-norm bidirectional Transformer layers over the tokens of one example,
    after a learned position embedding of up to ``max_tokens`` positions (joint coding)."""

    def __init__(self, dim: int, layers: int, max_tokens: int, heads: int = 4) -> None:
        super().__init__()
        if layers < 1 or max_tokens < 1:
            raise ValueError(f"context coding needs layers >= 1 and max_tokens >= 1, got "
                             f"{layers}, {max_tokens}")
        if dim % heads:
            raise ValueError(f"context coding needs a state width divisible by {heads} heads, got {dim}")
        self.pos = nn.Parameter(torch.zeros(max_tokens, dim))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = x.shape[-2]
        if p > self.pos.shape[0]:
            raise ValueError(f"{p} tokens exceed the codec's {self.pos.shape[0]} positions")
        lead = x.shape[:-2]
        y = self.layers((x + self.pos[:p].to(x.dtype)).reshape(-1, p, x.shape[-1]))
        return y.reshape(*lead, p, x.shape[-1])


class ChannelEncoder(nn.Module):
    """Token states (B, P, D) -> complex symbols (B, P * symbols_per_token), unit power.

    Example:
        >>> enc = ChannelEncoder(dim=32, symbols_per_token=4)
        >>> enc(torch.randn(2, 5, 32)).shape
        torch.Size([2, 20])
    """

    def __init__(self, dim: int, symbols_per_token: int, hidden: int | None = None,
                 state_stats: bool = False, context_layers: int = 0, max_tokens: int = 0) -> None:
        super().__init__()
        if symbols_per_token < 1:
            raise ValueError(f"symbols_per_token must be >= 1, got {symbols_per_token}")
        hidden = hidden or dim
        self.symbols_per_token = int(symbols_per_token)
        self.stats = _StateStats(dim) if state_stats else None
        self.context = _Context(dim, context_layers, max_tokens) if context_layers else None
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, 2 * symbols_per_token))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b, p, _ = z.shape
        if self.stats is not None:
            z = self.stats.standardize(z)
        if self.context is not None:
            z = self.context(z)
        s = real_to_complex(self.net(z).float())             # (B, P, spt)
        return normalize_power(s.reshape(b, p * self.symbols_per_token))


class ChannelDecoder(nn.Module):
    """Equalised symbols (B, P * spt) + effective noise (same shape) -> token states (B, P, D)."""

    #: default floor of the noise feature (40 dB); checkpoints set the top of their training range
    DEFAULT_NOISE_FLOOR = 1e-4

    def __init__(self, dim: int, symbols_per_token: int, hidden: int | None = None,
                 noise_floor: float = DEFAULT_NOISE_FLOOR, state_stats: bool = False,
                 context_layers: int = 0, max_tokens: int = 0) -> None:
        super().__init__()
        hidden = hidden or dim
        self.symbols_per_token = int(symbols_per_token)
        self.noise_floor = float(noise_floor)
        self.stats = _StateStats(dim) if state_stats else None
        self.context = _Context(dim, context_layers, max_tokens) if context_layers else None
        # per symbol: Re, Im, and log10 of the effective noise (tells the decoder how much to trust it)
        self.net = nn.Sequential(nn.Linear(3 * symbols_per_token, hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x_hat: torch.Tensor, no_eff: torch.Tensor) -> torch.Tensor:
        lead = x_hat.shape[:-1]
        spt = self.symbols_per_token
        re_im = complex_to_real(x_hat).reshape(*lead, -1, spt, 2)                 # (B, P, spt, 2)
        # cleaner symbols than the floor (the error-free channel has no = 0) look like the floor
        # instead of a feature the decoder never saw in training; load_checkpoint sets the floor
        # to N0 at the top of the training SNR range (see set_noise_floor_from_policy)
        noise = torch.log10(no_eff.clamp_min(self.noise_floor)).reshape(*lead, -1, spt, 1)
        feats = torch.cat([re_im, noise.to(re_im.dtype)], -1).flatten(-2)         # (B, P, 3 spt)
        u = self.net(feats)
        if self.context is not None:
            u = self.context(u)
        return u if self.stats is None else self.stats.restore(u)


class IdentityEncoder(nn.Module):
    """The state's 2k reals as k complex symbols, unchanged (parity tests only)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"identity coding needs an even state dimension, got {dim}")
        self.symbols_per_token = dim // 2

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b, p, d = z.shape
        cdt = torch.complex128 if z.dtype == torch.float64 else torch.complex64
        return real_to_complex(z).to(cdt).reshape(b, p * d // 2)


class IdentityDecoder(nn.Module):
    """Inverse of :class:`IdentityEncoder`; ignores the noise estimate."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x_hat: torch.Tensor, no_eff: torch.Tensor) -> torch.Tensor:
        return complex_to_real(x_hat).reshape(*x_hat.shape[:-1], -1, self.dim)


def set_noise_floor_from_policy(model: nn.Module, snr_policy: dict | None) -> float | None:
    """Floor every :class:`ChannelDecoder` of ``model`` at N0 of the policy's top training SNR.

    ``snr_policy``: the ``meta.json`` record ``{"snr_db_uniform": [lo, hi], ...}``.
    Returns the floor in dB (``None`` when there is no policy: the default stays).
    """
    from channels.snr import snr_db_to_no
    if not snr_policy or "snr_db_uniform" not in snr_policy:
        return None
    if set(snr_policy.get("channels") or ["awgn"]) <= {"none"}:
        return None          # trained on the error-free channel only: the default floor stays
    top = float(snr_policy["snr_db_uniform"][1])
    _set_noise_floor(model, float(snr_db_to_no(top)))
    return top


def _set_noise_floor(model: nn.Module, floor: float) -> None:
    for m in model.modules():
        if isinstance(m, ChannelDecoder):
            m.noise_floor = floor


def reset_noise_floor(model: nn.Module) -> None:
    """Put every :class:`ChannelDecoder` of ``model`` back on the default floor (what training
    sees: a run continued from a checkpoint with ``--init`` trains as a run from scratch does, not
    with the floor that loading the checkpoint set for evaluation)."""
    _set_noise_floor(model, ChannelDecoder.DEFAULT_NOISE_FLOOR)


def _stats_modules(model: nn.Module) -> list[_StateStats]:
    return [m.stats for m in model.modules()
            if isinstance(m, (ChannelEncoder, ChannelDecoder)) and m.stats is not None]


def needs_state_calibration(model: nn.Module) -> bool:
    """Whether ``model`` has a codec with token-state statistics not yet calibrated."""
    return any(int(s.calibrated) == 0 for s in _stats_modules(model))


def calibrate_state_stats(model: nn.Module, z: torch.Tensor) -> int:
    """Set the statistics of every codec of ``model`` that has them from token states ``z``
    (..., D); returns how many modules were set (0: the codec has none)."""
    mods = _stats_modules(model)
    for s in mods:
        s.set_from(z)
    return len(mods)
