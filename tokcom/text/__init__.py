"""Text tokenisation for tokcom: the project's own byte-level BPE (``tiny`` preset)."""
from __future__ import annotations

from tokcom.text.bpe import SPECIAL_TOKENS, load_tokenizer, train_bpe

__all__ = ["SPECIAL_TOKENS", "train_bpe", "load_tokenizer"]
