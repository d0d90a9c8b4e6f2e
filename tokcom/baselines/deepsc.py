"""The DeepSC family of semantic-communication baselines, as one configurable model.

All members share the link of TaiChi (:mod:`tokcom.channel_coding`: a dense
channel encoder to unit-power complex symbols, MMSE/ZF equalisation on the
receiver's CSI, a dense channel decoder that also reads the effective noise)
and differ in their semantic transmitter and receiver:

================  =================================  ==================================  ==========
config            transmitter (semantic encoder)     receiver (semantic decoder)         objective
================  =================================  ==================================  ==========
``deepsc``        Transformer on the sentence        Transformer reconstructing the      tokens + label
                  (Xie et al., 2021)                 sentence, label head on it
``t-deepsc-*``    task-specific: Transformer text    Transformer over the decoded        answer
                  (+ ViT image) encoder              tokens, attention pooling, head
``u-deepsc``      one model for all tasks: shared    shared Transformer, task token      answer
                  encoders + task embedding; a       embedding, task-specific heads
                  shared codec with a per-task
                  symbol budget (Zhang et al., 2024)
``deepsc-vqa``    CNN image transmitter and a        text attends the image features     answer
                  BiLSTM text transmitter            (fusion at the receiver),
                  (Xie et al., 2022, MU-DeepSC)      pooling, answer head
================  =================================  ==================================  ==========

Answers are classes of a closed vocabulary per task (VQA as classification,
as in those papers). DeepSC's mutual-information term is left out. The
receiver computes everything from the channel output and the task (known to
both ends by protocol); padding masks do not cross the channel, so the
receiver attends over every transmitted position.

Shapes: text ``(B, text_len)`` token ids, images ``(B, 3, S, S)`` in [0, 1];
the transmitter sends ``num_tokens(task) * symbols_per_token[task]`` complex
symbols per example.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from channels.awgn import NoChannel
from channels.base import Channel, ChannelOutput
from channels.equalizer import equalize
from channels.snr import normalize_power

from ..channel_coding import ChannelDecoder, ChannelEncoder
from ..tasks import get_task, normalize_answer

__all__ = ["DeepSCConfig", "DeepSC", "IGNORE"]

IGNORE = -100
#: the noise variance a receiver assigns to symbols its task does not send (no information)
UNSENT_NOISE = 1e4


@dataclass
class DeepSCConfig:
    """One member of the family (see module docstring); stored as ``config.json``."""

    name: str = "deepsc"
    family: str = "deepsc"                                 # marks a baseline checkpoint
    tasks: list[str] = field(default_factory=lambda: ["classify"])
    image_encoder: Literal["none", "vit", "cnn"] = "none"
    text_encoder: Literal["transformer", "lstm"] = "transformer"
    receiver: Literal["transformer", "fusion"] = "transformer"
    reconstruct_text: bool = False                         # DeepSC's sentence-reconstruction loss
    dim: int = 128
    enc_layers: int = 3
    dec_layers: int = 3
    heads: int = 8
    text_len: int = 48
    image_size: int = 96
    patch_size: int = 16
    symbols_per_token: dict = field(default_factory=lambda: {"classify": 7})
    answers: dict = field(default_factory=dict)            # task -> answer list (filled at creation)
    tokenizer_vocab: int = 1024
    equalizer: Literal["zf", "mmse"] = "mmse"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DeepSCConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown DeepSC config keys {unknown}; valid: {sorted(known)}")
        cfg = cls(**d)
        bad = [t for t in cfg.tasks if t not in ("classify", "vqa")]
        if bad or not cfg.tasks:
            raise ValueError(f"DeepSC tasks must be among classify, vqa; got {cfg.tasks}")
        missing = [t for t in cfg.tasks if t not in cfg.symbols_per_token]
        if missing:
            raise ValueError(f"symbols_per_token lacks a budget for tasks {missing}")
        if "vqa" in cfg.tasks and cfg.image_encoder == "none":
            raise ValueError("a VQA member needs an image encoder (vit or cnn)")
        return cfg

    @classmethod
    def from_json(cls, path) -> "DeepSCConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}: {e}") from None


def _transformer(dim: int, heads: int, layers: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True,
                                       norm_first=True, activation="gelu")
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class _CNN(nn.Module):
    """DeepSC-VQA's image transmitter: strided conv stack, (B,3,S,S) -> (B, (S/stride)^2, dim)."""

    def __init__(self, dim: int, stride: int) -> None:
        super().__init__()
        n = stride.bit_length() - 1
        if 2 ** n != stride:
            raise ValueError(f"CNN stride must be a power of two, got {stride}")
        chans = [3] + [min(dim, 32 * 2 ** i) for i in range(n - 1)] + [dim]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(2).transpose(1, 2)


