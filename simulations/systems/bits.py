"""The classical bit pipeline: bits -> (5G LDPC) -> QAM -> channel -> equaliser -> demapper -> decoder.

This is the reference system every link-level result is compared against.
One example is one block of ``k`` information bits; it is sent as ``N``
complex symbols (``N = n / bits_per_symbol`` with LDPC, ``k / bits_per_symbol``
uncoded). All blocks are Sionna 2.x PHY (PyTorch):

- source: i.i.d. uniform bits, or the UTF-8 bytes of a text cycled into the
  blocks (``source="text"``), each block starting at a random byte;
- :class:`~sionna.phy.fec.ldpc.LDPC5GEncoder` (3GPP rate matching and the
  38.212 bit interleaver for the modulation order) or no coding;
- Gray-labelled, unit-energy constellations: ``bpsk`` is Sionna's 1-bit
  ``"pam"`` (points +-1 on the I axis, complex dtype), the others ``"qam"``;
- receiver: ZF or unbiased LMMSE equalisation with the channel's CSI
  (:func:`channels.equalize`), a per-symbol effective noise variance,
  ``"app"`` or ``"maxlog"`` demapping, then BP decoding (or the sign of the
  LLR when uncoded). For one stream the unbiased LMMSE estimate is ``y/h``
  with noise ``(no + err_var)/|h|^2``, the same as ZF: the two options agree
  up to float rounding, also with estimated CSI.

Sionna's LLRs are logits, ``log P(b=1)/P(b=0)``, for the demapper and the
decoder alike, so a positive LLR means bit 1.

Example:
    >>> import torch, channels
    >>> sys_ = BitsSystem(modulation="qpsk", coding="none", k=64)
    >>> batch = sys_.sample(4, torch.Generator().manual_seed(0))
    >>> x = sys_.transmit(batch)                           # (4, 32) complex64
    >>> out = channels.get("none")(x.unsqueeze(0), 10.0)   # one SNR point
    >>> int(sys_.score(sys_.receive(out, batch), batch)["ber"].errors.sum())
    0
"""
from __future__ import annotations

import hashlib
from typing import Literal

import torch
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.mapping import Demapper, Mapper

from channels.base import ChannelOutput
from channels.equalizer import EQUALIZERS, equalize
from channels.rng import device_key

from ..system import Tally

__all__ = ["BitsSystem", "MODULATIONS", "bytes_to_bits", "bits_to_bytes"]

#: modulation name -> (Sionna constellation type, bits per symbol)
MODULATIONS: dict[str, tuple[str, int]] = {
    "bpsk": ("pam", 1),
    "qpsk": ("qam", 2),
    "16qam": ("qam", 4),
    "64qam": ("qam", 6),
}
_CODINGS = ("ldpc", "none")
_DEMAPPINGS = ("app", "maxlog")
_SOURCES = ("random", "text")


def bytes_to_bits(data: bytes) -> torch.Tensor:
    """Bits of ``data``, most significant bit of each byte first, as a float tensor."""
    b = torch.tensor(list(data), dtype=torch.int64)
    shifts = torch.arange(7, -1, -1)
    return ((b.unsqueeze(-1) >> shifts) & 1).reshape(-1).float()


