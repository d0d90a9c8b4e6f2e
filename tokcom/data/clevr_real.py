"""Loader for the real CLEVR v1.0 (and CLEVR-CoGenT v1.0) question sets.

Expected layout (as in the official ``CLEVR_v1.0.zip``)::

    <root>/questions/CLEVR_<split>_questions.json   (or <root>/CLEVR_<split>_questions.json)
    <root>/images/<split>/CLEVR_<split>_000000.png ...

``split`` is any string the files use: ``train``/``val``/``test`` for CLEVR,
``trainA``/``valA``/``valB``/``testA``/``testB`` for CoGenT. The questions JSON
is ``{"questions": [{"question", "answer", "image_filename" or "image_index",
"question_family_index", ...}, ...]}``; the official test split has no
answers (load it with ``require_answers=False``).

The whole questions file is validated up front: a missing file raises
``FileNotFoundError`` naming the path; invalid JSON or a bad entry raises
``ValueError`` naming the file (and the index of the bad entry), and nothing
is half-loaded. Images (480x320) are resized to ``image_size x image_size``
(bicubic, aspect ratio not kept, so no object is cropped away) when an
example is read, and cached as uint8 per image.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from tokcom.data.base import Example, ExampleDataset, load_image, read_json

__all__ = ["CLEVRReal", "clevr_questions_path"]


def clevr_questions_path(root: str | os.PathLike[str], split: str) -> Path:
    """The questions file of ``split`` under ``root`` (``questions/`` or the root itself).

    ``FileNotFoundError`` naming the expected path if neither exists.
    """
    name = f"CLEVR_{split}_questions.json"
    cands = [Path(root) / "questions" / name, Path(root) / name]
    for c in cands:
        if c.is_file():
            return c
    raise FileNotFoundError(f"CLEVR questions file not found: {cands[0]} (nor {cands[1]})")


class CLEVRReal(ExampleDataset):
    """Real CLEVR questions as :class:`~tokcom.data.base.Example` (``task="vqa"``).

    Args:
        root: the ``CLEVR_v1.0`` folder.
        split: split name used in the file names.
        image_size: HR side (``None`` keeps the native 480x320).
        max_questions: keep only the first ``max_questions`` questions.
        require_answers: raise on entries without ``answer`` (set ``False``
            for the unlabelled test split; answers are then ``""``).
        cache: cache decoded images (uint8) per file name.

    ``meta``: ``dataset``, ``split``, ``question_index``, ``image_filename``,
    ``image_index``, ``question_family_index``.
    """

    task = "vqa"

    def __init__(self, root: str | os.PathLike[str], split: str = "val", image_size: int | None = 96,
                 max_questions: int | None = None, require_answers: bool = True, cache: bool = True) -> None:
        self.root, self.split, self.image_size, self.cache = Path(root), split, image_size, cache
        self.questions_path = clevr_questions_path(root, split)
        self.image_dir = self.root / "images" / split
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"CLEVR image folder not found: {self.image_dir}")
        qp = self.questions_path
        data = read_json(qp, "CLEVR questions file")
        if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
            raise ValueError(f"{qp}: expected a JSON object with a 'questions' list")
        raw = data["questions"] if max_questions is None else data["questions"][:max_questions]
        items: list[tuple[str, str, dict[str, Any]]] = []
        for k, q in enumerate(raw):
            if not isinstance(q, dict):
                raise ValueError(f"{qp}: question entry {k} is not an object")
            text = q.get("question")
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{qp}: question entry {k} has no 'question' string")
            fname = q.get("image_filename")
            idx = q.get("image_index")
            if fname is None:
                if not isinstance(idx, int) or isinstance(idx, bool):
                    raise ValueError(f"{qp}: question entry {k} has neither 'image_filename' nor 'image_index'")
                fname = f"CLEVR_{split}_{idx:06d}.png"
            elif not isinstance(fname, str):
                raise ValueError(f"{qp}: question entry {k} has a non-string 'image_filename'")
            if "answer" in q:
                ans = q["answer"]
                if isinstance(ans, bool):
                    ans = "yes" if ans else "no"
                elif isinstance(ans, int):
                    ans = str(ans)
                if not isinstance(ans, str):
                    raise ValueError(f"{qp}: question entry {k} has a non-string 'answer'")
            elif require_answers:
                raise ValueError(f"{qp}: question entry {k} has no 'answer' (use require_answers=False "
                                 "for the unlabelled test split)")
            else:
                ans = ""
            items.append((text, ans, {"dataset": "clevr", "split": split, "question_index": k,
                                      "image_filename": fname, "image_index": idx,
                                      "question_family_index": q.get("question_family_index")}))
        self._items = items
        self._images: dict[str, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Example:
        text, ans, meta = self._items[self._check_index(index)]
        fname = meta["image_filename"]
        img = self._images.get(fname)
        if img is None:
            img = load_image(self.image_dir / fname, self.image_size, as_uint8=True)
            if self.cache:
                self._images[fname] = img
        return Example(img.float().div_(255.0), text, ans, "vqa", dict(meta))

    def answers(self) -> list[str]:
        """Gold answers in index order (``""`` where the file has none)."""
        return [a for _t, a, _m in self._items]
