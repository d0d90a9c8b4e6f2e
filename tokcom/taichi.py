"""TaiChi: dual visual tokenizers -> BAN -> projector -> split LLM -> channel codec.

The model reads top-down like the link (design Fig. 5):

transmitter
    ``images (B, 3, H, W)`` -> LR copy -> ViT ``V_l``; HR -> ConvNeXt ``V_h``;
    BAN fuses them into the LR token count; the projector maps them into the
    LLM embedding space; they replace the ``<image>`` placeholders of the
    prompt ``(B, P)``; the first ``K`` LLM layers give ``Z (B, P, D)``; the
    channel encoder gives ``P * symbols_per_token`` unit-power complex symbols.
receiver
    equalise the channel output with the receiver's CSI (ZF or MMSE), channel
    decoder -> ``Z_hat``, remaining LLM layers -> answer tokens.

Everything the receiver computes is a function of the :class:`ChannelOutput`
and the receiver's own weights (see :meth:`TaiChi.receive_states`).
"""
from __future__ import annotations

import hashlib
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from channels.base import Channel, ChannelOutput
from channels.equalizer import equalize

from .llm import SplitLLM

__all__ = ["TaiChi"]

IGNORE = -100


class TaiChi(nn.Module):
    """The TaiChi VLM as transmitter and receiver of a token-communication link.

    Args:
        lr_tower: LR visual tokenizer, ``(B, 3, s, s) -> (B, g^2, C_l)`` with ``img_size`` s.
        hr_tower: HR visual tokenizer ``(B, 3, H, W) -> (B, (g r)^2, C_h)``, or ``None``
            (single-encoder / "w/o BAN" systems use the LR tokens only).
        ban: fusion ``(V_l, V_h) -> (B, g^2, C)`` or ``None``.
        projector: ``(B, N, C) -> (B, N', D)`` into the LLM embedding space.
        llm: the split language model.
        channel_encoder / channel_decoder: see :mod:`tokcom.channel_coding`.
        lr_image_size: side of the LR image fed to ``lr_tower``.
        image_token_id: the prompt placeholder that visual tokens replace.
        equalizer: receiver equaliser for the channel decoder's input.
        visual_norm: LayerNorms on the projector's input and output (``visual_norm_in``,
            ``visual_norm_out``), which fix the scale of what the LLM receives (towers
            trained from scratch have no CLIP-style final normalisation; the fused features
            can grow far beyond the text embeddings' scale). An option: see the README,
            "Does the model read the image?".
        pixel_mean, pixel_std: per-channel input normalisation of the towers, ``(x - mean) / std``
            on images in [0, 1] (CLIP towers expect OpenAI's; the identity keeps raw pixels).
    """

    def __init__(self, *, lr_tower: nn.Module | None, hr_tower: nn.Module | None,
                 ban: nn.Module | None, projector: nn.Module | None, llm: SplitLLM,
                 channel_encoder: nn.Module, channel_decoder: nn.Module, lr_image_size: int,
                 image_token_id: int, equalizer: Literal["zf", "mmse"] = "mmse",
                 visual_norm: bool = False, visual_dim: int | None = None,
                 pixel_mean: tuple[float, float, float] = (0.0, 0.0, 0.0),
                 pixel_std: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> None:
        super().__init__()
        if ban is not None and hr_tower is None:
            raise ValueError("BAN needs an HR tower")
        self.lr_tower, self.hr_tower, self.ban, self.projector = lr_tower, hr_tower, ban, projector
        self.llm = llm
        self.channel_encoder, self.channel_decoder = channel_encoder, channel_decoder
        self.lr_image_size = int(lr_image_size)
        self.image_token_id = int(image_token_id)
        self.equalizer = equalizer
        if len(pixel_mean) != 3 or len(pixel_std) != 3 or not min(pixel_std) > 0:
            raise ValueError(f"pixel_mean/pixel_std need 3 values each, std > 0; got {pixel_mean}, "
                             f"{pixel_std}")
        # not stored in checkpoints: they come from the config
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.visual_norm_in = self.visual_norm_out = None
        if visual_norm:
            if visual_dim is None or projector is None:
                raise ValueError("visual_norm needs a projector and its input width visual_dim")
            self.visual_norm_in = nn.LayerNorm(int(visual_dim))
            self.visual_norm_out = nn.LayerNorm(llm.hidden_size)
        self._feature_memo: dict[bytes, torch.Tensor] | None = None

    #: most images :meth:`cache_frozen_features` keeps (tiny: 18 KiB each, so 1.8 GiB at most)
    FEATURE_MEMO_MAX = 100_000

    # -- vision ----------------------------------------------------------------
    @property
    def num_visual_tokens(self) -> int:
        """Visual tokens per image after BAN and projector (0 without a vision tower)."""
        if self.lr_tower is None:
            return 0
        n = self.lr_tower.grid_size ** 2
        return self.projector.output_tokens(n) if hasattr(self.projector, "output_tokens") else n

    def cache_frozen_features(self, on: bool) -> None:
        """Memoise :meth:`fused_features` per image while the front end (towers and BAN) is
        frozen: a training speed-up, since a frozen front end (no dropout) gives an image the
        same features at every step. ``True`` turns it on (a memo already on is kept), ``False``
        turns it off and empties it. It is consulted only while no front-end parameter requires a
        gradient; a call with a trainable front end empties it and computes the features as
        usual, so what a stage that trains the front end changes is never served stale. Whoever
        changes the front-end weights another way (loading a state dict) turns it off first.
        Images are keyed by their bytes (BLAKE2b), so the same picture in two datasets is one
        entry."""
        if not on:
            self._feature_memo = None
        elif self._feature_memo is None:
            self._feature_memo = {}

    def _front_end_frozen(self) -> bool:
        parts = [m for m in (self.lr_tower, self.hr_tower, self.ban) if m is not None]
        return not any(p.requires_grad for m in parts for p in m.parameters())

    def fused_features(self, images: torch.Tensor) -> torch.Tensor:
        """HR images (B, 3, H, W) in [0, 1] -> the BAN output (B, g^2, C), or the LR tokens
        (B, g^2, C_l) without BAN: what the projector receives."""
        if self._feature_memo is None:
            return self._fused_features(images)
        if not self._front_end_frozen():
            self._feature_memo.clear()
            return self._fused_features(images)
        memo = self._feature_memo
        host = images.detach().to("cpu", torch.float32).contiguous().numpy()
        keys = [hashlib.blake2b(x.tobytes(), digest_size=16).digest() for x in host]
        miss = [i for i, k in enumerate(keys) if k not in memo]
        fresh = {}
        if miss:
            with torch.no_grad():
                v = self._fused_features(images[miss])
            fresh = {keys[i]: v[j].clone() for j, i in enumerate(miss)}
            if len(memo) + len(fresh) <= self.FEATURE_MEMO_MAX:
                memo.update(fresh)
        return torch.stack([memo[k] if k in memo else fresh[k] for k in keys])

    def _fused_features(self, images: torch.Tensor) -> torch.Tensor:
        images = (images - self.pixel_mean.to(images.dtype)) / self.pixel_std.to(images.dtype)
        lr = F.interpolate(images, size=(self.lr_image_size, self.lr_image_size),
                           mode="bilinear", antialias=True, align_corners=False)
        v_l = self.lr_tower(lr)                                   # (B, g^2, C_l)
        if self.ban is not None:
            return self.ban(v_l, self.hr_tower(images))           # (B, g^2, C)
        return v_l

    def visual_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """HR images (B, 3, H, W) in [0, 1] -> visual tokens (B, N_v, D) in LLM space."""
        v = self.fused_features(images)
        if self.visual_norm_in is None:
            return self.projector(v)                              # (B, N_v, D)
        return self.visual_norm_out(self.projector(self.visual_norm_in(v)))

    def prompt_embeds(self, prompt_ids: torch.Tensor, images: torch.Tensor | None) -> torch.Tensor:
        """Prompt ids (B, P) with ``N_v`` image placeholders each -> embeddings (B, P, D)."""
        emb = self.llm.embed(prompt_ids)                          # (B, P, D)
        slots = prompt_ids == self.image_token_id                 # (B, P)
        n_slots = int(slots.sum())
        if images is None or self.lr_tower is None:
            if n_slots:
                raise ValueError("prompt has image placeholders but no image/vision tower")
            return emb
        vis = self.visual_tokens(images).to(emb.dtype)            # (B, N_v, D)
        if n_slots != vis.shape[0] * vis.shape[1]:
            raise ValueError(f"prompts hold {n_slots} image placeholders, expected "
                             f"{vis.shape[1]} per example x {vis.shape[0]} examples")
        return emb.masked_scatter(slots.unsqueeze(-1), vis)

    # -- transmitter ---------------------------------------------------------
    def token_states(self, prompt_ids: torch.Tensor, images: torch.Tensor | None) -> torch.Tensor:
        """The token encoder ``S_alpha``: Z (B, P, D)."""
        return self.llm.encode(self.prompt_embeds(prompt_ids, images))

    def transmit(self, prompt_ids: torch.Tensor, images: torch.Tensor | None) -> torch.Tensor:
        """Channel symbols (B, P * symbols_per_token), complex, unit average power per example."""
        return self.channel_encoder(self.token_states(prompt_ids, images))

    def symbols_per_sample(self, prompt_len: int) -> int:
        return prompt_len * self.channel_encoder.symbols_per_token

    # -- receiver ------------------------------------------------------------
    def through_channel(self, z: torch.Tensor, channel: Channel, snr_db: torch.Tensor,
                        generator: torch.Generator | None = None) -> torch.Tensor:
        """Token states Z (B, P, D) -> channel encoder -> ``channel`` at ``snr_db`` (B,) ->
        equaliser and channel decoder: ``Z_hat`` (B, P, D)."""
        return self.receive_states(channel(self.channel_encoder(z), snr_db, generator=generator))

    def receive_states(self, out: ChannelOutput) -> torch.Tensor:
        """Equalise and channel-decode: ``Z_hat`` (..., P, D) from the channel output only."""
        x_hat, no_eff = equalize(out.y, out.h, out.no, self.equalizer, err_var=out.err_var)
        z_hat = self.channel_decoder(x_hat, no_eff)
        return z_hat.to(self.llm.lm.dtype)

    @torch.no_grad()
    def generate(self, z_hat: torch.Tensor, max_new_tokens: int, eos_token_id: int | None,
                 use_cache: bool = True) -> torch.Tensor:
        """Greedy answer ids (B, T) from received states (B, P, D)."""
        return self.llm.generate(z_hat, max_new_tokens, eos_token_id=eos_token_id,
                                 use_cache=use_cache)

    # -- training ------------------------------------------------------------
    def loss(self, prompt_ids: torch.Tensor, images: torch.Tensor | None, answer_ids: torch.Tensor,
             *, channel: Channel | None = None, snr_db: torch.Tensor | None = None,
             generator: torch.Generator | None = None, seen_ids: torch.Tensor | None = None,
             seen_weight: float = 0.0) -> torch.Tensor:
        """Cross-entropy on the answer tokens (eq. 16-17).

        ``answer_ids`` (B, T): answer + eos, right-padded with ``-100``.
        ``channel=None``: no channel coding (VLM stages 1a/1b); otherwise the
        link is in the loop with per-example SNRs ``snr_db`` (B,).
        ``seen_ids`` (B,), -100 where absent, and ``seen_weight``: plus ``seen_weight`` x the
        cross-entropy of the output head read one receiver layer before the last, at the last
        prompt state, against them (:meth:`SplitLLM.readout`; ``tokcom.train --seen-loss``: the
        image's attribute a yes/no question asks about, so the last layer has only to compare it
        with the question's word).
        """
        z = self._received_states(prompt_ids, images, channel, snr_db, generator)
        logits = self._teacher_forced(z, answer_ids)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), answer_ids.flatten(), ignore_index=IGNORE)
        if seen_ids is not None and seen_weight > 0 and bool((seen_ids != IGNORE).any()):
            depth = self.llm.num_layers - self.llm.split_layer - 1
            seen = F.cross_entropy(self.llm.readout(z, depth).float(), seen_ids, ignore_index=IGNORE)
            loss = loss + seen_weight * seen
        return loss

    def text_loss(self, text_ids: torch.Tensor) -> torch.Tensor:
        """Next-token cross-entropy of plain causal LM over all the LLM's layers (unlabelled
        text, the ``text`` task; no image, no split, no channel). ``text_ids`` (B, T) with
        ``-100`` pads (:func:`tokcom.prompts.encode_text`)."""
        logits = self.llm.text_logits(text_ids.clamp_min(0))
        return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), text_ids[:, 1:].flatten(),
                               ignore_index=IGNORE)

    def answer_logits(self, prompt_ids: torch.Tensor, images: torch.Tensor | None,
                      answer_ids: torch.Tensor, *, channel: Channel | None = None,
                      snr_db: torch.Tensor | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """Teacher-forced logits (B, T, V) at the answer positions of ``answer_ids`` (as
        :meth:`loss`: ``channel=None`` sends the token states themselves, no codec)."""
        return self._teacher_forced(self._received_states(prompt_ids, images, channel, snr_db, generator),
                                    answer_ids)

    def _teacher_forced(self, z: torch.Tensor, answer_ids: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, V) from received states ``z`` with the answer fed back in."""
        return self.llm.decode(z, answer_ids[:, :-1].clamp_min(0))   # pads fed as id 0, masked

    def _received_states(self, prompt_ids: torch.Tensor, images: torch.Tensor | None,
                         channel: Channel | None, snr_db: torch.Tensor | None,
                         generator: torch.Generator | None) -> torch.Tensor:
        """The token states the receiver gets: sent as they are (``channel=None``) or through
        the codec and ``channel`` at ``snr_db``."""
        z = self.token_states(prompt_ids, images)
        if channel is not None:
            z = self.through_channel(z, channel, snr_db, generator)
        return z