class DeepSC(nn.Module):
    """A DeepSC-family link model; see :class:`DeepSCConfig` and the module docstring."""

    def __init__(self, cfg: DeepSCConfig, vocab_size: int, pad_id: int) -> None:
        super().__init__()
        self.cfg, self.pad_id = cfg, int(pad_id)
        d = cfg.dim
        self.k_max = max(cfg.symbols_per_token[t] for t in cfg.tasks)
        self.embed = nn.Embedding(vocab_size, d)
        self.text_pos = nn.Parameter(torch.zeros(1, cfg.text_len, d))
        if cfg.text_encoder == "transformer":
            self.text_enc = _transformer(d, cfg.heads, cfg.enc_layers)
        else:
            self.text_enc = nn.LSTM(d, d // 2, num_layers=cfg.enc_layers, batch_first=True,
                                    bidirectional=True)
        self.grid = cfg.image_size // cfg.patch_size
        if cfg.image_encoder == "vit":
            self.patch = nn.Conv2d(3, d, cfg.patch_size, stride=cfg.patch_size)
            self.img_pos = nn.Parameter(torch.zeros(1, self.grid ** 2, d))
            self.img_enc = _transformer(d, cfg.heads, cfg.enc_layers)
        elif cfg.image_encoder == "cnn":
            self.img_enc = _CNN(d, cfg.patch_size)
        self.task_embed = nn.Embedding(len(cfg.tasks), d) if len(cfg.tasks) > 1 else None
        self.channel_encoder = ChannelEncoder(d, self.k_max)
        self.channel_decoder = ChannelDecoder(d, self.k_max)
        self.rx_pos = nn.Parameter(torch.zeros(1, self.max_tokens, d))
        if cfg.receiver == "fusion":     # DeepSC-VQA: text features attend the image features
            self.fuse = nn.MultiheadAttention(d, cfg.heads, batch_first=True)
            self.fuse_norm = nn.LayerNorm(d)
        self.rx = _transformer(d, cfg.heads, cfg.dec_layers)
        self.pool_query = nn.Parameter(torch.zeros(1, 1, d))
        self.pool = nn.MultiheadAttention(d, cfg.heads, batch_first=True)
        self.heads_ = nn.ModuleDict({t: nn.Sequential(nn.LayerNorm(d), nn.Linear(d, len(cfg.answers[t])))
                                     for t in cfg.tasks})
        self.recon = nn.Linear(d, vocab_size) if cfg.reconstruct_text else None
        for p in (self.text_pos, self.rx_pos, self.pool_query) + (
                (self.img_pos,) if cfg.image_encoder == "vit" else ()):
            nn.init.normal_(p, std=0.02)
        self._answer_index = {t: {normalize_answer(a): i for i, a in enumerate(cfg.answers[t])}
                              for t in cfg.tasks}

    # -- sizes ---------------------------------------------------------------
    @property
    def max_tokens(self) -> int:
        return self.cfg.text_len + (self.grid ** 2 if self.cfg.image_encoder != "none" else 0)

    def num_tokens(self, task: str) -> int:
        """Feature tokens sent for ``task`` (image tokens only for image tasks)."""
        return self.cfg.text_len + (self.grid ** 2 if get_task(task).uses_image else 0)

    def symbols_per_sample(self, task: str) -> int:
        return self.num_tokens(task) * self.cfg.symbols_per_token[task]

    def _check_task(self, task: str) -> None:
        if task not in self.cfg.tasks:
            raise ValueError(f"{self.cfg.name} serves tasks {self.cfg.tasks}, not {task!r}")

    # -- data ------------------------------------------------------------------
    def collate(self, examples, tokenizer, device: torch.device | str = "cpu") -> dict:
        """Examples of one task -> ``{"text_ids", "images", "labels", "answers", "task"}``."""
        task = examples[0].task
        self._check_task(task)
        if any(e.task != task for e in examples):
            raise ValueError("a batch mixes tasks; collate per task")
        L = self.cfg.text_len
        ids = torch.full((len(examples), L), self.pad_id, dtype=torch.long)
        for i, e in enumerate(examples):
            t = tokenizer(e.question, add_special_tokens=False)["input_ids"][:L]
            ids[i, :len(t)] = torch.tensor(t, dtype=torch.long)
        images = None
        if get_task(task).uses_image:
            images = torch.stack([e.image for e in examples])
            if images.shape[-1] != self.cfg.image_size:
                images = F.interpolate(images, size=(self.cfg.image_size,) * 2, mode="bilinear",
                                       antialias=True, align_corners=False)
            images = images.to(device)
        index = self._answer_index[task]
        labels = torch.tensor([index.get(normalize_answer(e.answer), IGNORE) for e in examples])
        return {"text_ids": ids.to(device), "images": images, "labels": labels.to(device),
                "answers": [e.answer for e in examples], "task": task}

    # -- transmitter -----------------------------------------------------------
    def features(self, text_ids: torch.Tensor, images: torch.Tensor | None, task: str) -> torch.Tensor:
        """Semantic features (B, N, dim): image tokens (image tasks) then text tokens."""
        h = self.embed(text_ids) + self.text_pos
        h = self.text_enc(h) if isinstance(self.text_enc, nn.TransformerEncoder) else self.text_enc(h)[0]
        parts = [h]
        if get_task(task).uses_image:
            if images is None:
                raise ValueError(f"task {task!r} needs images")
            if self.cfg.image_encoder == "vit":
                v = self.img_enc(self.patch(images).flatten(2).transpose(1, 2) + self.img_pos)
            else:
                v = self.img_enc(images)
            parts.insert(0, v)
        f = torch.cat(parts, 1)
        if self.task_embed is not None:
            f = f + self.task_embed.weight[self.cfg.tasks.index(task)]
        return f

    def transmit(self, text_ids: torch.Tensor, images: torch.Tensor | None, task: str) -> torch.Tensor:
        """Complex symbols (B, symbols_per_sample(task)), unit average power per example."""
        self._check_task(task)
        s = self.channel_encoder(self.features(text_ids, images, task))     # (B, N * k_max)
        k = self.cfg.symbols_per_token[task]
        if k < self.k_max:   # a shared codec: the task's budget keeps the first k symbols per token
            b = s.shape[0]
            s = normalize_power(s.reshape(b, -1, self.k_max)[..., :k].reshape(b, -1))
        return s

    # -- receiver --------------------------------------------------------------
    def receive_features(self, out: ChannelOutput, task: str) -> torch.Tensor:
        """Decoded semantic features (B, N, dim) from the channel output only."""
        x_hat, no_eff = equalize(out.y, out.h, out.no, self.cfg.equalizer, err_var=out.err_var)
        k = self.cfg.symbols_per_token[task]
        if k < self.k_max:   # unsent symbols: zero with (practically) infinite noise
            lead = x_hat.shape[:-1]
            pad = self.k_max - k
            x_hat = F.pad(x_hat.reshape(*lead, -1, k), (0, pad)).reshape(*lead, -1)
            no_eff = F.pad(no_eff.reshape(*lead, -1, k), (0, pad), value=UNSENT_NOISE).reshape(*lead, -1)
        return self.channel_decoder(x_hat, no_eff)

    def logits(self, feats: torch.Tensor, task: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Answer logits (B, |answers[task]|) and, for DeepSC, text logits (B, text_len, V)."""
        n = feats.shape[1]
        h = feats + self.rx_pos[:, :n]
        if self.task_embed is not None:
            h = h + self.task_embed.weight[self.cfg.tasks.index(task)]
        if self.cfg.receiver == "fusion" and get_task(task).uses_image:
            g2 = self.grid ** 2
            img, txt = h[:, :g2], h[:, g2:]
            txt = self.fuse_norm(txt + self.fuse(txt, img, img, need_weights=False)[0])
            h = torch.cat([img, txt], 1)
        h = self.rx(h)
        pooled = self.pool(self.pool_query.expand(h.shape[0], -1, -1), h, h, need_weights=False)[0][:, 0]
        recon = self.recon(h[:, -self.cfg.text_len:]) if self.recon is not None else None
        return self.heads_[task](pooled), recon

    def answer(self, out: ChannelOutput, task: str) -> list[str]:
        """Answer strings from a channel output of shape (B, N)."""
        logits, _ = self.logits(self.receive_features(out, task), task)
        vocab = self.cfg.answers[task]
        return [vocab[i] for i in logits.argmax(-1).tolist()]

    # -- training --------------------------------------------------------------
    def batch_loss(self, batch: dict, *, channel: Channel | None = None,
                   snr_db: torch.Tensor | None = None, generator: torch.Generator | None = None
                   ) -> torch.Tensor:
        """CE on the answer (+ CE on the sentence tokens for DeepSC); channel in the loop if given."""
        task = batch["task"]
        s = self.transmit(batch["text_ids"], batch["images"], task)
        if channel is None:
            out = self._clean(s)
        else:
            out = channel(s, snr_db, generator=generator)
        logits, recon = self.logits(self.receive_features(out, task), task)
        loss = F.cross_entropy(logits, batch["labels"], ignore_index=IGNORE)
        if recon is not None:
            target = batch["text_ids"].masked_fill(batch["text_ids"] == self.pad_id, IGNORE)
            loss = loss + F.cross_entropy(recon.flatten(0, 1), target.flatten(), ignore_index=IGNORE)
        return loss

    @torch.no_grad()
    def predict(self, batch: dict) -> list[str]:
        """Answers over the error-free channel (quick evaluation during training)."""
        s = self.transmit(batch["text_ids"], batch["images"], batch["task"])
        return self.answer(self._clean(s), batch["task"])

    @staticmethod
    def _clean(s: torch.Tensor) -> ChannelOutput:
        """The error-free channel (perfect CSI, N0 = 0)."""
        return NoChannel()(s, torch.zeros(s.shape[:-1], device=s.device))
