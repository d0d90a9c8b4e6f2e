"""Unlabelled film-review text: the text of an LM-pretraining stage (``0.lm``) for the ``tiny`` preset.

A pretrained LLM knows that *excellent* and *great* are said of the same films because it
has read text in which they keep company; the ``tiny`` preset's LM starts from nothing, so
the project generates that text. Each sentence is written by a reviewer with a hidden
opinion (liked / disliked, drawn 50:50 per sentence): its adjectives agree with the opinion
unless a negator (*not*, *nothing*, *never*) stands before them. The adjectives, nouns,
intensifiers and diminishers come from **both** lexicons of
:mod:`tokcom.data.sentiment` (the seen and the held-out ones), as any pretraining text would
hold the words of a later test.

What it is not: labelled. No sentence carries its opinion, the examples are of the
``text`` task (the LM writes the sentence; cross-entropy on every token), and none uses a
template of the sentiment data, seen or held out (:data:`FRAMES` lists the frames; a test
checks that the sentiment templates' fixed words never occur in this order here). It has no
sarcasm, so the held-out ``sure , because ...`` template gets no help from it.

Deterministic in ``(num_examples, seed)``; example ``i`` does not depend on ``num_examples``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tokcom.data.base import Example, ExampleDataset
from tokcom.data.sentiment import SEEN_LEXICON, UNSEEN_LEXICON

__all__ = ["FRAMES", "LEXICON", "ReviewText"]

#: the union of the seen and held-out sentiment lexicons (seen words first)
LEXICON: dict[str, tuple[str, ...]] = {k: SEEN_LEXICON[k] + UNSEEN_LEXICON[k] for k in SEEN_LEXICON}

_Draw = Callable[[str], str]


def _frames() -> dict[str, Callable[[_Draw, Callable[[bool], str], bool], str]]:
    # each frame: (word drawer, adjective drawer by opinion, opinion) -> sentence
    def an(word: str) -> str:
        return ("an " if word[:1] in "aeiou" else "a ") + word
    return {
        "and": lambda w, a, p: f"{a(p)} and {a(p)} .",
        "even": lambda w, a, p: f"the {w('noun')} was {a(p)} , even {a(p)} .",
        "what_a": lambda w, a, p: f"what {an(a(p))} {w('noun')} , so {a(p)} !",
        "list": lambda w, a, p: f"{a(p)} {w('noun')} , {a(p)} {w('noun')} , {w('intens')} {a(p)} {w('noun')} .",
        "then": lambda w, a, p: f"{w('dimin')} {a(p)} at first , then {w('intens')} {a(p)} .",
        "friends": lambda w, a, p: f"my friends called the {w('noun')} {a(p)} , and i agree : {a(p)} .",
        "one_word": lambda w, a, p: f"the {w('noun')} in one word : {a(p)} .",
        "not_just": lambda w, a, p: f"not {a(not p)} , just {a(p)} .",
        "nothing_only": lambda w, a, p: f"nothing {a(not p)} here , only {a(p)} {w('noun')} .",
        "never_always": lambda w, a, p: f"never {a(not p)} ; always {a(p)} .",
    }


#: frame name -> builder; see the module docstring
FRAMES = _frames()


class ReviewText(ExampleDataset):
    """``num_examples`` unlabelled review sentences (task ``text``: ``question`` is ``None``,
    ``answer`` the sentence). ``meta``: ``frame`` and ``index`` (the hidden opinion is not
    kept: nothing downstream may read it)."""

    task = "text"

    def __init__(self, split: str = "train", num_examples: int = 20000, seed: int = 0) -> None:
        if split != "train":
            raise ValueError(f"review_text has only a 'train' split (unlabelled pretraining text), got {split!r}")
        if num_examples < 0 or seed < 0:
            raise ValueError("num_examples and seed must be >= 0")
        self.split, self.seed, self.num_examples = split, seed, num_examples
        self._names = list(FRAMES)

    def __len__(self) -> int:
        return self.num_examples

    def _sentence(self, index: int) -> tuple[str, str]:
        """One reviewer's sentence: ``(frame name, text)``."""
        rng = np.random.default_rng([self.seed, 7, index])

        def w(key: str) -> str:
            seq = LEXICON[key]
            return seq[int(rng.integers(len(seq)))]

        def a(liked: bool) -> str:
            return w("pos" if liked else "neg")

        name = self._names[int(rng.integers(len(self._names)))]
        liked = bool(rng.integers(2))
        return name, FRAMES[name](w, a, liked)

    def __getitem__(self, index: int) -> Example:
        index = self._check_index(index)
        name, text = self._sentence(index)
        meta: dict[str, Any] = {"dataset": "review_text", "frame": name, "index": index}
        return Example(image=None, question=None, answer=text, task="text", meta=meta)

    def answers(self) -> list[str]:
        return [self._sentence(i)[1] for i in range(self.num_examples)]
