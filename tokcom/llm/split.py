"""A Hugging Face causal LM split for the link (design eqs. 11-15).

The transmitter holds the embeddings and the first ``K`` decoder layers (the
token encoder ``S_alpha``); it maps the prompt (visual tokens + instruction +
question, always ``P`` positions: prompts are left-padded to a fixed length so
that every example uses the same number of channel uses and the receiver
needs no side information) to the high-level token states ``Z = h_K``
(B, P, D). The receiver holds layers ``K..L-1``, the final norm and the LM
head (the token decoder ``S_delta^{-1}``), and generates the answer.

How generated tokens enter the receiver
---------------------------------------
The receiver only ever sees ``Z_hat`` (the received prompt states at depth
``K``) plus its own weights. A generated token must still pass through all
``L`` layers, but in layers ``0..K-1`` the prompt's keys/values exist only at
the transmitter. So the *response stream* runs layers ``0..K-1`` with
attention restricted to earlier response tokens (the receiver keeps its own
copy of the embeddings and those layers: in the simulator they are the same
tensors), and layers ``K..L-1`` with attention to the received prompt states
and earlier response tokens. Training uses exactly this attention pattern, and
:meth:`SplitLLM.unsplit_logits` computes it in one pass over the concatenated
sequence, so ``split == unsplit`` holds exactly over an error-free channel.

Positions: prompt ``0..P-1``, response ``P..P+T-1`` (RoPE). Decoding uses a
``DynamicCache`` for every layer (response-only keys below ``K``, prompt +
response keys from ``K`` on).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel
from transformers.cache_utils import DynamicCache

__all__ = ["SplitLLM", "build_causal_lm"]


def build_causal_lm(config_kwargs: dict, model_type: str = "llama") -> PreTrainedModel:
    """A randomly initialised ``transformers`` causal LM from plain config keys (tiny preset)."""
    cfg = AutoConfig.for_model(model_type, **config_kwargs)
    cfg._attn_implementation = "sdpa"  # noqa: SLF001 - explicit 4D float masks are used
    return AutoModelForCausalLM.from_config(cfg)


def _neg_inf(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).min


def _mask(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Bool (Q, K) 'may attend' -> additive float mask (1, 1, Q, K)."""
    m = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return m.masked_fill(~allowed, _neg_inf(dtype))[None, None]


