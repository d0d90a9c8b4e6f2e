"""A byte-level BPE tokenizer trained with Hugging Face ``tokenizers``.

The ``tiny`` preset cannot use a pretrained LLM vocabulary (no network, no
hub), so it trains its own small byte-level BPE on the task corpus. The result
is wrapped as a :class:`transformers.PreTrainedTokenizerFast` so the rest of
the code uses the standard HF tokenizer API::

    tok = train_bpe(texts, vocab_size=2048)
    ids = tok("a red car")["input_ids"]
    tok.decode(ids)                       # -> "a red car"
    tok.save_pretrained("ckpt/tokenizer")
    tok = load_tokenizer("ckpt/tokenizer")

Design choices:

* **Byte level.** The ByteLevel pre-tokenizer maps every UTF-8 byte to one of
  256 printable symbols, and the trainer's initial alphabet is that full
  256-symbol alphabet, so *any* unicode string encodes (no ``<unk>``) and
  ``decode(encode(s)) == s`` exactly (``add_prefix_space=False``, and
  ``clean_up_tokenization_spaces=False`` so no spaces are removed on decode).
* **Fixed special tokens.** :data:`SPECIAL_TOKENS` get ids ``0..5`` in order
  (``<pad>`` is 0). They are registered as special added tokens, so they are
  matched in the raw text before pre-tokenisation and never split, and are
  never produced by BPE merges.
* **No automatic BOS/EOS.** ``tok(text)`` returns exactly the tokens of the
  text; prompt builders (:mod:`tokcom.tasks`) place ``<bos>``/``<eos>`` and
  the chat markers explicitly.
* **Deterministic.** Training on the same corpus with the same settings gives
  the same vocabulary and merges.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

__all__ = ["SPECIAL_TOKENS", "PAD_TOKEN", "BOS_TOKEN", "EOS_TOKEN", "IMAGE_TOKEN",
           "USER_TOKEN", "ASSISTANT_TOKEN", "train_bpe", "load_tokenizer", "add_words"]

PAD_TOKEN = "<pad>"
BOS_TOKEN = "<bos>"
EOS_TOKEN = "<eos>"
IMAGE_TOKEN = "<image>"
USER_TOKEN = "<|user|>"
ASSISTANT_TOKEN = "<|assistant|>"

#: Special tokens, with fixed ids 0..5 in this order.
SPECIAL_TOKENS: list[str] = [PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, IMAGE_TOKEN, USER_TOKEN,
                             ASSISTANT_TOKEN]

_ADDITIONAL_SPECIAL = [IMAGE_TOKEN, USER_TOKEN, ASSISTANT_TOKEN]


def _wrap(tokenizer: Tokenizer | None = None, *, tokenizer_file: str | None = None
          ) -> PreTrainedTokenizerFast:
    """Wrap a raw ``tokenizers.Tokenizer`` (or a tokenizer.json) for the HF API."""
    kwargs = dict(bos_token=BOS_TOKEN, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN,
                  # transformers 5 name of the former ``additional_special_tokens``
                  extra_special_tokens=list(_ADDITIONAL_SPECIAL),
                  clean_up_tokenization_spaces=False)
    if tokenizer is not None:
        return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **kwargs)
    return PreTrainedTokenizerFast(tokenizer_file=tokenizer_file, **kwargs)


def _check_special_ids(tok: PreTrainedTokenizerFast, source: str) -> None:
    for i, t in enumerate(SPECIAL_TOKENS):
        got = tok.convert_tokens_to_ids(t)
        if got != i:
            raise ValueError(f"tokenizer {source!r}: special token {t!r} has id {got}, "
                             f"expected {i}; not a tokcom BPE tokenizer")


def train_bpe(texts: Iterable[str], vocab_size: int = 2048, min_frequency: int = 2
              ) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``texts`` and return it as a HF fast tokenizer.

    Args:
        texts: the training corpus, one string per item (any iterable; it is
            consumed once).
        vocab_size: the target vocabulary size, special tokens and the 256
            byte symbols included; must be at least ``256 + len(SPECIAL_TOKENS)``.
            The result can be smaller if the corpus runs out of merges.
        min_frequency: a pair must occur at least this often to be merged.

    Returns:
        A :class:`~transformers.PreTrainedTokenizerFast` with ``<pad>``,
        ``<bos>``, ``<eos>`` and the additional special tokens ``<image>``,
        ``<|user|>``, ``<|assistant|>`` at ids 0..5.
    """
    min_vocab = len(SPECIAL_TOKENS) + 256
    if vocab_size < min_vocab:
        raise ValueError(f"vocab_size={vocab_size} is below the minimum {min_vocab} "
                         f"(256 byte symbols + {len(SPECIAL_TOKENS)} special tokens)")
    if min_frequency < 1:
        raise ValueError(f"min_frequency must be >= 1, got {min_frequency}")

    def _iter() -> Iterator[str]:
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"train_bpe expects strings, got {type(t).__name__}")
            yield t

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(_iter(), trainer=trainer)
    tok = _wrap(raw)
    _check_special_ids(tok, "<trained>")
    return tok


