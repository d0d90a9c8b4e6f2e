"""Semantic-communication baselines of the DeepSC family (see :mod:`tokcom.baselines.deepsc`).

Presets are data files in ``configs/`` (``deepsc``, ``t-deepsc-classify``,
``t-deepsc-vqa``, ``u-deepsc``, ``deepsc-vqa``); one factory builds them::

    model, tokenizer, cfg = create_baseline("u-deepsc")

They are trained by the same machinery as TaiChi (``python -m tokcom.train
--preset u-deepsc --stages e2e``) and stored in the same checkpoint format
(:mod:`tokcom.checkpoint`, ``config.json`` with ``"family": "deepsc"``).
The text tokenizer is the project's BPE trained on the same corpus as the
``tiny`` TaiChi preset; the answer vocabularies are those of the training
datasets (CLEVR-style + easy-VQA answers for ``vqa``, the two labels for
``classify``).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .deepsc import DeepSC, DeepSCConfig

__all__ = ["DeepSC", "DeepSCConfig", "BASELINE_DIR", "baseline_presets", "is_baseline_preset",
           "load_baseline_config", "build_baseline", "create_baseline", "default_answers"]

BASELINE_DIR = Path(__file__).resolve().parent / "configs"


def baseline_presets() -> list[str]:
    return sorted(p.stem for p in BASELINE_DIR.glob("*.json"))


def is_baseline_preset(name: str) -> bool:
    """A baseline preset name, or a JSON file with ``"family": "deepsc"``."""
    if str(name) in baseline_presets():
        return True
    p = Path(str(name))
    if p.suffix != ".json" or not p.is_file():
        return False
    try:
        return json.loads(p.read_text()).get("family") == "deepsc"
    except (ValueError, AttributeError):
        return False


def load_baseline_config(name: str) -> DeepSCConfig:
    """A preset name (``configs/<name>.json``) or a path to a baseline JSON config."""
    if str(name) in baseline_presets():
        return DeepSCConfig.from_json(BASELINE_DIR / f"{name}.json")
    if is_baseline_preset(name):
        return DeepSCConfig.from_json(name)
    raise ValueError(f"unknown baseline preset {name!r}; valid: {', '.join(baseline_presets())} "
                     "(or a JSON config with \"family\": \"deepsc\")")


def default_answers(task: str) -> list[str]:
    """The closed answer vocabulary of ``task`` over the project's training datasets."""
    from tokcom.data import get_dataset
    from tokcom.data.clevr_gen import ANSWER_VOCAB
    if task == "classify":
        return ["negative", "positive"]
    vocab = set(ANSWER_VOCAB)
    try:
        vocab |= set(get_dataset("easy_vqa", "train").answer_vocab())
    except (FileNotFoundError, ImportError):
        pass
    return sorted(vocab)


def build_baseline(cfg: DeepSCConfig, tokenizer) -> DeepSC:
    """The model of ``cfg`` for ``tokenizer`` (its answer lists must be filled)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return DeepSC(cfg, vocab_size=len(tokenizer), pad_id=pad)


def create_baseline(preset: str | DeepSCConfig, *, tokenizer=None,
                    device: torch.device | str = "cpu"):
    """``(model, tokenizer, cfg)`` for a baseline preset, freshly initialised."""
    cfg = preset if isinstance(preset, DeepSCConfig) else load_baseline_config(preset)
    for t in cfg.tasks:
        cfg.answers.setdefault(t, default_answers(t))
    if tokenizer is None:
        from tokcom.corpus import default_corpus
        from tokcom.text import train_bpe
        tokenizer = train_bpe(default_corpus(), vocab_size=cfg.tokenizer_vocab)
    return build_baseline(cfg, tokenizer).to(device), tokenizer, cfg
