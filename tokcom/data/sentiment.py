"""Sentence sentiment classification data (``task="classify"``, text only).

* :class:`SST2` -- GLUE's SST-2 TSV files (``train.tsv`` / ``dev.tsv``: a
  header with ``sentence`` and ``label`` columns, labels ``0``/``1``, no
  quoting). GLUE's ``test.tsv`` has no labels and is rejected.
* :class:`IMDB` -- the ``aclImdb`` folder layout
  (``<root>/<split>/pos/<id>_<rating>.txt`` and ``.../neg/...``; the
  unlabelled ``unsup`` folder is ignored).
* :class:`SyntheticSentiment` -- an offline, generated SST-2-like corpus with
  the phenomena that make sentiment hard (negation, contrast, intensifiers /
  diminishers, mixed clauses, sarcasm), exactly balanced labels, and a
  ``test`` split built from *unseen templates and unseen vocabulary*.

Every example: ``image=None``, ``question=<the sentence>``,
``answer="positive"|"negative"``, ``task="classify"``.

Loaders validate the whole input before exposing anything: a malformed line
or file raises ``ValueError`` naming the file (and line), and no dataset
object is created (nothing half-loaded).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np

from tokcom.data.base import Example, ExampleDataset

__all__ = ["LABELS", "SST2", "IMDB", "SyntheticSentiment", "SEEN_LEXICON", "UNSEEN_LEXICON",
           "SEEN_TEMPLATES", "UNSEEN_TEMPLATES"]

#: Label words, indexed by the 0/1 label of SST-2 / IMDB (1 = positive).
LABELS: tuple[str, str] = ("negative", "positive")


class _TextDataset(ExampleDataset):
    task = "classify"

    def __init__(self, items: list[tuple[str, str, dict[str, Any]]]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Example:
        text, label, meta = self._items[self._check_index(index)]
        return Example(None, text, label, "classify", dict(meta))

    def answers(self) -> list[str]:
        """Labels (``"positive"`` / ``"negative"``) in index order."""
        return [lab for _t, lab, _m in self._items]

    def texts(self, limit: int | None = None) -> list[tuple[str | None, str]]:
        """``(sentence, label)`` of the first ``limit`` examples in index order."""
        return [(t, lab) for t, lab, _m in self._items[:limit]]

    def answer_vocab(self) -> list[str]:
        """``["negative", "positive"]``."""
        return sorted(LABELS)


# --------------------------------------------------------------------------- SST-2

class SST2(_TextDataset):
    """GLUE SST-2 TSV file (``sentence<TAB>label`` with a header line).

    Extra columns (e.g. ``index``) are allowed; column order follows the
    header. ``ValueError`` naming ``file:line`` for a wrong field count, an
    empty sentence or a label other than ``0``/``1``; ``FileNotFoundError``
    if the file is missing.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"SST-2 file not found: {p}")
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise ValueError(f"{p}: not valid UTF-8 (byte {exc.start})") from exc
        if not lines:
            raise ValueError(f"{p}: empty file (expected a 'sentence\\tlabel' header)")
        header = lines[0].split("\t")
        if "sentence" not in header:
            raise ValueError(f"{p}:1: header {lines[0]!r} has no 'sentence' column")
        if "label" not in header:
            raise ValueError(f"{p}:1: header {lines[0]!r} has no 'label' column "
                             "(GLUE's SST-2 test.tsv is unlabelled)")
        si, li = header.index("sentence"), header.index("label")
        items: list[tuple[str, str, dict[str, Any]]] = []
        for lineno, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue  # tolerate blank lines (e.g. a trailing one)
            fields = line.split("\t")
            if len(fields) != len(header):
                raise ValueError(f"{p}:{lineno}: expected {len(header)} tab-separated fields, got {len(fields)}")
            sentence, label = fields[si].strip(), fields[li].strip()
            if not sentence:
                raise ValueError(f"{p}:{lineno}: empty sentence")
            if label not in ("0", "1"):
                raise ValueError(f"{p}:{lineno}: label must be 0 or 1, got {label!r}")
            items.append((sentence, LABELS[int(label)], {"dataset": "sst2", "file": str(p), "line": lineno}))
        super().__init__(items)
        self.path = p


# --------------------------------------------------------------------------- IMDB

_IMDB_NAME = re.compile(r"^(\d+)_(\d+)\.txt$")


