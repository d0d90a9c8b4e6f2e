"""Frequency-selective 3GPP TDL fading over OFDM, simulated in the frequency domain.

The data symbols of every example are laid out, in order, on the data resource
elements (REs) of as many OFDM *slots* (Sionna ``ResourceGrid`` s of
``num_ofdm_symbols`` x ``fft_size`` REs) as needed; the last slot is padded
with zeros, which are dropped again at the output. Each slot sees its own,
independent TR 38.901 tapped-delay-line channel (Sionna's ``TDL`` with the
scalable profiles A-E, delay spread ``delay_spread_ns``), turned into a
per-RE frequency response ``H[s, k]`` by Sionna's ``GenerateOFDMChannel``
(the CIR is sampled once per OFDM symbol, so ``max_speed_mps > 0`` makes it
vary across the symbols of a slot). With a cyclic prefix longer than the
channel, OFDM turns the convolution into one multiplication per RE, so::

    y[s, k] = H[s, k] x[s, k] + n[s, k],   n ~ CN(0, N0),  N0 = 10^(-SNR/10)

(see :mod:`channels.snr`). The power delay profiles are normalised to unit
total power and the channel is *not* renormalised per slot, so E|H|^2 = 1 and
SNR is the average received SNR per RE. For the NLOS profiles A-C, ``H[s, k]``
is (close to) CN(0, 1): per RE the channel is Rayleigh, but correlated across
subcarriers (coherence bandwidth ~ 1/delay spread) and, with mobility, time.

CSI: ``csi="perfect"`` hands the receiver the true ``H`` on the data REs and
sends no pilots. ``csi="ls"`` puts Sionna's Kronecker pilot pattern (all
subcarriers of the OFDM symbols ``pilot_ofdm_symbol_indices``) in every slot
and returns Sionna's ``LSChannelEstimator`` estimate (default nearest-neighbour
interpolation) together with the estimator's error variance. That variance
(``N0 / |p|^2 = N0`` for the unit-modulus QPSK pilots) is exact for a static
channel; with mobility the interpolation error comes on top and is not in it.

:meth:`TDLOFDMChannel.channel_uses` counts every RE of every slot used (data,
pilots, padding), so rates computed from it reflect the occupied bandwidth.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import torch
from sionna.phy.channel import ApplyOFDMChannel, GenerateOFDMChannel
from sionna.phy.channel.tr38901 import TDL
from sionna.phy.ofdm import LSChannelEstimator, ResourceGrid, ResourceGridMapper

from .base import Channel, ChannelOutput, CSIMode
from .rng import device_key, make_generator, precision_of, sionna_rng

__all__ = ["TDLOFDMChannel", "TDLModel", "TDL_MODELS"]

TDLModel = Literal["A", "B", "C", "D", "E"]
TDL_MODELS: tuple[str, ...] = ("A", "B", "C", "D", "E")

# Seed of the private generator that draws the Kronecker pattern's QPSK pilots
# when the resource grid is built: the pilots are part of the system, fixed
# and known to the receiver, and must not consume (or depend on) the caller's
# random stream.
_PILOT_SEED = 0x70C0


@dataclass
class _Blocks:
    """Sionna blocks for one (device, precision)."""

    rg: ResourceGrid
    mapper: ResourceGridMapper
    generate: GenerateOFDMChannel
    apply: ApplyOFDMChannel
    estimator: LSChannelEstimator | None
    data_ind: torch.Tensor  # flat (symbol * fft_size + subcarrier) index of each data RE


def _positive(name: str, value: float) -> float:
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class TDLOFDMChannel(Channel):
    """3GPP TDL channel (TR 38.901 profiles A-E) over OFDM; see the module docstring.

    Args:
        model: TDL delay profile, ``"A"``-``"C"`` (NLOS) or ``"D"``, ``"E"`` (LOS).
        delay_spread_ns: RMS delay spread in ns (TR 38.901: 10 very short,
            30 short, 100 nominal, 300 long, 1000 very long).
        carrier_frequency_hz: carrier frequency (sets the Doppler shift).
        subcarrier_spacing_hz: OFDM subcarrier spacing.
        fft_size: subcarriers per OFDM symbol (no guard or DC carriers).
        num_ofdm_symbols: OFDM symbols per slot (one resource grid).
        max_speed_mps: UE speed in m/s; with ``min_speed_mps < max_speed_mps``
            each slot draws its speed uniformly from that interval. 0 = static.
        min_speed_mps: lower end of the speed interval (default 0).
        csi: ``"perfect"`` (true ``H``, no pilots) or ``"ls"`` (pilots + LS).
        pilot_ofdm_symbol_indices: OFDM symbols of a slot that carry pilots on
            all subcarriers; only used with ``csi="ls"``.

    Every slot is an independent channel realisation (no correlation between
    consecutive slots of an example); within a slot ``H`` is correlated in
    frequency by the delay profile and in time by the Doppler spread.

    Example:
        >>> import torch
        >>> ch = TDLOFDMChannel(model="A", delay_spread_ns=300.0, csi="ls")
        >>> out = ch(torch.ones(4, 2000, dtype=torch.complex64), snr_db=10.0)
        >>> out.y.shape, out.h.shape
        (torch.Size([4, 2000]), torch.Size([4, 2000]))
        >>> ch.channel_uses(2000)   # 3 slots of 14 x 72 REs (864 data REs each)
        3024
    """

    name = "tdl"

    def __init__(self, *, model: TDLModel = "A", delay_spread_ns: float = 100.0,
                 carrier_frequency_hz: float = 3.5e9, subcarrier_spacing_hz: float = 30e3,
                 fft_size: int = 72, num_ofdm_symbols: int = 14, max_speed_mps: float = 0.0,
                 min_speed_mps: float = 0.0, csi: CSIMode = "perfect",
                 pilot_ofdm_symbol_indices: Sequence[int] = (2, 11)) -> None:
        super().__init__()
        if model not in TDL_MODELS:
            raise ValueError(f"model must be one of {', '.join(TDL_MODELS)}, got {model!r}")
        if csi not in ("perfect", "ls"):
            raise ValueError(f"csi must be 'perfect' or 'ls', got {csi!r}")
        self.model = model
        self.delay_spread_ns = _positive("delay_spread_ns", delay_spread_ns)
        self.carrier_frequency_hz = _positive("carrier_frequency_hz", carrier_frequency_hz)
        self.subcarrier_spacing_hz = _positive("subcarrier_spacing_hz", subcarrier_spacing_hz)
        self.fft_size = _positive_int("fft_size", fft_size)
        self.num_ofdm_symbols = _positive_int("num_ofdm_symbols", num_ofdm_symbols)
        self.max_speed_mps = float(max_speed_mps)
        self.min_speed_mps = float(min_speed_mps)
        if not (math.isfinite(self.max_speed_mps) and math.isfinite(self.min_speed_mps)
                and 0.0 <= self.min_speed_mps <= self.max_speed_mps):
            raise ValueError("speeds must satisfy 0 <= min_speed_mps <= max_speed_mps, got "
                             f"min_speed_mps={min_speed_mps!r}, max_speed_mps={max_speed_mps!r}")
        self.csi = csi
        pilots = tuple(pilot_ofdm_symbol_indices)
        if csi == "ls":
            if not pilots:
                raise ValueError("csi='ls' needs at least one pilot OFDM symbol")
            if any(isinstance(i, bool) or int(i) != i for i in pilots):
                raise ValueError(f"pilot_ofdm_symbol_indices must be integers, got {pilots!r}")
            pilots = tuple(int(i) for i in pilots)
            if len(set(pilots)) != len(pilots):
                raise ValueError(f"pilot_ofdm_symbol_indices has duplicates: {pilots!r}")
            if min(pilots) < 0 or max(pilots) >= self.num_ofdm_symbols:
                raise ValueError(f"pilot_ofdm_symbol_indices {pilots!r} must lie in "
                                 f"[0, num_ofdm_symbols={self.num_ofdm_symbols})")
            if len(pilots) >= self.num_ofdm_symbols:
                raise ValueError("pilots fill every OFDM symbol of the slot; "
                                 "no RE is left for data")
        self.pilot_ofdm_symbol_indices = pilots
        self._blocks: dict[tuple[str, str], _Blocks] = {}

    # -- sizes -------------------------------------------------------------
    @property
    def res_per_slot(self) -> int:
        """Resource elements per slot (data + pilots)."""
        return self.fft_size * self.num_ofdm_symbols

    @property
    def data_res_per_slot(self) -> int:
        """Data resource elements per slot."""
        pilots = len(self.pilot_ofdm_symbol_indices) * self.fft_size if self.csi == "ls" else 0
        return self.res_per_slot - pilots

    def num_slots(self, num_symbols: int) -> int:
        """Slots (independent channel draws) per example for ``num_symbols`` data symbols."""
        return math.ceil(int(num_symbols) / self.data_res_per_slot)

    def channel_uses(self, num_symbols: int) -> int:
        return self.num_slots(num_symbols) * self.res_per_slot

    def describe(self) -> dict:
        d = {"name": self.name, "model": self.model, "delay_spread_ns": self.delay_spread_ns,
             "carrier_frequency_hz": self.carrier_frequency_hz,
             "subcarrier_spacing_hz": self.subcarrier_spacing_hz, "fft_size": self.fft_size,
             "num_ofdm_symbols": self.num_ofdm_symbols, "min_speed_mps": self.min_speed_mps,
             "max_speed_mps": self.max_speed_mps, "csi": self.csi}
        if self.csi == "ls":
            d["pilot_ofdm_symbol_indices"] = list(self.pilot_ofdm_symbol_indices)
        return d

    # -- Sionna blocks, built lazily per (device, precision) -----------------
    def _get_blocks(self, device: torch.device, dtype: torch.dtype) -> _Blocks:
        key = (device_key(device), precision_of(dtype))
        if key in self._blocks:
            return self._blocks[key]
        dev, prec = key
        ls = self.csi == "ls"
        with sionna_rng(make_generator(_PILOT_SEED, dev), dev):
            rg = ResourceGrid(num_ofdm_symbols=self.num_ofdm_symbols, fft_size=self.fft_size,
                              subcarrier_spacing=self.subcarrier_spacing_hz,
                              pilot_pattern="kronecker" if ls else "empty",
                              pilot_ofdm_symbol_indices=list(self.pilot_ofdm_symbol_indices)
                              if ls else None, precision=prec, device=dev)
        tdl = TDL(model=self.model, delay_spread=self.delay_spread_ns * 1e-9,
                  carrier_frequency=self.carrier_frequency_hz, min_speed=self.min_speed_mps,
                  max_speed=self.max_speed_mps, precision=prec, device=dev)
        # The mapper fills data REs in flat (symbol, subcarrier) order; the same
        # indices read them back, so y, h and x line up RE by RE.
        data_ind = torch.nonzero(rg.build_type_grid()[0, 0].flatten() == 0).squeeze(-1)
        blocks = _Blocks(
            rg=rg,
            mapper=ResourceGridMapper(rg, precision=prec, device=dev),
            # normalize_channel=False keeps E|H|^2 = 1 across slots; True would
            # force every slot to unit energy and remove the slot-level fading.
            generate=GenerateOFDMChannel(tdl, rg, normalize_channel=False,
                                         precision=prec, device=dev),
            apply=ApplyOFDMChannel(precision=prec, device=dev),
            estimator=LSChannelEstimator(rg, precision=prec, device=dev) if ls else None,
            data_ind=data_ind.to(dev),
        )
        assert blocks.data_ind.numel() == self.data_res_per_slot == rg.num_data_symbols
        self._blocks[key] = blocks
        return blocks

    # -- the model ---------------------------------------------------------
    def forward(self, x: torch.Tensor, snr_db: torch.Tensor | float,
                generator: torch.Generator | None = None) -> ChannelOutput:
        no = self.noise_power(x, snr_db)                   # (...,), checks x is complex
        n = x.shape[-1]
        batch = x.shape[:-1]
        num_ex = math.prod(batch)
        real = no.dtype
        blk = self._get_blocks(x.device, x.dtype)
        d = self.data_res_per_slot
        slots = max(1, self.num_slots(n))  # n = 0 still runs one (empty) slot
        # (..., N) -> (examples * slots, 1 tx, 1 stream, d): zero-pad the last slot
        xf = x.reshape(num_ex, n)
        pad = slots * d - n
        if pad:
            xf = torch.cat([xf, xf.new_zeros(num_ex, pad)], dim=-1)
        x_rg = blk.mapper(xf.reshape(num_ex * slots, 1, 1, d))      # (E*S, 1, 1, T, F)
        no_slot = no.reshape(num_ex, 1).expand(num_ex, slots).reshape(-1)  # (E*S,)
        with sionna_rng(generator, x.device):
            h_rg = blk.generate(num_ex * slots)                      # (E*S, 1, 1, 1, 1, T, F)
            y_rg = blk.apply(x_rg, h_rg, no_slot)                    # (E*S, 1, 1, T, F)
        if blk.estimator is None:
            h_rx = self._data(h_rg, blk, batch, slots, n)
            err_var = torch.zeros((), dtype=real, device=x.device)
        else:
            h_hat, ev = blk.estimator(y_rg, no_slot)                 # (E*S, 1, 1, 1, 1, T, F)
            h_rx = self._data(h_hat, blk, batch, slots, n)
            err_var = self._data(ev, blk, batch, slots, n)
        y = self._data(y_rg, blk, batch, slots, n)
        return ChannelOutput(y=y, h=h_rx, no=no.unsqueeze(-1), err_var=err_var)

    @staticmethod
    def _data(grid: torch.Tensor, blk: _Blocks, batch: torch.Size, slots: int,
              n: int) -> torch.Tensor:
        """Data REs of the slots' grids (E*S, ..., T, F) -> (*batch, n), padding dropped."""
        num_ex = math.prod(batch)
        flat = grid.reshape(num_ex * slots, blk.rg.num_resource_elements)
        vals = flat.index_select(-1, blk.data_ind)                   # (E*S, d)
        return vals.reshape(num_ex, slots * vals.shape[-1])[:, :n].reshape(*batch, n)
