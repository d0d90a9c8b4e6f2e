"""What the question alone tells: ``python -m simulations.question_prior --dataset clevr_gen``.

A blind baseline, the standard check of a VQA set's language bias: a
multinomial logistic regression on the question's words and word pairs (bag of
unigrams + bigrams, lower-cased; no image, no model of ours) is fitted on the
training split's questions and answers and scored on the test split by exact
match. A question family whose questions this baseline answers above its
majority answer carries its answer in the wording: a VQA model that reaches
that figure may have read nothing but the question (``simulations.image_use``
tells whether it did). The CSV holds (with the generator's ``dataset_version`` where the set
is generated and versioned), over all questions (``family=all``) and
per question family (CLEVR-style: ``exist``, ``count``, ...; easy-VQA:
``yes_no``, ``color``, ``shape``, then its yes/no kinds), the baseline's accuracy
with a 95% Wilson interval (``question_only``) and the share of the test
questions that carry the family's most frequent training answer
(``majority``).

Deterministic: a full-batch fit (Adam, ``--steps``) from a seeded start.
Text datasets (``synthetic_sentiment``) work too: the "question" is the sentence.
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from typing import Sequence

import pandas as pd
import torch
import torch.nn.functional as F

from .results import write_table
from .stats import wilson_interval

__all__ = ["QuestionPrior", "features", "main", "question_items", "question_prior"]

_WORD = re.compile(r"[a-z0-9]+")


def features(question: str) -> list[str]:
    """Unigrams and bigrams of the lower-cased words of ``question``."""
    w = _WORD.findall(question.lower())
    return w + [f"{a} {b}" for a, b in zip(w, w[1:])]


def question_items(ds) -> list[tuple[str, str, str, str]]:
    """``(question, answer, family, subfamily)`` of every example of ``ds``, without decoding
    or rendering images where the dataset can say them from its text alone."""
    if hasattr(ds, "questions") and getattr(ds, "task", "vqa") == "vqa" and hasattr(ds, "num_images"):
        n = ds.num_images if isinstance(ds.num_images, int) else None
        if n is not None:                                  # CLEVR-style: scene graphs only
            return [(q, a, f, "") for i in range(n) for q, a, f in ds.questions(i)]
    if hasattr(ds, "question_texts") and hasattr(ds, "answers"):   # easy-VQA: no image decoding
        from tokcom.data.easy_vqa import question_family, question_subfamily
        qs = ds.question_texts()
        return [(q, a, question_family(q), question_subfamily(q)) for q, a in zip(qs, ds.answers())]
    out = []
    for i in range(len(ds)):
        e = ds[i]
        if e.question is None:
            raise ValueError(f"{type(ds).__name__} example {i} has no question or sentence")
        out.append((e.question, e.answer, e.meta.get("family") or "", e.meta.get("subfamily") or ""))
    return out


class QuestionPrior:
    """Bag-of-words (+ bigrams) logistic regression from a question to an answer.

    Args:
        questions, answers: the training pairs.
        steps: full-batch Adam steps.
        lr: Adam's learning rate.
        weight_decay: L2 penalty on the weights.
        seed: seeds the initial weights.
    """

    def __init__(self, questions: Sequence[str], answers: Sequence[str], steps: int = 300,
                 lr: float = 0.05, weight_decay: float = 1e-4, seed: int = 0) -> None:
        if len(questions) != len(answers) or not questions:
            raise ValueError("need as many answers as questions, and at least one")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        feats = [features(q) for q in questions]
        self.vocab = {f: i for i, f in enumerate(sorted({f for fs in feats for f in fs}))}
        self.labels = sorted(set(answers))
        self._label = {a: i for i, a in enumerate(self.labels)}
        gen = torch.Generator().manual_seed(seed)
        self.bag = torch.nn.EmbeddingBag(len(self.vocab) + 1, len(self.labels), mode="sum",
                                         padding_idx=len(self.vocab))
        with torch.no_grad():
            self.bag.weight.normal_(0.0, 0.01, generator=gen)
            self.bag.weight[len(self.vocab)].zero_()
        self.bias = torch.nn.Parameter(torch.zeros(len(self.labels)))
        idx, off = self._encode(feats)
        y = torch.tensor([self._label[a] for a in answers])
        opt = torch.optim.Adam([self.bag.weight, self.bias], lr=lr, weight_decay=weight_decay)
        for _ in range(steps):
            opt.zero_grad()
            F.cross_entropy(self.bag(idx, off) + self.bias, y).backward()
            opt.step()

    def _encode(self, feats: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, offsets = [], []
        for fs in feats:
            offsets.append(len(ids))
            known = [self.vocab[f] for f in fs if f in self.vocab]
            ids += known or [len(self.vocab)]          # an all-unknown question: the bias alone
        return torch.tensor(ids, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)

    @torch.no_grad()
    def predict(self, questions: Sequence[str]) -> list[str]:
        """The most likely training answer of each question."""
        idx, off = self._encode([features(q) for q in questions])
        return [self.labels[int(k)] for k in (self.bag(idx, off) + self.bias).argmax(-1)]


def question_prior(train: Sequence[tuple[str, str, str, str]], test: Sequence[tuple[str, str, str, str]],
                   steps: int = 300, seed: int = 0) -> list[dict]:
    """Rows of the question-only baseline (fitted on ``train``, scored on ``test``): over all
    questions, per family, then per sub-family where the items name one."""
    if not test:
        raise ValueError("no test questions")
    model = QuestionPrior([t[0] for t in train], [t[1] for t in train], steps=steps, seed=seed)
    pred = model.predict([t[0] for t in test])
    hit = [p.strip().lower() == t[1].strip().lower() for p, t in zip(pred, test)]
    groups: list[tuple[str, list[int], list[str]]] = [("all", list(range(len(test))), [t[1] for t in train])]
    families = {t[2] for t in test}
    for col in (2, 3):
        for f in sorted({t[col] for t in test} - {""} - (families if col == 3 else set())):
            groups.append((f, [i for i, t in enumerate(test) if t[col] == f], [t[1] for t in train if t[col] == f]))
    rows = []
    for fam, idx, train_answers in groups:
        k = sum(hit[i] for i in idx)
        lo, hi = wilson_interval(k, len(idx))
        top = Counter(train_answers).most_common(1)[0][0] if train_answers else None
        rows.append({"family": fam, "question_only": k / len(idx), "ci_low": lo, "ci_high": hi,
                     "majority": sum(test[i][1] == top for i in idx) / len(idx),
                     "majority_answer": top, "num_test": len(idx), "num_train": len(train_answers)})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulations.question_prior", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="clevr_gen",
                   help="a question (or sentence) dataset: clevr_gen, easy_vqa, synthetic_sentiment, ...")
    p.add_argument("--train-examples", type=int, default=20000,
                   help="training images of a generated set (CLEVR-style: the trainer's default "
                        "20000, 3 questions each) or sentences; fixed-size sets use all")
    p.add_argument("--test-examples", type=int, default=1000, help="test questions of a generated set")
    p.add_argument("--split", default="test", help="the split scored")
    p.add_argument("--data-root", default=None, help="folder of a dataset you have (sst2, clevr, vqav2)")
    p.add_argument("--steps", type=int, default=300, help="full-batch optimiser steps of the fit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="CSV (default results/question_prior_<dataset>.csv)")
    ns = p.parse_args(argv)
    try:
        from tokcom.data import get_dataset

        from .systems.answers import eval_dataset
        if ns.train_examples < 1 or ns.test_examples < 1:
            raise ValueError("--train-examples and --test-examples must be >= 1")
        if ns.dataset == "clevr_gen":      # the trainer's training set: 3 questions per image
            train_ds = get_dataset("clevr_gen", "train", num_images=ns.train_examples, questions_per_image=3)
        else:
            train_ds = eval_dataset(ns.dataset, "train", ns.train_examples, ns.data_root)
        test_ds = eval_dataset(ns.dataset, ns.split, ns.test_examples, ns.data_root)
        rows = question_prior(question_items(train_ds), question_items(test_ds), ns.steps, ns.seed)
        df = pd.DataFrame(rows)
        df.insert(0, "dataset", ns.dataset)
        df.insert(1, "dataset_version", getattr(test_ds, "version", None))   # generator version
        df["split"], df["seed"] = ns.split, ns.seed
        out = write_table(df, ns.out or f"results/question_prior_{ns.dataset}.csv")
    except (ValueError, FileNotFoundError, KeyError) as e:
        print(f"question_prior: error: {e}", file=sys.stderr)
        return 2
    print(df.to_string(index=False))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
