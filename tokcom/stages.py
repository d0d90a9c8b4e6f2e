"""Which parts learn in each training stage (design Sec. V, Figs. 7-8).

========  ======================================================  =========================
stage     trainable                                                channel in the loop
========  ======================================================  =========================
``0``     everything except the channel codec (``tiny`` only:    no
          its towers and LM have no pretrained weights; stated
          as from-scratch pretraining on the project's corpora)
``1a``    BAN + projector (all else frozen)                        no
``1b``    BAN + projector + LLM (multitask instruction SFT)        no
``2``     BAN + projector + channel encoder/decoder fully,         yes (SNR and channel type
          LLM through LoRA adapters (``peft``)                     drawn per example)
``2sep``  channel encoder/decoder only (the "separate coding"      yes
          variant: VLM frozen after 1b)
``e2e``   everything (the DeepSC-family baselines of               yes
          :mod:`tokcom.baselines`, trained end to end over the
          channel)
========  ======================================================  =========================
"""
from __future__ import annotations

from torch import nn

__all__ = ["STAGES", "set_trainable", "trainable_parameters"]

STAGES = ("0", "1a", "1b", "2", "2sep", "e2e")


def _set(module: nn.Module | None, flag: bool) -> None:
    if module is not None:
        for p in module.parameters():
            p.requires_grad_(flag)


def set_trainable(model: nn.Module, stage: str) -> None:
    """Freeze/unfreeze the parts of a :class:`tokcom.taichi.TaiChi` (or a baseline, ``e2e``) for ``stage``."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; valid: {', '.join(STAGES)}")
    _set(model, False)
    if stage == "e2e":
        _set(model, True)
    elif stage == "0":
        _set(model, True)
        _set(model.channel_encoder, False)
        _set(model.channel_decoder, False)
    elif stage == "1a":
        _set(model.ban, True)
        _set(model.projector, True)
    elif stage == "1b":
        _set(model.ban, True)
        _set(model.projector, True)
        _set(model.llm, True)
    elif stage == "2":
        _set(model.ban, True)
        _set(model.projector, True)
        _set(model.channel_encoder, True)
        _set(model.channel_decoder, True)
        for name, p in model.llm.named_parameters():
            if "lora_" in name:
                p.requires_grad_(True)
    else:  # 2sep
        _set(model.channel_encoder, True)
        _set(model.channel_decoder, True)


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]
