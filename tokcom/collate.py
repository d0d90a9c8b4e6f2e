"""Batches of :class:`tokcom.data.Example` for a TaiChi model: images, prompt ids, answers."""
from __future__ import annotations

from typing import Sequence

import torch

from .prompts import encode_answers, encode_prompts, encode_text
from .tasks import get_task

__all__ = ["collate", "collate_for"]


def collate(examples: Sequence, tokenizer, *, num_image_tokens: int, max_prompt_tokens: int,
            max_answer_tokens: int, short: bool, chat: str = "tokcom",
            device: torch.device | str = "cpu") -> dict:
    """-> ``{"images": (B,3,H,W) or None, "prompt_ids": (B,P), "answer_ids": (B,T), "answers": [...]}``
    and, where an example's ``meta`` has ``seen`` (the image's attribute a yes/no question asks
    about), ``"seen_ids"`` (B,): its first answer token, -100 for the others;
    for the ``text`` task (unlabelled text) ``{"text_ids": (B,T)}`` (:func:`encode_text`)."""
    if not examples:
        raise ValueError("empty batch")
    task = get_task(examples[0].task)
    if any(e.task != task.name for e in examples):
        raise ValueError("a batch mixes tasks; collate per task")
    if task.name == "text":     # LM pretraining: <bos> text <eos>, right-padded; no prompt, no image
        return {"text_ids": encode_text(tokenizer, [e.answer for e in examples], max_answer_tokens).to(device),
                "task": task.name}
    images = None
    if task.uses_image:
        images = torch.stack([e.image for e in examples]).to(device)
    prompt_ids = encode_prompts(tokenizer, task, [e.question for e in examples],
                                num_image_tokens=num_image_tokens,
                                max_prompt_tokens=max_prompt_tokens, short=short,
                                chat=chat).to(device)
    answers = [e.answer for e in examples]
    answer_ids = encode_answers(tokenizer, answers, max_answer_tokens, chat).to(device)
    out = {"images": images, "prompt_ids": prompt_ids, "answer_ids": answer_ids,
           "answers": answers, "task": task.name}
    seen = [e.meta.get("seen") for e in examples]
    if any(s is not None for s in seen):   # the first token of the image's attribute, as an answer
        # (at least 2 tokens: 1 would leave only the eos)
        first = encode_answers(tokenizer, [s or "" for s in seen], max(2, max_answer_tokens), chat)[:, 0]
        out["seen_ids"] = torch.where(torch.tensor([s is not None for s in seen]), first,
                                      torch.full_like(first, -100)).to(device)   # answer_ids' pad
    return out


def collate_for(model, tokenizer, cfg, examples: Sequence,
                device: torch.device | str = "cpu") -> dict:
    """:func:`collate` with the sizes of a TaiChi ``model`` and its config ``cfg``."""
    return collate(examples, tokenizer, num_image_tokens=model.num_visual_tokens,
                   max_prompt_tokens=cfg.max_prompt_tokens,
                   max_answer_tokens=cfg.answer_tokens(examples[0].task) if examples else 1,
                   short=cfg.short_instructions, chat=cfg.chat_format, device=device)
