"""Separate source-channel coding: JPEG + UTF-8 bytes over LDPC + QAM, then TaiChi at the receiver.

``--system bits-taichi``: the classical digital alternative to token
communication. The transmitter source-codes the example: the image as a JPEG
(Pillow; the highest quality in 95, 90, ..., 5 that fits ``image_bytes``,
zero-padded to exactly that many bytes) and the question as UTF-8 (truncated
or zero-padded to ``question_bytes``). The payload is cut into ``k``-bit
blocks, each 5G-LDPC coded and QAM mapped by :class:`~.bits.BitsSystem`
(blocks of one example follow each other on the channel, so one fading block
per example covers all of them). The receiver decodes every block, rebuilds
the JPEG (a mid-grey image when the damaged bytes no longer decode) and the
question (invalid UTF-8 replaced), and asks TaiChi over its error-free link
(the whole model at the receiver). Its cliff at low SNR is the point
of the comparison; the channel uses per sample are many times TaiChi's
(``symbols_per_sample``, recorded in every row).
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from channels.awgn import NoChannel
from channels.base import ChannelOutput
from tokcom.data.base import Example
from tokcom.tasks import get_task

from .answers import AnswerSystem, checkpoint_provenance, evaluation_set
from .bits import BitsSystem, bits_to_bytes, bytes_to_bits
from .taichi import SHIPPED_CHECKPOINT, TaiChiSystem

__all__ = ["BitsTaiChiSystem", "build_bits_taichi_system", "jpeg_bytes"]


def jpeg_bytes(image: torch.Tensor, budget: int) -> bytes:
    """The (3, H, W) image in [0, 1] as a JPEG of at most ``budget`` bytes (best quality that fits)."""
    arr = (image.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    for q in range(95, 0, -5):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=q)
        if buf.tell() <= budget:
            return buf.getvalue()
    raise ValueError(f"the image does not fit {budget} bytes even at JPEG quality 5; raise --image-bytes")


def _decode_jpeg(data: bytes, size: int) -> torch.Tensor:
    try:
        with Image.open(io.BytesIO(data)) as im:
            arr = np.asarray(im.convert("RGB").resize((size, size)), dtype=np.float32) / 255.0
        return torch.from_numpy(arr.copy()).permute(2, 0, 1)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return torch.full((3, size, size), 0.5)       # the damaged JPEG no longer decodes


class BitsTaiChiSystem(AnswerSystem):
    """See module docstring. ``model, tokenizer, cfg``: the TaiChi checkpoint at the receiver."""

    def __init__(self, model, tokenizer, cfg, dataset, *, bits: BitsSystem, dataset_name: str,
                 image_bytes: int = 1536, question_bytes: int = 192, name: str = "bits-taichi",
                 device: torch.device | str = "cpu", describe_extra: dict | None = None) -> None:
        super().__init__(dataset, dataset_name=dataset_name, name=name, device=device,
                         describe_extra=describe_extra)
        if image_bytes < 1 or question_bytes < 1:
            raise ValueError("image_bytes and question_bytes must be positive")
        # the receiver's TaiChi, run over its error-free link (as its ``--channel none`` rows)
        self.taichi = TaiChiSystem(model, tokenizer, cfg, dataset, dataset_name=dataset_name,
                                   device=device)
        self.bits = bits
        self.uses_image = get_task(self.task).uses_image
        self.image_bytes = int(image_bytes) if self.uses_image else 0
        self.question_bytes = int(question_bytes)
        self.image_size = dataset[0].image.shape[-1] if self.uses_image else 0
        payload = 8 * (self.image_bytes + self.question_bytes)
        self.num_blocks = math.ceil(payload / bits.k)

    # -- transmitter -----------------------------------------------------------
    def collate(self, examples: list) -> dict:
        rows = []
        for e in examples:
            img = jpeg_bytes(e.image, self.image_bytes).ljust(self.image_bytes, b"\0") if self.uses_image else b""
            q = e.question.encode("utf-8")[:self.question_bytes].ljust(self.question_bytes, b"\0")
            bits = bytes_to_bits(img + q)
            rows.append(torch.nn.functional.pad(bits, (0, self.num_blocks * self.bits.k - bits.numel())))
        bits = torch.stack(rows).reshape(len(examples), self.num_blocks, self.bits.k)
        return {"bits": bits.to(self.device), "answers": [e.answer for e in examples]}

    def transmit(self, batch: dict) -> torch.Tensor:
        b = batch["bits"].shape[0]
        x = self.bits.transmit({"bits": batch["bits"].reshape(-1, self.bits.k)})   # (B*nb, m)
        return x.reshape(b, -1)

    # -- receiver --------------------------------------------------------------
    def _per_block(self, out: ChannelOutput) -> ChannelOutput:
        n = out.y.shape[-1]

        def split(t):
            if not torch.is_tensor(t) or t.dim() == 0:
                return t
            if t.shape[-1] == n:
                return t.reshape(*t.shape[:-1], self.num_blocks, n // self.num_blocks)
            return t.unsqueeze(-2)                        # (..., 1) -> (..., 1, 1)
        return ChannelOutput(*(split(t) for t in (out.y, out.h, out.no, out.err_var)))

    def _fit(self, image: torch.Tensor | None, question: str) -> Example:
        """The received example, its (damaged) question cut to the tokens that fit the prompt."""
        tok = self.taichi.tokenizer
        ids = tok(question, add_special_tokens=False)["input_ids"]
        for keep in range(len(ids), -1, -1):
            e = Example(image, question if keep == len(ids) else tok.decode(ids[:keep]), "",
                        self.task, {})
            try:
                self.taichi.collate([e])
                return e
            except ValueError:
                continue
        return Example(image, "", "", self.task, {})

    @torch.no_grad()
    def answers(self, out: ChannelOutput, batch: dict | None = None) -> list[str]:
        """LDPC-decode the payload of every example, source-decode it, ask TaiChi (error-free)."""
        info = self.bits.receive(self._per_block(out), None)            # (N, nb, k)
        examples = []
        for row in info.reshape(info.shape[0], -1).cpu():
            data = bits_to_bytes(row)
            img = _decode_jpeg(data[:self.image_bytes], self.image_size) if self.uses_image else None
            q = data[self.image_bytes:self.image_bytes + self.question_bytes]
            q = q.rstrip(b"\0").decode("utf-8", errors="replace")
            examples.append(self._fit(img, q))
        b = self.taichi.collate(examples)
        s = self.taichi.transmit(b)
        return self.taichi.answers(NoChannel()(s, torch.zeros(s.shape[:-1], device=s.device)))

    def symbols_per_sample(self) -> int:
        return self.num_blocks * self.bits.symbols_per_sample()

    def describe_system(self) -> dict:
        return {"image_bytes": self.image_bytes, "question_bytes": self.question_bytes,
                "blocks_per_sample": self.num_blocks, "bits": self.bits.describe()}


def build_bits_taichi_system(*, checkpoint: str | None = None, dataset: str | None = None,
                             split: str = "test", num_examples: int = 500, data_root: str | None = None,
                             device: torch.device | str = "cpu", task: str | None = None,
                             image_bytes: int = 1536, question_bytes: int = 192,
                             modulation: str = "16qam", coding: str = "ldpc", k: int = 512,
                             n: int = 1024, num_bp_iter: int = 20, equalizer: str = "zf",
                             demapping: str = "app") -> BitsTaiChiSystem:
    """The registry entry: the shipped TaiChi (or ``checkpoint``) behind an LDPC + QAM link."""
    from tokcom.checkpoint import load_checkpoint

    ck = Path(checkpoint) if checkpoint else SHIPPED_CHECKPOINT
    if not (ck / "config.json").exists():
        raise ValueError(f"bits-taichi: no TaiChi checkpoint at {ck}")
    model, tok, cfg = load_checkpoint(ck, device=device)
    dataset, ds = evaluation_set(dataset, task, split, num_examples, data_root)
    bits = BitsSystem(modulation=modulation, coding=coding, k=k, n=n, num_bp_iter=num_bp_iter,
                      equalizer=equalizer, demapping=demapping, device=device)
    extra = checkpoint_provenance(ck, training=False)
    sys_ = BitsTaiChiSystem(model, tok, cfg, ds, bits=bits, dataset_name=dataset,
                            image_bytes=image_bytes, question_bytes=question_bytes, device=device,
                            describe_extra=extra)
    sys_.preferred_snr_chunk = bits.preferred_snr_chunk
    return sys_