class IMDB(_TextDataset):
    """Large Movie Review Dataset (``aclImdb``) reviews of one split.

    Reads ``<root>/<split>/neg/*.txt`` then ``<root>/<split>/pos/*.txt``, each
    sorted by review id. ``<br />`` tags become spaces when ``clean_html``.
    ``ValueError`` naming the file (and the line, for undecodable bytes) for
    a file name not of the form ``<id>_<rating>.txt``, invalid UTF-8 or an
    empty review. ``meta``: ``id``, ``rating``, ``file``.
    """

    def __init__(self, root: str | os.PathLike[str], split: Literal["train", "test"] = "train",
                 clean_html: bool = True) -> None:
        base = Path(root) / split
        items: list[tuple[str, str, dict[str, Any]]] = []
        for label in ("neg", "pos"):
            d = base / label
            if not d.is_dir():
                raise FileNotFoundError(f"IMDB folder not found: {d}")
            files = []
            for f in d.iterdir():
                if f.suffix != ".txt":
                    continue
                m = _IMDB_NAME.match(f.name)
                if m is None:
                    raise ValueError(f"{f}: IMDB file name must be <id>_<rating>.txt")
                files.append((int(m.group(1)), int(m.group(2)), f))
            for rid, rating, f in sorted(files):
                data = f.read_bytes()
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    line = data[:exc.start].count(b"\n") + 1
                    raise ValueError(f"{f}:{line}: not valid UTF-8 (byte {exc.start})") from exc
                if clean_html:
                    text = re.sub(r"<br\s*/?>", " ", text)
                text = " ".join(text.split())
                if not text:
                    raise ValueError(f"{f}:1: empty review")
                items.append((text, "positive" if label == "pos" else "negative",
                              {"dataset": "imdb", "split": split, "id": rid, "rating": rating, "file": str(f)}))
        if not items:
            raise ValueError(f"{base}: no reviews found in neg/ or pos/")
        super().__init__(items)
        self.root, self.split = Path(root), split


# --------------------------------------------------------------------------- synthetic

#: Vocabulary of the seen (train / val) split.
SEEN_LEXICON: dict[str, tuple[str, ...]] = {
    "pos": ("good", "great", "wonderful", "delightful", "charming", "superb", "enjoyable", "brilliant",
            "engaging", "clever", "beautiful", "gripping", "witty", "touching"),
    "neg": ("bad", "boring", "dull", "awful", "tedious", "clumsy", "bland", "lifeless", "messy",
            "predictable", "weak", "poor", "annoying", "flat"),
    "noun": ("movie", "film", "plot", "script", "cast", "story", "soundtrack", "ending", "performance",
             "dialogue", "direction", "pacing"),
    "intens": ("very", "really", "extremely", "incredibly"),
    "dimin": ("somewhat", "slightly", "moderately"),
}
#: Vocabulary of the held-out (test) split: disjoint from :data:`SEEN_LEXICON`.
UNSEEN_LEXICON: dict[str, tuple[str, ...]] = {
    "pos": ("excellent", "terrific", "marvelous", "splendid", "fantastic", "heartwarming", "captivating",
            "stunning", "magnificent", "lovely", "remarkable", "riveting", "inventive", "graceful"),
    "neg": ("dreadful", "terrible", "horrible", "tiresome", "mediocre", "pointless", "shallow", "sloppy",
            "forgettable", "lackluster", "insipid", "atrocious", "clunky", "grating"),
    "noun": ("screenplay", "acting", "cinematography", "score", "premise", "finale", "thriller",
             "comedy", "documentary", "sequel", "editing", "climax"),
    "intens": ("remarkably", "utterly", "thoroughly", "truly"),
    "dimin": ("mildly", "fairly", "rather"),
}

_Lex = dict[str, tuple[str, ...]]
# A template builder: (rng, lexicon, target label) -> sentence whose gold label is the target.
_TemplateFn = Callable[[np.random.Generator, _Lex, str], str]


def _w(rng: np.random.Generator, lex: _Lex, key: str) -> str:
    seq = lex[key]
    return seq[int(rng.integers(len(seq)))]


def _adj(rng: np.random.Generator, lex: _Lex, polarity: str) -> str:
    return _w(rng, lex, "pos" if polarity == "positive" else "neg")


def _flip(label: str) -> str:
    return "negative" if label == "positive" else "positive"


