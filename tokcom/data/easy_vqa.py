"""Loader for easy-VQA (Victor Zhou's published toy VQA dataset).

The data ship inside the PyPI wheel ``easy-vqa`` (``pip install easy-vqa``),
whose layout is::

    easy_vqa/
        __init__.py, easy_vqa.py          # tiny API (not used here)
        data/answers.txt                  # the 13 possible answers, one per line
        data/train/questions.json         # [[question, answer, image_id], ...]  38,575 entries
        data/train/images/<image_id>.png  # 4,000 RGB 64x64 PNGs
        data/test/questions.json          # 9,673 entries
        data/test/images/<image_id>.png   # 1,000 PNGs

(The wheel also installs an unrelated top-level ``test`` package.) This module
never imports ``easy_vqa``: it locates the package folder with
:func:`importlib.util.find_spec` and reads the files directly. One example per
question; images (64x64) are resized to ``image_size`` (bicubic) and cached
lazily (uint8) per image id.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Literal

import torch

from tokcom.data.base import Example, ExampleDataset, load_image, read_json

__all__ = ["COLOURS", "EasyVQA", "EasyVQAYesNo", "QUESTION_FAMILIES", "SHAPES", "YES_NO_TEMPLATES",
           "balance_yes_no", "easy_vqa_root", "image_attributes", "is_negated", "named_attribute",
           "question_family", "question_subfamily"]

_PACKAGE = "easy_vqa"

#: easy-VQA's question types: "is there a red shape?" / "what color is the shape?" /
#: "what shape is in the image?" ("what is the red shape?")
QUESTION_FAMILIES = ("yes_no", "color", "shape")
#: the colours and shapes easy-VQA's images are drawn with (its answer words)
COLOURS = ("black", "blue", "brown", "gray", "green", "red", "teal", "yellow")
SHAPES = ("circle", "rectangle", "triangle")
#: easy-VQA's own yes/no wordings (``{}``: "red shape" or "circle"), plain then negated
YES_NO_TEMPLATES = (("is there a {}?", "is there a {} in the image?", "is a {} present?",
                     "does the image contain a {}?"),
                    ("is there not a {}?", "is there not a {} in the image?", "is no {} present?",
                     "does the image not contain a {}?"))


def question_family(question: str) -> str:
    """The type of an easy-VQA question (:data:`QUESTION_FAMILIES`), from its wording."""
    q = question.lower().split()
    if q and q[0] in ("is", "does"):
        return "yes_no"
    return "color" if "color" in q else "shape"


def question_subfamily(question: str) -> str:
    """A yes/no question's kind, ``yes_no.<color|shape>.<plain|negated>`` (the attribute it
    names and whether it is negated: "is there not a circle?" -> ``yes_no.shape.negated``);
    the family itself for colour and shape questions."""
    family = question_family(question)
    if family != "yes_no":
        return family
    attribute = "shape" if named_attribute(question, SHAPES) is not None else "color"
    return f"yes_no.{attribute}.{'negated' if is_negated(question) else 'plain'}"


def is_negated(question: str) -> bool:
    """Whether an easy-VQA yes/no question is negated ("is there not a ...", "is no ...")."""
    words = question.lower().rstrip("?").split()
    return "not" in words or "no" in words


def named_attribute(question: str, words: tuple[str, ...]) -> str | None:
    """The first of ``words`` (:data:`COLOURS` or :data:`SHAPES`) that ``question`` names, or ``None``."""
    return next((w for w in question.lower().rstrip("?").split() if w in words), None)


def image_attributes(items: list[tuple[str, str, int]]) -> dict[int, tuple[str | None, str | None]]:
    """``{image_id: (colour, shape)}`` as the ``(question, answer, image_id)`` triples tell them
    (``None`` where an image's questions do not): a colour question's answer and the shape it
    names ("what is the color of the circle?"), a shape question's answer and the colour it names
    ("what is the red shape?"), and the attribute a yes/no question names when it holds
    ("is there a red shape?" yes, "is there not a circle?" no). Every easy-VQA image holds one
    shape; on both splits no two questions disagree."""
    colour: dict[int, str] = {}
    shape: dict[int, str] = {}
    for q, a, i in items:
        named_c, named_s = named_attribute(q, COLOURS), named_attribute(q, SHAPES)
        family = question_family(q)
        if family == "color":
            colour[i] = a
        elif family == "shape":
            shape[i] = a
        elif (a == "yes") == is_negated(q):      # the named attribute is absent: says nothing
            named_c = named_s = None
        if named_c is not None:
            colour[i] = named_c
        if named_s is not None:
            shape[i] = named_s
    return {i: (colour.get(i), shape.get(i)) for i in sorted(set(colour) | set(shape))}


def balance_yes_no(items: list[tuple[str, str, int]], seed: int = 0) -> list[tuple[str, str, int]]:
    """``items`` with the yes/no questions thinned so that within each kind (negated or not,
    about a shape or a colour) "yes" and "no" are equally frequent (the majority answer
    subsampled, seeded); colour and shape questions all kept, order kept. In easy-VQA's train
    split the negation alone predicts 82% of the yes/no answers, so a model scores that
    without the image."""
    import numpy as np
    rng = np.random.default_rng(seed)
    groups: dict[tuple[bool, bool], dict[str, list[int]]] = {}   # kind -> answer -> indices
    for j, (q, a, _i) in enumerate(items):
        if question_family(q) == "yes_no":
            kind = (is_negated(q), named_attribute(q, SHAPES) is not None)
            groups.setdefault(kind, {"yes": [], "no": []})[a].append(j)
    drop: set[int] = set()
    # set order: fixed in every process (tuples of bools hash alike), and the order the
    # committed `yesno-balanced` run drew its subset in
    for by_answer in (groups[k] for k in set(groups)):
        n = min(len(v) for v in by_answer.values())
        for idx in by_answer.values():
            drop.update(rng.permutation(idx)[n:].tolist())
    return [it for k, it in enumerate(items) if k not in drop]


def easy_vqa_root() -> Path:
    """The ``easy_vqa/data`` folder of the installed wheel.

    ``FileNotFoundError`` naming the package (and the pip command) if it is
    not installed, or the path if the data folder is missing.
    """
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {_PACKAGE!r} (PyPI: easy-vqa) is not installed; run `pip install easy-vqa`")
    root = Path(list(spec.submodule_search_locations)[0]) / "data"
    if not root.is_dir():
        raise FileNotFoundError(f"easy-VQA data folder not found: {root}")
    return root


class EasyVQA(ExampleDataset):
    """easy-VQA questions as :class:`~tokcom.data.base.Example` (``task="vqa"``).

    Args:
        split: ``"train"`` (38,575 questions, 4,000 images) or ``"test"``
            (9,673 questions, 1,000 images).
        image_size: HR side the 64x64 images are resized to.
        root: the ``data`` folder (default: the installed wheel's).
        cache: keep decoded images in memory by image id.
        balanced: keep only a yes/no-balanced subset (:func:`balance_yes_no`; the
            ``easy_vqa_balanced`` registry name).

    ``meta``: ``dataset``, ``split``, ``image_id``, ``question_index``,
    ``image_path``, ``family`` (:func:`question_family`), ``subfamily``
    (:func:`question_subfamily`), and for a yes/no question whose image's attribute of the kind
    it asks about is known (:func:`image_attributes`, from the split's own questions) ``seen``:
    that attribute ("is there a circle?" over a red triangle: ``"triangle"``; the target of
    ``tokcom.train --seen-loss``).
    """

    task = "vqa"
    #: ``meta["dataset"]``
    name = "easy_vqa"

    def __init__(self, split: Literal["train", "test"], image_size: int = 96,
                 root: str | os.PathLike[str] | None = None, cache: bool = True,
                 balanced: bool = False) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"easy-VQA split must be 'train' or 'test', got {split!r}")
        self.root = Path(root) if root is not None else easy_vqa_root()
        self.split, self.image_size, self.cache = split, image_size, cache
        self.image_dir = self.root / split / "images"
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"easy-VQA image folder not found: {self.image_dir}")
        qpath = self.root / split / "questions.json"
        raw = read_json(qpath, "easy-VQA questions file")
        if not isinstance(raw, list):
            raise ValueError(f"{qpath}: expected a JSON list of [question, answer, image_id]")
        items: list[tuple[str, str, int]] = []
        for k, q in enumerate(raw):
            if not (isinstance(q, list) and len(q) == 3 and isinstance(q[0], str) and isinstance(q[1], str)
                    and isinstance(q[2], int)):
                raise ValueError(f"{qpath}: entry {k} is not [question, answer, image_id]: {q!r}")
            items.append((q[0], q[1], q[2]))
        # each image's colour and shape, from all of the split's questions (before any thinning)
        self._attributes = image_attributes(items)
        self._items = balance_yes_no(items) if balanced else items
        self._vocab = self._read_answers()
        self._images: dict[int, torch.Tensor] = {}

    def _read_answers(self) -> list[str]:
        p = self.root / "answers.txt"
        if not p.is_file():
            return sorted({a for _q, a, _i in self._items})
        with open(p, encoding="utf-8") as fh:
            return sorted(a.strip() for a in fh if a.strip())

    def image_path(self, image_id: int) -> Path:
        """Path of image ``image_id``."""
        return self.image_dir / f"{image_id}.png"

    def num_images(self) -> int:
        """Number of distinct images referenced by the questions."""
        return len({i for _q, _a, i in self._items})

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Example:
        index = self._check_index(index)
        question, answer, image_id = self._items[index]
        img = self._images.get(image_id)
        if img is None:
            img = load_image(self.image_path(image_id), self.image_size, as_uint8=True)
            if self.cache:
                self._images[image_id] = img
        meta: dict[str, Any] = {"dataset": self.name, "split": self.split, "image_id": image_id,
                                "question_index": index, "image_path": str(self.image_path(image_id)),
                                "family": question_family(question),
                                "subfamily": question_subfamily(question)}
        seen = self.seen_attribute(question, image_id)
        if seen is not None:
            meta["seen"] = seen
        return Example(img.float().div_(255.0), question, answer, "vqa", meta)

    def seen_attribute(self, question: str, image_id: int) -> str | None:
        """The image's own attribute of the kind a yes/no ``question`` names (its shape for
        "is there a circle?", its colour for "is there a red shape?"), or ``None`` (not a
        yes/no question, or the split's questions do not tell it)."""
        if question_family(question) != "yes_no":
            return None
        colour, shape = self._attributes.get(image_id, (None, None))
        return shape if named_attribute(question, SHAPES) is not None else colour

    def question_texts(self) -> list[str]:
        """Questions in index order (no image decoding)."""
        return [q for q, _a, _i in self._items]

    def answers(self) -> list[str]:
        """Gold answers in index order."""
        return [a for _q, a, _i in self._items]

    def texts(self, limit: int | None = None) -> list[tuple[str | None, str]]:
        """``(question, answer)`` in index order, the first ``limit`` (no image decoding)."""
        return [(q, a) for q, a, _i in self._items[:limit]]

    def image_ids(self) -> list[int]:
        """Image ids in index order."""
        return [i for _q, _a, i in self._items]

    def answer_vocab(self) -> list[str]:
        """The 13 answers of ``answers.txt`` (sorted)."""
        return list(self._vocab)


class EasyVQAYesNo(EasyVQA):
    """Yes/no questions generated over easy-VQA's images, balanced so that only the image tells
    the answer (registry names ``easy_vqa_yesno``, and ``easy_vqa_yesno_plain`` without the
    negated wordings; a training aid and a diagnostic, not a benchmark).

    Each image whose questions tell both its colour and its shape (:func:`image_attributes`:
    3,542 of 4,000 train images, 880 of 1,000 test) gets one question per kind (plain or
    negated, ``negation=False``: plain only; about its colour or its shape) and answer, in
    easy-VQA's own wordings (:data:`YES_NO_TEMPLATES`, one drawn per question): 8 questions per
    image (4 plain). A wrong attribute is drawn uniformly from the others. So within each kind
    yes = no, and every question comes with images of both answers: the question alone
    predicts nothing. Seeded: the same ``seed``, the same questions. Other arguments as
    :class:`EasyVQA`.
    """

    name = "easy_vqa_yesno"

    def __init__(self, split: Literal["train", "test"], image_size: int = 96,
                 root: str | os.PathLike[str] | None = None, cache: bool = True,
                 negation: bool = True, seed: int = 0) -> None:
        import numpy as np
        super().__init__(split, image_size=image_size, root=root, cache=cache)
        if not negation:
            self.name = "easy_vqa_yesno_plain"
        rng = np.random.default_rng([seed, 0 if split == "train" else 1])
        kinds = [(neg, about_shape) for neg in ((0, 1) if negation else (0,)) for about_shape in (0, 1)]
        items: list[tuple[str, str, int]] = []
        for i, (colour, shape) in self._attributes.items():
            if colour is None or shape is None:
                continue
            for yes in (True, False):
                for negated, about_shape in kinds:
                    values, true = (SHAPES, shape) if about_shape else (COLOURS, colour)
                    if yes != bool(negated):   # the asked attribute holds
                        asked = true
                    else:
                        others = [v for v in values if v != true]
                        asked = others[int(rng.integers(len(others)))]
                    wordings = YES_NO_TEMPLATES[negated]
                    items.append((wordings[int(rng.integers(len(wordings)))].format(
                        asked if about_shape else f"{asked} shape"), "yes" if yes else "no", i))
        self._items = items
