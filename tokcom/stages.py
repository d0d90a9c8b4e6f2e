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
``0v``    vision towers + BAN on image labels, no LLM (``tiny``:   no
          :mod:`tokcom.vision_pretrain`; runs before ``0``)
========  ======================================================  =========================

A stage of a run may carry a tag, ``BASE.TAG`` (``0.yesno``): the same parts learn as in
``BASE``, with the tag's own steps, learning rate, data mixture and batch draws
(``tokcom.train --stage-mix``), so one run can hold several stages of one kind (a
curriculum). :func:`stage_base` splits a label.

``llm_via_lora=True`` (presets whose LM is pretrained and not stored in
checkpoints, e.g. ``smollm2``): wherever a stage trains the LLM (0, 1b, 2) only
its LoRA adapters learn, so the base weights stay those of the package and a
checkpoint of the trainable parts is complete.
"""
from __future__ import annotations

import math
import re

from torch import nn

__all__ = ["STAGES", "VISION_PARTS", "embedding_parameters", "param_groups", "set_trainable", "stage_base", "trainable_parameters"]

#: the visual tokenizers (see :func:`param_groups`)
VISION_PARTS = ("lr_tower", "hr_tower")

#: (new stages are appended: the index seeds each stage's batches, see ``tokcom.train``)
STAGES = ("0", "1a", "1b", "2", "2sep", "e2e", "0v")


def stage_base(label: str) -> str:
    """The stage kind of a run's stage label: ``"0.yesno"`` -> ``"0"``, ``"1b"`` -> ``"1b"``.

    Raises ``ValueError`` naming the valid kinds for an unknown one, and for an empty or
    non-alphanumeric tag (letters, digits, ``-`` and ``_``)."""
    base, dot, tag = str(label).partition(".")
    if base not in STAGES:
        raise ValueError(f"unknown stage {label!r}; valid: {', '.join(STAGES)} (optionally tagged, "
                         "e.g. 0.yesno)")
    if dot and not re.fullmatch(r"[A-Za-z0-9_-]+", tag):
        raise ValueError(f"bad stage tag in {label!r}: letters, digits, - and _ after the dot")
    return base


def _set(module: nn.Module | None, flag: bool) -> None:
    if module is not None:
        for p in module.parameters():
            p.requires_grad_(flag)


def _set_llm_lora(model: nn.Module) -> None:
    lora = [p for n, p in model.llm.named_parameters() if "lora_" in n]
    if not lora:
        raise ValueError("this stage trains the LLM through LoRA: apply_lora(model, ...) first")
    for p in lora:
        p.requires_grad_(True)


def _set_connector(model: nn.Module) -> None:
    for part in ("ban", "visual_norm_in", "projector", "visual_norm_out"):
        _set(getattr(model, part, None), True)


def set_trainable(model: nn.Module, stage: str, *, llm_via_lora: bool = False) -> None:
    """Freeze/unfreeze the parts of a :class:`tokcom.taichi.TaiChi` (or a baseline, ``e2e``) for ``stage``.

    ``llm_via_lora``: the LLM learns only through its LoRA adapters in stages 0 and 1b too
    (stage 2 always does).
    """
    stage = stage_base(stage)
    _set(model, False)
    if stage == "e2e":
        _set(model, True)
    elif stage == "0v":
        for part in VISION_PARTS + ("ban",):
            _set(getattr(model, part, None), True)
    elif stage == "0":
        _set(model, True)
        _set(model.channel_encoder, False)
        _set(model.channel_decoder, False)
        if llm_via_lora:
            _set(model.llm, False)
            _set_llm_lora(model)
    elif stage == "1a":
        _set_connector(model)
    elif stage == "1b":
        _set_connector(model)
        if llm_via_lora:
            _set_llm_lora(model)
        else:
            _set(model.llm, True)
    elif stage == "2":
        _set_connector(model)
        _set(model.channel_encoder, True)
        _set(model.channel_decoder, True)
        _set_llm_lora(model)
    else:  # 2sep
        _set(model.channel_encoder, True)
        _set(model.channel_decoder, True)


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def embedding_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The LLM's input token embeddings (``tiny`` ties them to the output head, so they are the
    same tensor); empty for a model without ``model.llm.embed``'s table."""
    llm = getattr(model, "llm", None)
    lm = getattr(llm, "lm", None)
    if lm is None or not hasattr(lm, "get_input_embeddings"):
        return []
    return list(lm.get_input_embeddings().parameters())


def param_groups(model: nn.Module, lr: float, vision_lr_scale: float = 1.0,
                 ban_lr_scale: float = 1.0, *, freeze_zero: bool = True,
                 embed_lr_scale: float = 1.0) -> list[dict]:
    """AdamW parameter groups of the trainable parameters: the vision towers at
    ``lr * vision_lr_scale``, BAN at ``lr * ban_lr_scale``, the LLM's token embeddings
    (:func:`embedding_parameters`; with ``tiny``'s tied head, the output head too) at
    ``lr * embed_lr_scale``, everything else at ``lr`` (each group remembers its ``scale``).

    A part whose scale is 0 is frozen here (``requires_grad`` off), not trained at a zero
    learning rate: no gradient is computed for it, and it does not count in the gradient norm
    that clipping uses. ``freeze_zero=False`` keeps the older way (the trainer up to commit
    ``a3165b9``): such a part keeps the ``requires_grad`` :func:`set_trainable` gave it and
    learns at learning rate 0, so its gradient is computed, unused, and counts in the clipped
    norm. Call this after :func:`set_trainable` and take :func:`trainable_parameters` after it."""
    for name, scale in (("vision_lr_scale", vision_lr_scale), ("ban_lr_scale", ban_lr_scale),
                        ("embed_lr_scale", embed_lr_scale)):
        if not (scale >= 0 and math.isfinite(scale)):
            raise ValueError(f"{name} must be >= 0, got {scale}")
    if vision_lr_scale == 0 and freeze_zero:
        for part in VISION_PARTS:
            _set(getattr(model, part, None), False)
    if ban_lr_scale == 0 and freeze_zero:
        _set(getattr(model, "ban", None), False)
    # at scale 1 the embeddings stay in the last group: the optimiser's layout (and a resumed
    # state's) is the one of runs before this option existed
    embed = {id(p) for p in embedding_parameters(model)} if embed_lr_scale != 1 else set()
    if embed_lr_scale == 0 and freeze_zero:
        for p in embedding_parameters(model):
            p.requires_grad_(False)
    def ids(parts) -> set[int]:
        return {id(p) for part in parts if getattr(model, part, None) is not None
                for p in getattr(model, part).parameters()}
    vision, ban = ids(VISION_PARTS), ids(("ban",))
    trainable = trainable_parameters(model)
    groups = [{"params": [p for p in trainable if id(p) in vision],
               "lr": lr * vision_lr_scale, "scale": vision_lr_scale},
              {"params": [p for p in trainable if id(p) in ban],
               "lr": lr * ban_lr_scale, "scale": ban_lr_scale},
              {"params": [p for p in trainable if id(p) in embed - vision - ban],
               "lr": lr * embed_lr_scale, "scale": embed_lr_scale},
              {"params": [p for p in trainable if id(p) not in vision | ban | embed],
               "lr": lr, "scale": 1.0}]
    return [g for g in groups if g["params"]]