class SplitLLM(nn.Module):
    """A Llama/Qwen2-family ``transformers`` causal LM cut after ``split_layer`` layers.

    Args:
        lm: the causal LM (``lm.model.{embed_tokens, layers, norm, rotary_emb}``, ``lm.lm_head``);
            may be wrapped by ``peft`` LoRA (modules are patched in place).
        split_layer: ``K``, the number of decoder layers at the transmitter (1 <= K < L).

    Example:
        >>> lm = build_causal_lm(dict(vocab_size=64, hidden_size=32, intermediate_size=64,
        ...     num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2))
        >>> s = SplitLLM(lm, split_layer=2)
        >>> z = s.encode(s.embed(torch.randint(0, 64, (2, 5))))     # (2, 5, 32): transmitted
        >>> s.generate(z, max_new_tokens=3).shape
        torch.Size([2, 3])
    """

    def __init__(self, lm: PreTrainedModel, split_layer: int) -> None:
        super().__init__()
        self.lm = lm
        n = len(self._inner.layers)
        if not 1 <= split_layer < n:
            raise ValueError(f"split_layer must be in [1, {n - 1}] for a {n}-layer LM, got {split_layer}")
        self.split_layer = int(split_layer)
        mt = getattr(lm.config, "model_type", "")
        # Gemma scales embeddings by sqrt(hidden) inside its forward; do the same here
        self._embed_scale = math.sqrt(lm.config.hidden_size) if mt.startswith("gemma") else 1.0

    # -- parts ---------------------------------------------------------------
    @property
    def _inner(self) -> nn.Module:
        m = self.lm
        if hasattr(m, "get_base_model"):   # peft wrapper
            m = m.get_base_model()
        return m.model

    @property
    def hidden_size(self) -> int:
        return int(self.lm.config.hidden_size)

    @property
    def num_layers(self) -> int:
        return len(self._inner.layers)

    def untie_head(self) -> bool:
        """Give the output head its own copy of the token embeddings, if the two are one tensor
        (``tie_word_embeddings``, as in ``tiny``), so that one can be held while the other learns;
        sets the LM config's ``tie_word_embeddings`` to False. Returns whether it untied."""
        head = self.lm.lm_head
        if head.weight is not self._inner.embed_tokens.weight:
            return False
        head.weight = nn.Parameter(head.weight.detach().clone())
        self.lm.config.tie_word_embeddings = False
        return True

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token ids (B, T) -> input embeddings (B, T, D)."""
        return self._inner.embed_tokens(input_ids) * self._embed_scale

    def _rope(self, h: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        pos = torch.arange(start, start + h.shape[1], device=h.device).unsqueeze(0)
        return self._inner.rotary_emb(h, position_ids=pos)

    def _run(self, h: torch.Tensor, layers: range, mask: torch.Tensor, start: int,
             cache: DynamicCache | None = None) -> torch.Tensor:
        rope = self._rope(h, start)
        pos = torch.arange(start, start + h.shape[1], device=h.device).unsqueeze(0)
        for i in layers:
            h = self._inner.layers[i](h, attention_mask=mask, position_embeddings=rope,
                                      position_ids=pos, cache=cache, use_cache=cache is not None)
        return h

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        return self.lm.lm_head(self._inner.norm(h))

    def text_logits(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Plain causal language modelling over all layers, no split and no channel (the
        ``tiny`` LM's pretraining on unlabelled text): ids (B, T), right-padded -> logits
        (B, T, V), position t predicting token t + 1."""
        h = self.embed(input_ids)
        t = h.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=h.device).tril()
        return self._head(self._run(h, range(self.num_layers), _mask(causal, h.dtype), 0))

    # -- transmitter: token encoder ------------------------------------------
    def encode(self, prompt_embeds: torch.Tensor) -> torch.Tensor:
        """Prompt embeddings (B, P, D) -> token states Z after layer K (B, P, D)."""
        p = prompt_embeds.shape[1]
        causal = torch.ones(p, p, dtype=torch.bool, device=prompt_embeds.device).tril()
        return self._run(prompt_embeds, range(self.split_layer), _mask(causal, prompt_embeds.dtype), 0)

    # -- receiver: token decoder ---------------------------------------------
    def _response_masks(self, p: int, t: int, past: int, device, dtype):
        """Masks for t new response tokens after ``past`` cached response tokens."""
        resp = torch.ones(t, past + t, dtype=torch.bool, device=device).tril(diagonal=past)
        low = _mask(resp, dtype)                                              # layers < K
        high = _mask(torch.cat([torch.ones(t, p, dtype=torch.bool, device=device), resp], 1), dtype)
        return low, high

    def decode(self, z_hat: torch.Tensor, response_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced logits from the received states.

        Args:
            z_hat: received token states (B, P, D).
            response_ids: (B, T) response tokens fed back in (T may be 0 / None).
        Returns:
            logits (B, 1 + T, V): position 0 predicts the first answer token from the
            last prompt state; position 1 + t predicts the token after ``response_ids[:, t]``.
        """
        b, p, _ = z_hat.shape
        dev, dt = z_hat.device, z_hat.dtype
        hp = z_hat
        causal_p = torch.ones(p, p, dtype=torch.bool, device=dev).tril()
        if response_ids is None or response_ids.shape[1] == 0:
            hp = self._run(hp, range(self.split_layer, self.num_layers), _mask(causal_p, dt), 0)
            return self._head(hp[:, -1:])
        t = response_ids.shape[1]
        low, _ = self._response_masks(p, t, 0, dev, dt)
        hr = self._run(self.embed(response_ids), range(self.split_layer), low, p)
        # layers >= K: one sequence [prompt ; response] with the prompt causal and the
        # response attending to all prompt states and earlier response tokens
        allowed = torch.zeros(p + t, p + t, dtype=torch.bool, device=dev)
        allowed[:p, :p] = causal_p
        allowed[p:, :p] = True
        allowed[p:, p:] = torch.ones(t, t, dtype=torch.bool, device=dev).tril()
        h = torch.cat([hp, hr], dim=1)
        h = self._run(h, range(self.split_layer, self.num_layers), _mask(allowed, dt), 0)
        return self._head(h[:, p - 1:])

    def readout(self, z_hat: torch.Tensor, layers: int) -> torch.Tensor:
        """Logits (B, V) of the output head (after the final norm) applied to the last prompt
        state after the first ``layers`` receiver layers (0: ``z_hat`` itself; at most
        ``num_layers - split_layer``): what that depth already says about the first answer
        token (a training probe, ``tokcom.train --seen-loss``; generation never uses it)."""
        if not 0 <= layers <= self.num_layers - self.split_layer:
            raise ValueError(f"readout depth must be in [0, {self.num_layers - self.split_layer}] "
                             f"receiver layers, got {layers}")
        p = z_hat.shape[1]
        causal = torch.ones(p, p, dtype=torch.bool, device=z_hat.device).tril()
        h = self._run(z_hat, range(self.split_layer, self.split_layer + layers),
                      _mask(causal, z_hat.dtype), 0)
        return self._head(h[:, -1])

    @torch.no_grad()
    def generate(self, z_hat: torch.Tensor, max_new_tokens: int, *, eos_token_id: int | None = None,
                 use_cache: bool = True) -> torch.Tensor:
        """Greedy answer tokens (B, <= max_new_tokens) from the received states only."""
        b, p, _ = z_hat.shape
        dev, dt = z_hat.device, z_hat.dtype
        out = torch.empty(b, 0, dtype=torch.long, device=dev)
        done = torch.zeros(b, dtype=torch.bool, device=dev)
        if not use_cache:
            for _ in range(max_new_tokens):
                nxt = self.decode(z_hat, out)[:, -1].argmax(-1)
                out, done = self._append(out, nxt, done, eos_token_id)
                if bool(done.all()):
                    break
            return out
        cache = DynamicCache()
        causal_p = torch.ones(p, p, dtype=torch.bool, device=dev).tril()
        # prefill the receiver layers with the received prompt states
        h = self._run(z_hat, range(self.split_layer, self.num_layers), _mask(causal_p, dt), 0, cache)
        nxt = self._head(h[:, -1]).argmax(-1)
        out, done = self._append(out, nxt, done, eos_token_id)
        while out.shape[1] < max_new_tokens and not bool(done.all()):
            past = out.shape[1] - 1
            low, high = self._response_masks(p, 1, past, dev, dt)
            x = self.embed(out[:, -1:])
            rope = self._rope(x, p + past)
            pos = torch.arange(p + past, p + past + 1, device=dev).unsqueeze(0)
            for i in range(self.num_layers):
                x = self._inner.layers[i](x, attention_mask=low if i < self.split_layer else high,
                                          position_embeddings=rope, position_ids=pos,
                                          cache=cache, use_cache=True)
            nxt = self._head(x[:, -1]).argmax(-1)
            out, done = self._append(out, nxt, done, eos_token_id)
        return out

    @staticmethod
    def _append(out, nxt, done, eos):
        if eos is not None:
            nxt = torch.where(done, torch.full_like(nxt, eos), nxt)
            done = done | (nxt == eos)
        return torch.cat([out, nxt[:, None]], dim=1), done

    # -- reference: the same model in one pass (no split) --------------------
    def unsplit_logits(self, prompt_embeds: torch.Tensor, response_ids: torch.Tensor) -> torch.Tensor:
        """Logits (B, 1 + T, V) of the whole model on [prompt ; response] in one sequence.

        Layers < K use the response-restricted pattern, layers >= K full causal
        attention: the model that the split computes, without a split.
        """
        p, t = prompt_embeds.shape[1], response_ids.shape[1]
        dev, dt = prompt_embeds.device, prompt_embeds.dtype
        full = torch.ones(p + t, p + t, dtype=torch.bool, device=dev).tril()
        low = full.clone()
        low[p:, :p] = False
        h = torch.cat([prompt_embeds, self.embed(response_ids)], dim=1)
        h = self._run(h, range(self.split_layer), _mask(low, dt), 0)
        h = self._run(h, range(self.split_layer, self.num_layers), _mask(full, dt), 0)
        return self._head(h[:, p - 1:])
