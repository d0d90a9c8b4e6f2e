"""Accuracy per example family: ``python -m simulations.family_accuracy --dataset synthetic_sentiment --split test``.

The questions (or sentences) of one dataset are answered once over the error-free channel and
scored per family that the dataset names: CLEVR-style question families (``exist``,
``count``, ...), easy-VQA's (``yes_no``, ``color``, ``shape``, and per yes/no kind), and the
synthetic sentiment corpus's phenomena (``intensifier``, ``negation``, ``contrast``,
``diminisher``, ``mixed``, ``sarcasm``: one template each in every split, so a family compares
a seen template with its held-out counterpart). The CSV holds one row for all examples
(``family=all``), then one per family, with the accuracy and its 95% Wilson interval.
:mod:`simulations.image_use` reports the same groups under three image conditions.
"""
from __future__ import annotations

import argparse
import sys

import pandas as pd
import torch

import channels
from channels.rng import make_generator
from tokcom.tasks import exact_match

from .results import write_table
from .stats import wilson_interval

__all__ = ["answer_all", "answer_system", "family_accuracy", "family_groups", "main", "scored"]


def family_groups(families: list[str], kinds: list[str]) -> list[tuple[str, list[int]]]:
    """``("all", every index)``, then one group per family, then per sub-kind (empty names skipped)."""
    groups = [("all", list(range(len(families))))]
    for names in (families, kinds):
        groups += [(f, [i for i, x in enumerate(names) if x == f]) for f in sorted(set(names) - {""})]
    return groups


def answer_system(name: str, dataset: str, split: str, num_examples: int, checkpoint: str | None = None):
    """The answer system ``name`` on ``dataset``/``split`` (at least 100 examples held), from
    ``checkpoint`` when given (else the system's own)."""
    from . import systems
    kw = {"dataset": dataset, "split": split, "num_examples": max(num_examples, 100)}
    if checkpoint:
        kw["checkpoint"] = checkpoint
    return systems.get(name, **kw)


def scored(answers: list[str], gold: list[str], idx: list[int]) -> dict:
    """``accuracy``, ``ci_low``, ``ci_high`` (95% Wilson) of ``answers`` at ``idx``."""
    k = sum(exact_match(answers[i], gold[i]) for i in idx)
    lo, hi = wilson_interval(k, len(idx))
    return {"accuracy": k / len(idx), "ci_low": lo, "ci_high": hi}


@torch.no_grad()
def answer_all(system, num_examples: int, batch_size: int, seed: int, conditions: dict) -> tuple:
    """Ask ``num_examples`` drawn examples over the error-free channel once per condition
    (``name -> batch transform``, applied to a copy of the batch's fields it changes).
    Returns ``(gold, {condition: answers}, families, kinds)``; a kind equal to its family is ``""``."""
    none = channels.get("none")
    gold, families, kinds = [], [], []
    answers = {c: [] for c in conditions}
    done, b = 0, 0
    while done < num_examples:
        n = min(batch_size, num_examples - done)
        batch = system.sample(n, make_generator(seed * 1_000_003 + b, "cpu"))
        for c, change in conditions.items():
            sent = change(dict(batch))
            out = none(system.transmit(sent).unsqueeze(0), torch.zeros(1, n))
            answers[c] += system.receive(out, sent)[0]
        gold += batch["answers"]
        fam = batch.get("family") or [""] * n
        families += fam
        kinds += [k if k != f else "" for k, f in zip(batch.get("subfamily") or [""] * n, fam)]
        done, b = done + n, b + 1
    return gold, answers, families, kinds


def family_accuracy(system, num_examples: int, batch_size: int = 100, seed: int = 0) -> list[dict]:
    """One row for all examples, then one per family (see the module docstring)."""
    gold, answers, families, kinds = answer_all(system, num_examples, batch_size, seed,
                                                {"real": lambda batch: batch})
    rows = []
    for family, idx in family_groups(families, kinds):
        rows.append({"system": system.name, "dataset": system.dataset, "family": family,
                     **scored(answers["real"], gold, idx), "num_examples": len(idx), "seed": seed})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulations.family_accuracy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--system", default="taichi", help="an answer system (taichi, mobilevlm, t-deepsc, ...)")
    p.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the system's own)")
    p.add_argument("--dataset", default="synthetic_sentiment",
                   help="a dataset whose examples name a family: synthetic_sentiment, easy_vqa, clevr_gen")
    p.add_argument("--split", default="test")
    p.add_argument("--num-examples", type=int, default=1000, help="examples asked")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--seed", type=int, default=0, help="fixes which examples are drawn")
    p.add_argument("--out", default=None,
                   help="CSV (default results/families_<system>_<dataset>_<split>.csv)")
    ns = p.parse_args(argv)
    try:
        if ns.num_examples < 1 or ns.batch_size < 1:
            raise ValueError("--num-examples and --batch-size must be >= 1")
        system = answer_system(ns.system, ns.dataset, ns.split, ns.num_examples, ns.checkpoint)
        rows = family_accuracy(system, ns.num_examples, ns.batch_size, ns.seed)
        if len(rows) == 1:
            raise ValueError(f"{ns.dataset} names no family for its examples: nothing to break down")
        df = pd.DataFrame(rows)
        df.insert(1, "checkpoint", system.describe().get("checkpoint", ""))
        df.insert(3, "split", ns.split)
        out = write_table(df, ns.out or f"results/families_{ns.system}_{ns.dataset}_{ns.split}.csv")
    except (ValueError, FileNotFoundError) as e:
        print(f"family_accuracy: error: {e}", file=sys.stderr)
        return 2
    print(df.to_string(index=False))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