def bits_to_bytes(bits: torch.Tensor) -> bytes:
    """Inverse of :func:`bytes_to_bits` (1-D, length a multiple of 8; extra bits dropped)."""
    b = bits.detach().to("cpu").reshape(-1).round().to(torch.int64)
    b = b[: b.numel() // 8 * 8].reshape(-1, 8)
    weights = 2 ** torch.arange(7, -1, -1)
    return bytes((b * weights).sum(dim=-1).tolist())


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _one_of(name: str, value: str, valid) -> str:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")
    return value


class BitsSystem:
    """Random or text bits over a coded (5G LDPC) or uncoded QAM link.

    Args:
        modulation: ``"bpsk"``, ``"qpsk"``, ``"16qam"`` or ``"64qam"`` (Gray, unit energy).
        coding: ``"ldpc"`` (5G NR LDPC, ``k`` info bits -> ``n`` code bits) or ``"none"``.
        k: information bits per block (example).
        n: code bits per block for ``coding="ldpc"``; must be a multiple of the
            bits per symbol. Ignored (taken as ``k``) when uncoded.
        num_bp_iter: belief-propagation iterations of the LDPC decoder.
        equalizer: ``"zf"`` or ``"mmse"`` (unbiased LMMSE) per symbol.
        demapping: ``"app"`` (exact LLRs) or ``"maxlog"``.
        source: ``"random"`` (i.i.d. bits) or ``"text"`` (the bytes of ``text``).
        text: the payload for ``source="text"`` (bytes, or a str taken as UTF-8).
        device: where the batches and the Sionna blocks live.

    Raises:
        ValueError: an unknown option, a non-positive size, ``k`` (uncoded) or
            ``n`` (LDPC) not a multiple of the bits per symbol, a code the 5G
            LDPC does not support, or a missing/unexpected ``text``.
    """

    name = "bits"
    task = "bits"
    metrics: tuple[str, ...] = ("ber", "bler")

    def __init__(self, *, modulation: Literal["bpsk", "qpsk", "16qam", "64qam"] = "16qam",
                 coding: Literal["ldpc", "none"] = "ldpc", k: int = 512, n: int = 1024,
                 num_bp_iter: int = 20, equalizer: Literal["zf", "mmse"] = "zf",
                 demapping: Literal["app", "maxlog"] = "app",
                 source: Literal["random", "text"] = "random", text: bytes | str | None = None,
                 device: str | torch.device = "cpu") -> None:
        self.modulation = _one_of("modulation", modulation, tuple(MODULATIONS))
        self.coding = _one_of("coding", coding, _CODINGS)
        self.equalizer = _one_of("equalizer", equalizer, EQUALIZERS)
        self.demapping = _one_of("demapping", demapping, _DEMAPPINGS)
        self.source = _one_of("source", source, _SOURCES)
        self.k = _positive_int("k", k)
        self.num_bp_iter = _positive_int("num_bp_iter", num_bp_iter)
        ctype, bps = MODULATIONS[modulation]
        self.bits_per_symbol = bps
        self.device = torch.device(device)
        dev = device_key(self.device)

        if coding == "none":
            self.n = self.k  # the block is sent as is
            if self.k % bps:
                raise ValueError(f"uncoded: k={k} must be a multiple of the {bps} bits "
                                 f"per {modulation} symbol")
            self._encoder = self._decoder = None
        else:
            self.n = _positive_int("n", n)
            if self.n % bps:
                raise ValueError(f"ldpc: n={n} must be a multiple of the {bps} bits "
                                 f"per {modulation} symbol")
            if self.n <= self.k:
                raise ValueError(f"ldpc: n={n} must exceed k={k} (rate k/n < 1)")
            try:
                # num_bits_per_symbol enables the 38.212 bit interleaver, which
                # the decoder undoes; it matters for 16/64-QAM's unequal bit levels.
                self._encoder = LDPC5GEncoder(self.k, self.n, num_bits_per_symbol=bps,
                                              device=dev)
            except ValueError as e:
                raise ValueError(f"ldpc: unsupported code k={k}, n={n}: {e}") from None
            self._decoder = LDPC5GDecoder(self._encoder, num_iter=self.num_bp_iter,
                                          hard_out=True, return_infobits=True, device=dev)
        self.coderate = self.k / self.n

        # Sionna's "qam"/"pam" constellations are Gray labelled and normalised to Es = 1.
        self._mapper = Mapper(ctype, bps, device=dev)
        self._demapper = Demapper(self.demapping, ctype, bps, device=dev)

        if source == "text":
            if not isinstance(text, (bytes, bytearray, str)) or len(text) == 0:
                raise ValueError(f"source='text' needs a non-empty bytes or str text, "
                                 f"got {type(text).__name__}")
            payload = text.encode("utf-8") if isinstance(text, str) else bytes(text)
            self._text = payload
            self._text_bits = bytes_to_bits(payload).to(self.device)
        else:
            if text is not None:
                raise ValueError("text is only used with source='text'")
            self._text = None
            self._text_bits = None
        self.dataset = self.source
        # BP decoding of all SNR points at once thrashes the CPU caches: one point per call
        # measured 1.3x faster than 11 at once (simulations.bench); GPUs prefer all at once
        self.preferred_snr_chunk = 1 if (coding == "ldpc" and torch.device(device).type == "cpu") else None

    # -- the System contract -------------------------------------------------
    def sample(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """``{"bits": (B, k) float 0/1}``; text blocks also carry their start ``"offset"`` byte."""
        if self._text_bits is None:
            bits = torch.randint(0, 2, (batch_size, self.k), generator=generator,
                                 device=self.device).float()
            return {"bits": bits}
        num_bytes = len(self._text)
        offset = torch.randint(0, num_bytes, (batch_size,), generator=generator,
                               device=self.device)
        pos = (8 * offset.unsqueeze(-1) + torch.arange(self.k, device=self.device)) % (8 * num_bytes)
        return {"bits": self._text_bits[pos], "offset": offset}

    def transmit(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, N) complex64 constellation points; Es = 1 on average over the constellation.

        Symbols are not renormalised per example: the receiver's demapper
        relies on the fixed, unit-energy constellation.
        """
        bits = batch["bits"].to(self.device, torch.float32)
        cw = self._encoder(bits) if self._encoder is not None else bits
        return self._mapper(cw)

    def llr(self, out: ChannelOutput) -> torch.Tensor:
        """Demapper LLRs ``log P(b=1)/P(b=0)`` of the transmitted (code) bits, ``(..., n)``.

        In channel order, i.e. after the LDPC rate matching and interleaving.
        """
        # Unbiased equalisation: the demapper assumes x_hat = x + noise of variance no_eff.
        x_hat, no_eff = equalize(out.y, out.h, out.no, self.equalizer, err_var=out.err_var,
                                 unbiased=True)
        # The floor keeps LLRs finite on the error-free channel (no = 0); it
        # only matters above ~90 dB and never changes a hard decision.
        no_eff = no_eff.to(torch.float32).clamp_min(1e-9)
        return self._demapper(x_hat.to(torch.complex64), no_eff)

    def receive(self, out: ChannelOutput, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Hard decisions on the information bits, shape ``out.y.shape[:-1] + (k,)``.

        Uses only ``out`` (never ``batch``).
        """
        llr = self.llr(out)
        if self._decoder is not None:
            return self._decoder(llr)
        return (llr > 0).float()  # Sionna LLR = log P(1)/P(0): positive -> bit 1

    def score(self, estimate: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, Tally]:
        """Bit errors (trials B*k) and block errors (trials B) per SNR point."""
        bits = batch["bits"]
        wrong = estimate.to(bits.device) != bits           # (S, B, k)
        per_block = wrong.sum(dim=-1)                      # (S, B) bit errors per codeword
        bit_err = per_block.sum(dim=-1).reshape(-1)
        blk_err = wrong.any(dim=-1).sum(dim=-1).reshape(-1)
        b, k = bits.shape
        # bits of one codeword share noise realisations after decoding and one fade under
        # block fading: report the cluster-robust interval (see simulations.stats)
        sq = per_block.double().square().sum(dim=-1).reshape(-1)
        return {"ber": Tally(errors=bit_err, trials=b * k, kind="error_rate", errors_sq=sq),
                "bler": Tally(errors=blk_err, trials=b, kind="error_rate")}

    def symbols_per_sample(self) -> int:
        """Complex symbols per block: ``n / bits_per_symbol``."""
        return self.n // self.bits_per_symbol

    def describe(self) -> dict:
        """Parameters that change results (n is the effective block length; text by hash)."""
        d = {"name": self.name, "modulation": self.modulation,
             "bits_per_symbol": self.bits_per_symbol, "coding": self.coding, "k": self.k,
             "n": self.n, "coderate": self.coderate, "equalizer": self.equalizer,
             "demapping": self.demapping, "source": self.source}
        if self.coding == "ldpc":
            d["num_bp_iter"] = self.num_bp_iter
        if self._text is not None:
            d["text_bytes"] = len(self._text)
            d["text_sha256"] = hashlib.sha256(self._text).hexdigest()
        return d

    def __repr__(self) -> str:
        return f"BitsSystem({self.describe()})"