def load_tokenizer(path: str | os.PathLike[str]) -> PreTrainedTokenizerFast:
    """Load a tokenizer saved by ``save_pretrained`` (a folder) or a ``tokenizer.json``.

    Only local paths are read; nothing is ever fetched from a hub.

    Raises:
        FileNotFoundError: ``path`` does not exist, or is a folder without a
            ``tokenizer.json``.
        ValueError: the file is corrupted (not a valid tokenizer JSON), or its
            special tokens are not at the fixed ids of :data:`SPECIAL_TOKENS`.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"tokenizer path does not exist: {str(p)!r}")
    if p.is_dir():
        file = p / "tokenizer.json"
        if not file.is_file():
            raise FileNotFoundError(f"no tokenizer.json in tokenizer folder {str(p)!r}")
    else:
        file = p
    # Validate the JSON with the raw library first, so that a corrupted file is
    # reported as such and not as some exception deep inside transformers.
    try:
        Tokenizer.from_file(str(file))
    except Exception as exc:  # tokenizers raises plain Exception on parse errors
        raise ValueError(f"corrupted tokenizer file {str(file)!r}: {exc}") from exc
    try:
        if p.is_dir() and (p / "tokenizer_config.json").is_file():
            tok = PreTrainedTokenizerFast.from_pretrained(str(p), local_files_only=True)
            # Older/other configs may lack this; a byte-level round trip needs it off.
            tok.clean_up_tokenization_spaces = False
        else:
            tok = _wrap(tokenizer_file=str(file))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"corrupted tokenizer config in {str(p)!r}: {exc}") from exc
    _check_special_ids(tok, str(p))
    return tok


def add_words(tok: PreTrainedTokenizerFast, texts: Iterable[str]
              ) -> tuple[PreTrainedTokenizerFast, list[str]]:
    """A copy of ``tok`` in which each word of ``texts`` that ``tok`` splits into several tokens
    is one token, and those words (as the byte-level pre-tokenizer writes them: ``"Ġexcellent"``
    for ``" excellent"``), in order of first occurrence; their ids follow ``tok``'s.

    Only alphabetic words count. The words join the BPE vocabulary and the model then takes a
    pre-tokenized word that is in its vocabulary whole (``ignore_merges``), so a new word is one
    token exactly as a word the BPE learnt is (``"Ġexcellent"`` as ``"Ġgreat"``), a longer word
    keeps its pieces, ``decode(encode(s)) == s`` holds, and :func:`load_tokenizer` reads it back.
    Taking vocabulary words whole could in principle change another word's split; for the
    project's corpus it does not (tested).
    """
    vocab, pre = tok.get_vocab(), tok.backend_tokenizer.pre_tokenizer
    new: list[str] = []
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(f"add_words expects strings, got {type(t).__name__}")
        for w, _span in pre.pre_tokenize_str(t):
            if (w not in vocab and w.removeprefix("Ġ").isalpha() and w not in new
                    and len(tok.backend_tokenizer.model.tokenize(w)) > 1):
                new.append(w)
    raw = json.loads(tok.backend_tokenizer.to_str())
    first = len(tok)
    raw["model"]["vocab"].update({w: first + i for i, w in enumerate(new)})
    raw["model"]["ignore_merges"] = True
    out = _wrap(Tokenizer.from_str(json.dumps(raw)))
    _check_special_ids(out, "<add_words>")
    if len(out) != first + len(new):
        raise RuntimeError(f"add_words: {len(new)} words gave a vocabulary of {len(out)}, not {first + len(new)}")
    return out, new
