"""LoRA on the split LLM with ``peft`` (stage 2, joint VLM-channel coding)."""
from __future__ import annotations

import torch
from peft import LoraConfig, get_peft_model

__all__ = ["apply_lora", "has_lora"]


def has_lora(model: torch.nn.Module) -> bool:
    return any("lora_" in n for n, _ in model.named_parameters())


def apply_lora(model: torch.nn.Module, lora: dict) -> torch.nn.Module:
    """Wrap ``model.llm.lm`` with LoRA adapters (in place); base LM weights are frozen.

    ``lora``: ``{"r", "alpha", "dropout", "target_modules"}`` (the config's ``lora`` block).
    """
    if has_lora(model):
        return model
    cfg = LoraConfig(r=int(lora["r"]), lora_alpha=int(lora["alpha"]),
                     lora_dropout=float(lora.get("dropout", 0.0)),
                     target_modules=list(lora["target_modules"]), bias="none")
    model.llm.lm = get_peft_model(model.llm.lm, cfg)
    model.lora_config = dict(lora)
    return model
