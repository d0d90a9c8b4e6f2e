"""Does a system read the image? ``python -m simulations.image_use --system taichi --dataset easy_vqa``.

The same questions are answered over the error-free channel three times: with
their own images, with the images rotated by one inside each batch (every
question gets another example's image: ``shuffled``), and with blank mid-grey
images (``blank``). A system that reads the image loses accuracy when it gets
the wrong one; a system that answers from the question alone gives the same
answers in all three conditions. The CSV holds, per condition, the accuracy
(95% Wilson interval) and the fraction of answers that differ from the
real-image answers (``answers_changed``): first over all questions
(``family=all``), then per question family where the dataset names one
(CLEVR-style: ``exist``, ``count``, ...; easy-VQA: ``yes_no``, ``color``,
``shape``), which tells which kinds of question read the image; then, for
easy-VQA, per yes/no kind (``yes_no.shape.plain``, ``yes_no.color.negated``, ...:
the attribute the question names and whether it is negated).
"""
from __future__ import annotations

import argparse
import sys

import pandas as pd
import torch

from .family_accuracy import answer_all, answer_system, family_groups, scored
from .results import write_table

__all__ = ["CONDITIONS", "image_use", "main"]

CONDITIONS = ("real", "shuffled", "blank")


def _images(images: torch.Tensor, condition: str) -> torch.Tensor:
    if condition == "shuffled":
        return images.roll(1, 0)
    if condition == "blank":
        return torch.full_like(images, 0.5)
    return images


def image_use(system, num_examples: int, batch_size: int = 64, seed: int = 0) -> list[dict]:
    """Rows (one per condition, ``family="all"``; then one per condition and question family
    where the examples name one, then per sub-family where it differs from the family) for an
    answer system over the error-free channel."""
    def condition(c: str):
        def change(batch: dict) -> dict:
            if batch.get("images") is None:
                raise ValueError(f"{system.dataset} has no images: nothing to test")
            batch["images"] = _images(batch["images"], c)
            return batch
        return change
    gold, answers, families, kinds = answer_all(system, num_examples, batch_size, seed,
                                                {c: condition(c) for c in CONDITIONS})
    rows = []
    for family, idx in family_groups(families, kinds):
        for c in CONDITIONS:
            changed = sum(answers[c][i] != answers["real"][i] for i in idx) / len(idx)
            rows.append({"system": system.name, "dataset": system.dataset, "family": family,
                         "condition": c, **scored(answers[c], gold, idx),
                         "answers_changed": changed, "num_examples": len(idx), "seed": seed})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulations.image_use", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--system", default="taichi", help="an answer system (taichi, mobilevlm, t-deepsc, ...)")
    p.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the system's own)")
    p.add_argument("--dataset", default="easy_vqa", help="an image dataset: easy_vqa, clevr_gen, ...")
    p.add_argument("--split", default="test")
    p.add_argument("--num-examples", type=int, default=384, help="questions asked (each 3 times)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="fixes which questions are drawn")
    p.add_argument("--out", default=None, help="CSV (default results/image_use_<system>_<dataset>.csv)")
    ns = p.parse_args(argv)
    try:
        if ns.num_examples < 2 or ns.batch_size < 2:
            raise ValueError("--num-examples and --batch-size must be >= 2 (shuffling needs a partner)")
        system = answer_system(ns.system, ns.dataset, ns.split, ns.num_examples, ns.checkpoint)
        rows = image_use(system, ns.num_examples, ns.batch_size, ns.seed)
        df = pd.DataFrame(rows)
        df.insert(1, "checkpoint", system.describe().get("checkpoint", ""))
        out = write_table(df, ns.out or f"results/image_use_{ns.system}_{ns.dataset}.csv")
    except (ValueError, FileNotFoundError) as e:
        print(f"image_use: error: {e}", file=sys.stderr)
        return 2
    print(df.to_string(index=False))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
