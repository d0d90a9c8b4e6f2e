"""Turning task inputs into fixed-length prompt ids and answer targets.

Prompts are LEFT-padded with the pad token to exactly ``max_prompt_tokens``
so every example of a preset puts the same number of symbols on the channel
and the receiver needs no side information about lengths.
"""
from __future__ import annotations

from typing import Sequence

import torch

from .tasks import Task, build_prompt, get_chat_format
from .text import IMAGE_TOKEN

__all__ = ["encode_prompts", "encode_answers", "encode_text", "decode_answers", "image_token_id", "pad_token_id"]


def image_token_id(tokenizer) -> int:
    """Placeholder id for visual tokens: ``<image>`` if the vocabulary has it, else a special
    id that plain text never produces (its embedding is replaced, so any such id works)."""
    vocab = tokenizer.get_vocab()
    if IMAGE_TOKEN in vocab:
        return vocab[IMAGE_TOKEN]
    for t in (tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id):
        if t is not None:
            return int(t)
    raise ValueError("tokenizer has no token usable as image placeholder")


def pad_token_id(tokenizer) -> int:
    t = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if t is None:
        raise ValueError("tokenizer has neither a pad nor an eos token")
    return int(t)


def encode_prompts(tokenizer, task: Task, questions: Sequence[str | None], *, num_image_tokens: int,
                   max_prompt_tokens: int, short: bool, chat: str = "tokcom") -> torch.Tensor:
    """(B, max_prompt_tokens) long tensor; ``ValueError`` if a prompt does not fit.

    Image placeholders are inserted as ids (:func:`image_token_id`), so any tokenizer works.
    """
    pad = pad_token_id(tokenizer)
    img = image_token_id(tokenizer)
    rows = []
    for q in questions:
        n_img = num_image_tokens if task.uses_image else 0
        text = build_prompt(task, q, num_image_tokens=1 if n_img else 0, image_token=IMAGE_TOKEN,
                            short=short, chat=chat)
        ids: list[int] = []
        for i, part in enumerate(text.split(IMAGE_TOKEN)):
            if i:
                ids += [img] * n_img
            ids += tokenizer(part, add_special_tokens=False)["input_ids"] if part else []
        if len(ids) > max_prompt_tokens:
            raise ValueError(f"prompt of {len(ids)} tokens exceeds max_prompt_tokens="
                             f"{max_prompt_tokens}: {text[:80]!r}...")
        rows.append([pad] * (max_prompt_tokens - len(ids)) + ids)
    return torch.tensor(rows, dtype=torch.long)


def _eos_right_padded(seqs: Sequence[list[int]], max_tokens: int, eos: int) -> torch.Tensor:
    """Each id list truncated to ``max_tokens - 1``, then eos; (B, T) right-padded with -100."""
    seqs = [list(s[: max_tokens - 1]) + [eos] for s in seqs]
    t = max(len(s) for s in seqs)
    return torch.tensor([s + [-100] * (t - len(s)) for s in seqs], dtype=torch.long)


def encode_answers(tokenizer, answers: Sequence[str], max_answer_tokens: int,
                   chat: str = "tokcom") -> torch.Tensor:
    """(B, T) answer ids + eos, right-padded with -100 (truncated to ``max_answer_tokens``);
    each answer begins with the chat format's ``answer_prefix``."""
    prefix = get_chat_format(chat).answer_prefix
    return _eos_right_padded([tokenizer(prefix + a.strip(), add_special_tokens=False)["input_ids"]
                              for a in answers], max_answer_tokens, tokenizer.eos_token_id)


def encode_text(tokenizer, texts: Sequence[str], max_tokens: int) -> torch.Tensor:
    """(B, T) ids of ``<bos>`` + text + ``<eos>`` (truncated to ``max_tokens``), right-padded with
    -100: the unlabelled text of LM pretraining (the ``text`` task)."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    return _eos_right_padded([bos + tokenizer(t.strip(), add_special_tokens=False)["input_ids"]
                              for t in texts], max_tokens, tokenizer.eos_token_id)


def decode_answers(tokenizer, ids: torch.Tensor) -> list[str]:
    """Generated ids (B, T) -> strings, cut at the first eos."""
    eos = tokenizer.eos_token_id
    out = []
    for row in ids.tolist():
        if eos in row:
            row = row[: row.index(eos)]
        out.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    return out
