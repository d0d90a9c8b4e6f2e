"""The common example format and small helpers shared by the dataset modules.

Every dataset in :mod:`tokcom.data` is a :class:`torch.utils.data.Dataset`
whose items are :class:`Example` records::

    Example(image=<(3, H, W) float tensor in [0, 1] or None>,
            question=<str or None>, answer=<str>, task="vqa"|"caption"|"classify"|"text",
            meta={...})

``image`` is always at the dataset's *high* resolution (``image_size``); the
low-resolution copy a link transmits is made by the model, never here.
``question`` is ``None`` for captioning (the task's default input is used) and
for nothing else; ``meta`` holds dataset-specific provenance (split, ids, the
scene graph, human answers, ...).

Every dataset also offers two label helpers that never decode an image:

* ``answers()`` -- the gold answer of every example, in index order;
* ``answer_vocab()`` -- the sorted set of answers the dataset can produce
  (a closed vocabulary for generated / classification data, the observed
  answers for loaded data).
"""
from __future__ import annotations

import abc

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["Example", "ExampleDataset", "TaskName", "load_image", "read_json"]

TaskName = Literal["vqa", "caption", "classify", "text"]


@dataclass
class Example:
    """One example of any task.

    Attributes:
        image: ``(3, H, W)`` float32 tensor in ``[0, 1]`` at the high
            resolution, or ``None`` for text-only tasks.
        question: the question (VQA) or sentence (classification); ``None``
            for captioning.
        answer: the gold answer / caption / label word.
        task: ``"vqa"``, ``"caption"``, ``"classify"`` or ``"text"`` (unlabelled
            text for LM pretraining: ``answer`` is the sentence).
        meta: dataset-specific provenance.
    """
    image: torch.Tensor | None
    question: str | None
    answer: str
    task: str
    meta: dict[str, Any] = field(default_factory=dict)


class ExampleDataset(Dataset, metaclass=abc.ABCMeta):
    """Base class: a map-style dataset of :class:`Example` with label helpers.

    Subclasses implement ``__len__``, ``__getitem__`` and :meth:`answers`;
    :meth:`answer_vocab` defaults to the sorted distinct answers.
    """

    task: str = "vqa"

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of examples."""

    @abc.abstractmethod
    def __getitem__(self, index: int) -> Example:
        """The example at ``index``."""

    @abc.abstractmethod
    def answers(self) -> list[str]:
        """The gold answer of every example in index order (no image decoding)."""

    def answer_vocab(self) -> list[str]:
        """Sorted distinct answers."""
        return sorted(set(self.answers()))

    def texts(self, limit: int | None = None) -> list[tuple[str | None, str]]:
        """``(question, answer)`` of the first ``limit`` examples (all: ``None``) in index order.
        This default reads each example (images included); datasets whose text is at hand
        without decoding an image override it."""
        n = len(self) if limit is None else min(len(self), limit)
        return [(ex.question, ex.answer) for ex in (self[i] for i in range(n))]

    def _check_index(self, index: int) -> int:
        n = len(self)
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        index = int(index)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for {type(self).__name__} of length {n}")
        return index


def load_image(path: str | os.PathLike[str], image_size: int | None, as_uint8: bool = False) -> torch.Tensor:
    """Read an image file as a ``(3, H, W)`` float tensor in ``[0, 1]``.

    The image is converted to RGB and, if ``image_size`` is given, resized to
    ``image_size x image_size`` (bicubic, aspect ratio not preserved).
    ``as_uint8`` returns the uint8 tensor instead (compact for caching).
    ``FileNotFoundError`` naming the path if it does not exist; ``ValueError``
    naming it if it cannot be decoded.
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image file not found: {p}")
    try:
        with Image.open(p) as im:
            im = im.convert("RGB")
            if image_size is not None and im.size != (image_size, image_size):
                im = im.resize((image_size, image_size), Image.BICUBIC)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{p}: cannot decode image: {exc}") from exc
    t = torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
    return t if as_uint8 else t.float().div_(255.0)


def read_json(path: str | os.PathLike[str], what: str = "file") -> Any:
    """``json.load`` with clear errors.

    ``FileNotFoundError`` naming the path if it is missing; ``ValueError``
    naming the file, line and column if it is not valid JSON.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} not found: {p}")
    try:
        with open(p, "r", encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{p}: not valid UTF-8 (byte {exc.start})") from exc