def _two_nouns(rng: np.random.Generator, lex: _Lex) -> tuple[str, str]:
    i, j = rng.choice(len(lex["noun"]), size=2, replace=False)
    return lex["noun"][int(i)], lex["noun"][int(j)]


def _an(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


# Each template maps (rng, lexicon, target label) -> sentence whose gold label is the target.
def _s_plain(rng: np.random.Generator, lex: _Lex, y: str) -> str:
    """Template, e.g. 'the plot is very good .'."""
    return f"the {_w(rng, lex, 'noun')} is {_w(rng, lex, 'intens')} {_adj(rng, lex, y)} ."


def _s_negation(rng: np.random.Generator, lex: _Lex, y: str) -> str:
    """Template, e.g. 'the plot is not good .' (neg) / 'the plot is not bad at all .' (pos)."""
    a = _adj(rng, lex, _flip(y))
    tail = " at all" if y == "positive" else ""
    return f"the {_w(rng, lex, 'noun')} is not {a}{tail} ."


def _s_contrast(rng: np.random.Generator, lex: _Lex, y: str) -> str:
    """Clause after 'but' decides."""
    n1, n2 = _two_nouns(rng, lex)
    return f"the {n1} is {_adj(rng, lex, _flip(y))} , but the {n2} is {_adj(rng, lex, y)} ."


def _s_diminisher(rng: np.random.Generator, lex: _Lex, y: str) -> str:
    """Template, e.g. 'a somewhat dull film .'."""
    return f"{_an(_w(rng, lex, 'dimin'))} {_adj(rng, lex, y)} {_w(rng, lex, 'noun')} ."


def _s_mixed(rng: np.random.Generator, lex: _Lex, y: str) -> str:
    """Mixed clauses, the 'overall' clause decides."""
    n1, n2 = _two_nouns(rng, lex)
    return (f"{_adj(rng, lex, y)} {n1} , {_adj(rng, lex, _flip(y))} {n2} ; overall , "
            f"{_w(rng, lex, 'intens')} {_adj(rng, lex, y)} .")


def _s_sarcasm(rng: np.random.Generator, lex: _Lex, y: str) -> str:
    """Always negative; positive words used ironically."""
    return f"oh great , another {_adj(rng, lex, 'positive')} {_w(rng, lex, 'noun')} that nobody asked for ."


def _u_plain(rng: np.random.Generator, lex: _Lex, y: str) -> str:
    """Template, e.g. 'i found the score truly stunning .'."""
    return f"i found the {_w(rng, lex, 'noun')} {_w(rng, lex, 'intens')} {_adj(rng, lex, y)} ."


def _u_negation(rng: np.random.Generator, lex: _Lex, y: str) -> str:
    """Template, e.g. 'there is nothing stunning about the score .' (neg)."""
    return f"there is nothing {_adj(rng, lex, _flip(y))} about the {_w(rng, lex, 'noun')} ."


def _u_contrast(rng: np.random.Generator, lex: _Lex, y: str) -> str:
    """Template, e.g. 'although the score seemed X , the finale turned out Y .'."""
    n1, n2 = _two_nouns(rng, lex)
    return f"although the {n1} seemed {_adj(rng, lex, _flip(y))} , the {n2} turned out {_adj(rng, lex, y)} ."


def _u_diminisher(rng: np.random.Generator, lex: _Lex, y: str) -> str:
    """Template, e.g. 'the comedy felt mildly insipid .'."""
    return f"the {_w(rng, lex, 'noun')} felt {_w(rng, lex, 'dimin')} {_adj(rng, lex, y)} ."


def _u_mixed(rng: np.random.Generator, lex: _Lex, y: str) -> str:
    """Template, e.g. 'X premise and Y editing -- in the end , Z .'."""
    n1, n2 = _two_nouns(rng, lex)
    return (f"{_adj(rng, lex, _flip(y))} {n1} and {_adj(rng, lex, y)} {n2} -- in the end , "
            f"{_w(rng, lex, 'intens')} {_adj(rng, lex, y)} .")


def _u_sarcasm(rng: np.random.Generator, lex: _Lex, y: str) -> str:
    """Always negative."""
    return f"sure , because the world needed yet another {_adj(rng, lex, 'positive')} {_w(rng, lex, 'noun')} ."


#: Seen templates (train / val): name -> (phenomenon, builder, labels it can produce).
SEEN_TEMPLATES: dict[str, tuple[str, _TemplateFn, tuple[str, ...]]] = {
    "plain_is": ("intensifier", _s_plain, LABELS),
    "not_adj": ("negation", _s_negation, LABELS),
    "x_but_y": ("contrast", _s_contrast, LABELS),
    "dim_adj_noun": ("diminisher", _s_diminisher, LABELS),
    "mixed_overall": ("mixed", _s_mixed, LABELS),
    "oh_great_another": ("sarcasm", _s_sarcasm, ("negative",)),
}
#: Held-out templates (test): different syntactic frames.
UNSEEN_TEMPLATES: dict[str, tuple[str, _TemplateFn, tuple[str, ...]]] = {
    "i_found": ("intensifier", _u_plain, LABELS),
    "nothing_about": ("negation", _u_negation, LABELS),
    "although_turned_out": ("contrast", _u_contrast, LABELS),
    "felt_dim_adj": ("diminisher", _u_diminisher, LABELS),
    "mixed_in_the_end": ("mixed", _u_mixed, LABELS),
    "sure_because": ("sarcasm", _u_sarcasm, ("negative",)),
}

_SPLIT_CODE = {"train": 0, "val": 1, "test": 2, "test_vocab": 3, "test_templates": 4}
#: split -> (lexicon, templates); ``test_vocab`` and ``test_templates`` take one of the two shifts
#: of ``test`` at a time (a diagnostic of which one a model fails)
_SPLIT_PARTS = {"train": ("seen", "seen"), "val": ("seen", "seen"), "test": ("unseen", "unseen"),
                "test_vocab": ("unseen", "seen"), "test_templates": ("seen", "unseen")}


class SyntheticSentiment(_TextDataset):
    """Offline SST-2-like corpus with hard phenomena; ``test`` is out of distribution.

    ``train`` and ``val`` (different seeds) use :data:`SEEN_TEMPLATES` and
    :data:`SEEN_LEXICON`; ``test`` uses :data:`UNSEEN_TEMPLATES` and
    :data:`UNSEEN_LEXICON` (disjoint adjectives, nouns, intensifiers and
    diminishers). Two diagnostic splits take one shift at a time: ``test_vocab``
    (seen templates, held-out vocabulary) and ``test_templates`` (held-out
    templates, seen vocabulary). Labels are exactly balanced: each consecutive pair of
    indices holds one positive and one negative example (random order).
    Sentences are lowercased and tokenised like SST-2. Sarcasm templates are
    always negative (they are chosen only for negative targets). ``meta``:
    ``template``, ``phenomenon`` (also as ``family``: the scoring tools group by it),
    ``split``, ``index``. Deterministic in
    ``(split, num_examples, seed)``; example ``i`` does not depend on
    ``num_examples``.
    """

    def __init__(self, split: Literal["train", "val", "test", "test_vocab", "test_templates"],
                 num_examples: int, seed: int = 0) -> None:
        if split not in _SPLIT_CODE:
            raise ValueError(f"split must be one of {sorted(_SPLIT_CODE)}, got {split!r}")
        if num_examples < 0 or seed < 0:
            raise ValueError("num_examples and seed must be >= 0")
        self.split, self.seed = split, seed
        lex_part, tpl_part = _SPLIT_PARTS[split]
        lex = UNSEEN_LEXICON if lex_part == "unseen" else SEEN_LEXICON
        templates = UNSEEN_TEMPLATES if tpl_part == "unseen" else SEEN_TEMPLATES
        items: list[tuple[str, str, dict[str, Any]]] = []
        for i in range(num_examples):
            pair_rng = np.random.default_rng([seed, _SPLIT_CODE[split], 0, i // 2])
            first_pos = bool(pair_rng.integers(2))
            label = "positive" if (i % 2 == 0) == first_pos else "negative"
            rng = np.random.default_rng([seed, _SPLIT_CODE[split], 1, i])
            names = [n for n, (_p, _f, labs) in templates.items() if label in labs]
            name = names[int(rng.integers(len(names)))]
            phenomenon, fn, _labs = templates[name]
            items.append((fn(rng, lex, label), label,
                          {"dataset": "synthetic_sentiment", "split": split, "index": i,
                           "template": name, "phenomenon": phenomenon, "family": phenomenon}))
        super().__init__(items)
