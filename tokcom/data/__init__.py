"""Datasets: every one a :class:`torch.utils.data.Dataset` of :class:`Example`.

Registry (``get_dataset(name, split, **kw)``):

=======================  ==============================================  =========
name                     class / source                                  task
=======================  ==============================================  =========
``clevr_gen``            :class:`CLEVRStyle` -- procedural, offline      vqa
``clevr_caption``        :class:`CLEVRStyle` (``task="caption"``): the    caption
                         same scenes, one scene-graph caption each
``easy_vqa``             :class:`EasyVQA` -- PyPI ``easy-vqa`` wheel      vqa
``easy_vqa_balanced``    the same, yes/no answers balanced per negation   vqa
``easy_vqa_yesno``       :class:`EasyVQAYesNo` -- yes/no questions        vqa
                         generated over easy-VQA's images (balanced:
                         a training aid and diagnostic)
``easy_vqa_yesno_plain``  the same without the negated wordings          vqa
``clevr``                :class:`CLEVRReal` -- CLEVR v1.0 (``root=``)      vqa
``vqav2``                :class:`VQAv2` -- ``VQAv2.from_root(root=)``      vqa
``sst2``                 :class:`SST2` -- GLUE TSV (``root=`` or          classify
                         ``path=``; split train/val(dev))
``imdb``                 :class:`IMDB` -- ``aclImdb`` (``root=``)          classify
``synthetic_sentiment``  :class:`SyntheticSentiment` -- offline           classify
``review_text``          :class:`ReviewText` -- unlabelled review         text
                         sentences over both sentiment lexicons (the
                         ``tiny`` LM's pretraining text; ``train`` only)
=======================  ==============================================  =========

Only ``clevr_gen``, ``clevr_caption``, ``synthetic_sentiment`` and ``review_text`` work with no data on disk
(``easy_vqa`` needs ``pip install easy-vqa``). High-resolution-only content
(pattern questions) exists in ``clevr_gen``; see :mod:`tokcom.data.clevr_gen`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from torch.utils.data import Dataset

from tokcom.data.base import Example, ExampleDataset, load_image, read_json
from tokcom.data.clevr_gen import FAMILIES, NEEDS_HR, CLEVRStyle
from tokcom.data.clevr_real import CLEVRReal
from tokcom.data.easy_vqa import EasyVQA, EasyVQAYesNo
from tokcom.data.review_text import ReviewText
from tokcom.data.sentiment import IMDB, SST2, SyntheticSentiment
from tokcom.data.vqav2 import VQAv2, normalize_vqa_answer, vqa_soft_accuracy

__all__ = ["Example", "ExampleDataset", "CLEVRStyle", "EasyVQA", "EasyVQAYesNo", "CLEVRReal", "VQAv2", "SST2", "IMDB",
           "SyntheticSentiment", "ReviewText", "vqa_soft_accuracy", "normalize_vqa_answer", "FAMILIES", "NEEDS_HR",
           "DATASETS", "get_dataset", "load_image", "read_json"]

_SST2_FILES = {"train": "train.tsv", "val": "dev.tsv", "dev": "dev.tsv", "test": "test.tsv"}


def _sst2(split: str, root: str | os.PathLike[str] | None = None,
          path: str | os.PathLike[str] | None = None) -> SST2:
    if path is None:
        if root is None:
            raise ValueError("sst2 needs root= (the GLUE SST-2 folder) or path= (a TSV file)")
        if split not in _SST2_FILES:
            raise ValueError(f"sst2 split must be one of {sorted(_SST2_FILES)}, got {split!r}")
        path = Path(root) / _SST2_FILES[split]
    return SST2(path)


def _needs_root(cls_name: str, factory: Callable[..., Dataset]) -> Callable[..., Dataset]:
    def make(split: str, root: str | os.PathLike[str] | None = None, **kw: Any) -> Dataset:
        if root is None:
            raise ValueError(f"{cls_name} needs root= (the dataset folder)")
        return factory(root, split, **kw)
    return make


#: name -> factory ``(split, **kw) -> Dataset``.
DATASETS: dict[str, Callable[..., Dataset]] = {
    "clevr_gen": lambda split, **kw: CLEVRStyle(split, **kw),
    "clevr_caption": lambda split, **kw: CLEVRStyle(split, task="caption", **kw),
    "easy_vqa": lambda split, **kw: EasyVQA(split, **kw),
    "easy_vqa_balanced": lambda split, **kw: EasyVQA(split, balanced=True, **kw),
    "easy_vqa_yesno": lambda split, **kw: EasyVQAYesNo(split, **kw),
    "easy_vqa_yesno_plain": lambda split, **kw: EasyVQAYesNo(split, negation=False, **kw),
    "clevr": _needs_root("clevr", lambda root, split, **kw: CLEVRReal(root, split, **kw)),
    "vqav2": _needs_root("vqav2", lambda root, split, **kw: VQAv2.from_root(root, split, **kw)),
    "sst2": _sst2,
    "imdb": _needs_root("imdb", lambda root, split, **kw: IMDB(root, split, **kw)),
    "synthetic_sentiment": lambda split, **kw: SyntheticSentiment(split, **kw),
    "review_text": lambda split, **kw: ReviewText(split, **kw),
}


def get_dataset(name: str, split: str, **kw: Any) -> Dataset:
    """Build dataset ``name`` for ``split``; ``ValueError`` listing the valid names if unknown."""
    try:
        factory = DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(sorted(DATASETS))}") from None
    return factory(split, **kw)
