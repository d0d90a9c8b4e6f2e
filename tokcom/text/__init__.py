"""Text tokenisation for tokcom: the project's own byte-level BPE (``tiny`` preset)."""
from __future__ import annotations

from tokcom.text.bpe import (ASSISTANT_TOKEN, BOS_TOKEN, EOS_TOKEN, IMAGE_TOKEN, PAD_TOKEN,
                             SPECIAL_TOKENS, USER_TOKEN, add_words, load_tokenizer,
                             train_bpe)

__all__ = ["SPECIAL_TOKENS", "train_bpe", "load_tokenizer", "add_words", "IMAGE_TOKEN", "PAD_TOKEN",
           "BOS_TOKEN", "EOS_TOKEN", "USER_TOKEN", "ASSISTANT_TOKEN"]
