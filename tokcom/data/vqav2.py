"""Loader for VQAv2 (questions + annotations JSON + COCO images) and its soft accuracy.

Official files (https://visualqa.org)::

    v2_OpenEnded_mscoco_<sub>_questions.json   {"data_subtype": "val2014",
                                                 "questions": [{"question_id", "image_id", "question"}]}
    v2_mscoco_<sub>_annotations.json           {"annotations": [{"question_id", "image_id",
                                                 "multiple_choice_answer", "answers": [{"answer", ...}] x 10,
                                                 "answer_type", "question_type"}]}
    <sub>/COCO_<sub>_<image_id:012d>.jpg

``VQAv2(questions_path, annotations_path, images_dir)`` or
``VQAv2.from_root(root, "val")`` (``<sub> = val2014``). Annotations are
optional (``test2015`` has none; answers are then ``""``). Image files are
looked up as ``COCO_<data_subtype>_<id:012d>.jpg`` (``data_subtype`` from the
questions file), then ``<id:012d>.jpg`` (COCO 2017 naming).

Errors: missing files -> ``FileNotFoundError`` naming the path; invalid JSON
or missing keys -> ``ValueError`` naming the file (and the index of the bad
entry); both files are fully validated before the dataset exists.

:func:`vqa_soft_accuracy` is VQA's accuracy ``min(#humans who gave the
answer / 3, 1)`` after a simplified version of the official answer
normalisation (:func:`normalize_vqa_answer`); ``leave_one_out=True`` gives the
official variant, the mean over the 10 subsets of 9 humans.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import torch

from tokcom.data.base import Example, ExampleDataset, load_image, read_json

__all__ = ["VQAv2", "vqa_soft_accuracy", "normalize_vqa_answer"]

_ARTICLES = frozenset({"a", "an", "the"})
_NUMBERS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten".split())}
_PUNCT = re.compile(r"[^\w\s.]|_|(?<!\d)\.|\.(?!\d)")  # keep '.' only between digits


def normalize_vqa_answer(answer: str) -> str:
    """Simplified VQA answer normalisation.

    Lowercase; delete apostrophes; other punctuation becomes a space (a
    decimal point between digits is kept); drop the articles a/an/the; map
    the number words zero..ten to digits (as the official script does);
    collapse whitespace.

    >>> normalize_vqa_answer("The Two dogs!")
    '2 dogs'
    """
    s = answer.lower().replace("'", "").replace("\u2019", "")
    s = _PUNCT.sub(" ", s)
    return " ".join(_NUMBERS.get(w, w) for w in s.split() if w not in _ARTICLES)


def vqa_soft_accuracy(pred: str, human_answers: Sequence[str], leave_one_out: bool = False) -> float:
    """VQA accuracy of ``pred`` against the human answers (usually 10).

    ``min(#humans whose normalised answer equals the normalised pred / 3, 1)``;
    so 0, 1/3, 2/3 or 1. With ``leave_one_out`` the official averaging over
    every subset of ``n - 1`` humans is used (e.g. 1 match of 10 -> 0.3).
    ``ValueError`` if ``human_answers`` is empty.
    """
    if isinstance(human_answers, str):
        raise TypeError("human_answers must be a sequence of strings, not a string")
    humans = [normalize_vqa_answer(h) for h in human_answers]
    if not humans:
        raise ValueError("vqa_soft_accuracy needs at least one human answer")
    p = normalize_vqa_answer(pred)
    matches = sum(h == p for h in humans)
    if not leave_one_out or len(humans) == 1:
        return min(matches / 3.0, 1.0)
    accs = [min((matches - (h == p)) / 3.0, 1.0) for h in humans]
    return sum(accs) / len(accs)


def _req(entry: Any, key: str, typ: type | tuple[type, ...], path: Path, k: int, what: str) -> Any:
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: {what} entry {k} is not an object")
    if key not in entry:
        raise ValueError(f"{path}: {what} entry {k} has no {key!r}")
    v = entry[key]
    if not isinstance(v, typ) or isinstance(v, bool):
        raise ValueError(f"{path}: {what} entry {k} has a bad {key!r}: {v!r}")
    return v


class VQAv2(ExampleDataset):
    """VQAv2 open-ended questions as :class:`~tokcom.data.base.Example` (``task="vqa"``).

    ``answer`` is the annotation's ``multiple_choice_answer``; ``meta``
    holds ``question_id``, ``image_id``, ``answers`` (the human answers, for
    :func:`vqa_soft_accuracy`), ``answer_type``, ``question_type``.
    """

    task = "vqa"

    def __init__(self, questions_path: str | os.PathLike[str],
                 annotations_path: str | os.PathLike[str] | None,
                 images_dir: str | os.PathLike[str], image_size: int | None = 96,
                 max_questions: int | None = None, cache: bool = True) -> None:
        qp = Path(questions_path)
        self.images_dir = Path(images_dir)
        if not self.images_dir.is_dir():
            raise FileNotFoundError(f"VQAv2 image folder not found: {self.images_dir}")
        qdata = read_json(qp, "VQAv2 questions file")
        if not isinstance(qdata, dict) or not isinstance(qdata.get("questions"), list):
            raise ValueError(f"{qp}: expected a JSON object with a 'questions' list")
        subtype = qdata.get("data_subtype")
        self.data_subtype = subtype if isinstance(subtype, str) else None
        raw_q = qdata["questions"] if max_questions is None else qdata["questions"][:max_questions]
        questions = []
        for k, q in enumerate(raw_q):
            questions.append((_req(q, "question_id", int, qp, k, "question"),
                              _req(q, "image_id", int, qp, k, "question"),
                              _req(q, "question", str, qp, k, "question")))
        anns: dict[int, dict[str, Any]] = {}
        if annotations_path is not None:
            ap = Path(annotations_path)
            adata = read_json(ap, "VQAv2 annotations file")
            if not isinstance(adata, dict) or not isinstance(adata.get("annotations"), list):
                raise ValueError(f"{ap}: expected a JSON object with an 'annotations' list")
            for k, a in enumerate(adata["annotations"]):
                qid = _req(a, "question_id", int, ap, k, "annotation")
                mca = _req(a, "multiple_choice_answer", str, ap, k, "annotation")
                humans = _req(a, "answers", list, ap, k, "annotation")
                texts = []
                for h in humans:
                    if not isinstance(h, dict) or not isinstance(h.get("answer"), str):
                        raise ValueError(f"{ap}: annotation entry {k} has a malformed 'answers' item: {h!r}")
                    texts.append(h["answer"])
                anns[qid] = {"answer": mca, "answers": texts, "answer_type": a.get("answer_type"),
                             "question_type": a.get("question_type")}
            for k, (qid, _iid, _t) in enumerate(questions):
                if qid not in anns:
                    raise ValueError(f"{qp}: question entry {k} (question_id {qid}) has no annotation in {ap}")
        self._items: list[tuple[str, str, dict[str, Any]]] = []
        for k, (qid, iid, text) in enumerate(questions):
            a = anns.get(qid, {"answer": "", "answers": [], "answer_type": None, "question_type": None})
            self._items.append((text, a["answer"], {
                "dataset": "vqav2", "question_index": k, "question_id": qid, "image_id": iid,
                "answers": list(a["answers"]), "answer_type": a["answer_type"],
                "question_type": a["question_type"]}))
        self.questions_path = qp
        self.annotations_path = None if annotations_path is None else Path(annotations_path)
        self.image_size, self.cache = image_size, cache
        self._images: dict[int, torch.Tensor] = {}

    @classmethod
    def from_root(cls, root: str | os.PathLike[str], split: str = "val", **kw: Any) -> "VQAv2":
        """Official file names under ``root`` for ``split`` (``train``/``val``/``test``)."""
        sub = {"train": "train2014", "val": "val2014", "test": "test2015"}.get(split, split)
        r = Path(root)
        ann = r / f"v2_mscoco_{sub}_annotations.json"
        return cls(r / f"v2_OpenEnded_mscoco_{sub}_questions.json",
                   ann if (ann.exists() or not sub.startswith("test")) else None, r / sub, **kw)

    def image_path(self, image_id: int) -> Path:
        """The image file of ``image_id``; ``FileNotFoundError`` naming the folder and id if absent."""
        names = []
        if self.data_subtype:
            names.append(f"COCO_{self.data_subtype}_{image_id:012d}.jpg")
        names.append(f"{image_id:012d}.jpg")
        for n in names:
            p = self.images_dir / n
            if p.is_file():
                return p
        raise FileNotFoundError(f"no image for image_id {image_id} in {self.images_dir} (tried {', '.join(names)})")

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Example:
        text, ans, meta = self._items[self._check_index(index)]
        iid = meta["image_id"]
        img = self._images.get(iid)
        if img is None:
            img = load_image(self.image_path(iid), self.image_size, as_uint8=True)
            if self.cache:
                self._images[iid] = img
        m = dict(meta)
        m["answers"] = list(meta["answers"])
        return Example(img.float().div_(255.0), text, ans, "vqa", m)

    def answers(self) -> list[str]:
        """``multiple_choice_answer`` of every question in index order."""
        return [a for _t, a, _m in self._items]

    def answer_vocab(self, top_k: int | None = None) -> list[str]:
        """Distinct answers by decreasing frequency (ties alphabetical), optionally the ``top_k``."""
        counts = Counter(a for a in self.answers() if a)
        ranked = sorted(counts, key=lambda a: (-counts[a], a))
        return ranked if top_k is None else ranked[:top_k]
