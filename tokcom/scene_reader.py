"""Can a checkpoint's visual features answer CLEVR-style questions?
``python -m tokcom.scene_reader --checkpoint D``.

The shipped ``tiny`` checkpoint answers CLEVR-style questions from the question
alone (README, "Does the model read the image?"). This diagnostic separates the
two places that can fail: *perception* (do the frozen visual features hold the
objects?) and *reading* (can a model of the LLM's size learn to answer from
them with the data it gets?). A small reader, a bidirectional Transformer
encoder over ``[CLS] + question words + the g x g visual cells`` with a
classifier over CLEVR's closed answer vocabulary, is trained from scratch on
the training split's questions (the trainer's set: 3 questions per scene) and
scored on the test split (the sweep's questions), per question family, with
the right image and with another test question's image (``shuffled``). The
visual input, one per run (``--features``):

* ``ban``: the checkpoint's BAN output (``TaiChi.fused_features``, frozen; what
  stage ``0v`` trained and what the projector reads);
* ``visual_tokens``: the projector's output (what the LLM receives);
* ``oracle``: each cell's stage-``0v`` targets from the scene graph
  (:func:`tokcom.vision_pretrain.clevr_cell_targets`: an object's centre in the
  cell and its shape, colour, size, material, pattern): perfect perception at
  the grid's resolution, so the reader's ceiling on this representation (two
  objects in one cell merge; positions inside a cell are lost);
* ``none``: all-zero cells: the same reader blind (its own question-only figure).

``--steps`` sets the reader's budget in batches of ``--batch-size``; several
values train one reader each (for instance the number of CLEVR-style questions
the LLM sees in the shipped recipe, about 34k, against ten times that).
Nothing of the checkpoint is changed; features are computed once and cached in
memory. Deterministic in ``--seed``.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
import time
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .data.clevr_gen import ANSWER_VOCAB, CLEVRStyle
from .vision_pretrain import clevr_cell_targets

__all__ = ["FEATURES", "SceneReader", "encode_questions", "main", "read_scenes", "scene_features",
           "train_reader"]

FEATURES = ("ban", "visual_tokens", "oracle", "none")
_WORD = re.compile(r"[a-z0-9]+")


def encode_questions(questions: Sequence[str], vocab: dict[str, int] | None = None
                     ) -> tuple[torch.Tensor, dict[str, int]]:
    """Lower-cased words -> ``(n, L)`` ids (0 = padding, 1 = unknown) and the vocabulary
    (built from ``questions`` when not given)."""
    words = [_WORD.findall(q.lower()) for q in questions]
    if vocab is None:
        vocab = {w: i + 2 for i, w in enumerate(sorted({w for ws in words for w in ws}))}
    ids = torch.zeros(len(words), max(1, max((len(w) for w in words), default=1)), dtype=torch.long)
    for k, ws in enumerate(words):
        ids[k, :len(ws)] = torch.tensor([vocab.get(w, 1) for w in ws], dtype=torch.long)
    return ids, vocab


class SceneReader(nn.Module):
    """``[CLS] + words + cells`` -> answer logits (2 bidirectional Transformer layers).

    Args:
        vocab_size: word ids (0 padding, 1 unknown included).
        feature_dim: channels of a visual cell.
        num_cells: cells per image (a learned position embedding each).
        num_answers: classes.
        dim, layers, heads: the encoder's width, depth and heads.
    """

    def __init__(self, vocab_size: int, feature_dim: int, num_cells: int, num_answers: int,
                 dim: int = 128, layers: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.words = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.word_pos = nn.Parameter(torch.randn(64, dim) * 0.02)
        self.cells = nn.Sequential(nn.LayerNorm(feature_dim), nn.Linear(feature_dim, dim))
        self.cell_pos = nn.Parameter(torch.randn(num_cells, dim) * 0.02)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_answers))

    def forward(self, words: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        b, length = words.shape
        w = self.words(words) + self.word_pos[:length]
        c = self.cells(cells) + self.cell_pos
        x = torch.cat([self.cls.expand(b, -1, -1), w, c], 1)
        pad = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=words.device), words == 0,
                         torch.zeros(b, c.shape[1], dtype=torch.bool, device=words.device)], 1)
        return self.head(self.encoder(x, src_key_padding_mask=pad)[:, 0])


@torch.no_grad()
def scene_features(model, ds: CLEVRStyle, kind: str, grid: int, batch_size: int = 128) -> torch.Tensor:
    """``(num_images, grid^2, C)`` visual input of kind ``kind`` for every scene of ``ds``."""
    if kind not in FEATURES:
        raise ValueError(f"unknown feature {kind!r}; valid: {', '.join(FEATURES)}")
    if kind in ("oracle", "none"):
        t = torch.stack([clevr_cell_targets(ds.scene(i), grid) for i in range(ds.num_images)])
        return t if kind == "oracle" else torch.zeros_like(t)
    out = []
    for s in range(0, ds.num_images, batch_size):
        x = torch.stack([ds.image(i) for i in range(s, min(ds.num_images, s + batch_size))])
        out.append((model.fused_features(x) if kind == "ban" else model.visual_tokens(x)).float())
    return torch.cat(out)


def train_reader(words: torch.Tensor, image_of: torch.Tensor, feats: torch.Tensor, labels: torch.Tensor,
                 num_answers: int, vocab_size: int, steps: int, batch_size: int = 128, lr: float = 1e-3,
                 seed: int = 0) -> SceneReader:
    """A :class:`SceneReader` trained on question ``k`` = ``words[k]`` about scene
    ``image_of[k]`` (a row of ``feats``) with answer ``labels[k]``; AdamW, warm-up + cosine."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    torch.manual_seed(seed)
    reader = SceneReader(vocab_size, feats.shape[-1], feats.shape[1], num_answers)
    opt = torch.optim.AdamW(reader.parameters(), lr=lr, weight_decay=0.01)
    g = torch.Generator().manual_seed(seed)
    warm = max(1, steps // 20)
    reader.train()
    for step in range(steps):
        for grp in opt.param_groups:
            grp["lr"] = lr * ((step + 1) / warm if step < warm
                              else 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm))))
        idx = torch.randint(len(words), (batch_size,), generator=g)
        loss = F.cross_entropy(reader(words[idx], feats[image_of[idx]]), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(reader.parameters(), 1.0)
        opt.step()
    return reader.eval()


@torch.no_grad()
def _predict(reader: SceneReader, words: torch.Tensor, feats: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    return torch.cat([reader(words[s:s + batch_size], feats[s:s + batch_size]).argmax(-1)
                      for s in range(0, len(words), batch_size)])


def read_scenes(checkpoint: str | None, features: Sequence[str], steps: Sequence[int],
                train_images: int = 20000, test_images: int = 1000, batch_size: int = 128,
                seed: int = 0, progress=print) -> list[dict]:
    """Rows (feature, steps, family, condition, accuracy, Wilson interval) of one reader per
    (feature, steps); ``checkpoint`` is needed for ``ban`` and ``visual_tokens`` only."""
    from simulations.stats import wilson_interval
    model, grid, image_size = None, 6, 96
    if any(f in ("ban", "visual_tokens") for f in features):
        if checkpoint is None:
            raise ValueError("features ban/visual_tokens read a checkpoint: pass --checkpoint")
        from .factory import create_taichi
        model, _tok, cfg = create_taichi(checkpoint=checkpoint)
        if getattr(model, "lr_tower", None) is None:
            raise ValueError(f"{checkpoint}: not a TaiChi checkpoint with vision towers")
        model.eval()
        grid, image_size = model.lr_tower.grid_size, cfg.vision.image_size
    train = CLEVRStyle("train", num_images=train_images, questions_per_image=3, image_size=image_size)
    test = CLEVRStyle("test", num_images=test_images, questions_per_image=1, image_size=image_size)
    answer_id = {a: i for i, a in enumerate(ANSWER_VOCAB)}
    tr = [(q, a, i) for i in range(train.num_images) for q, a, _f in train.questions(i)]
    te = [(q, a, f, i) for i in range(test.num_images) for q, a, f in test.questions(i)]
    w_tr, vocab = encode_questions([t[0] for t in tr])
    w_te, _ = encode_questions([t[0] for t in te], vocab)
    y_tr = torch.tensor([answer_id[t[1]] for t in tr])
    y_te = torch.tensor([answer_id[t[1]] for t in te])
    img_tr = torch.tensor([t[2] for t in tr])
    img_te = torch.tensor([t[3] for t in te])
    shuffled = torch.roll(img_te, 1)          # another test question's scene
    families = [t[2] for t in te]
    rows = []
    for feat in features:
        t0 = time.perf_counter()
        f_tr = scene_features(model, train, feat, grid)
        f_te = scene_features(model, test, feat, grid)
        feat_s = time.perf_counter() - t0
        for n in steps:
            t0 = time.perf_counter()
            reader = train_reader(w_tr, img_tr, f_tr, y_tr, len(ANSWER_VOCAB), len(vocab) + 2, n,
                                  batch_size, seed=seed)
            train_s = time.perf_counter() - t0
            hits = {c: (_predict(reader, w_te, f_te[img]) == y_te).tolist()
                    for c, img in (("real", img_te), ("shuffled", shuffled))}
            for fam in ["all"] + sorted(set(families)):
                idx = [k for k, f in enumerate(families) if fam in ("all", f)]
                for cond, hit in hits.items():
                    k = sum(hit[j] for j in idx)
                    lo, hi = wilson_interval(k, len(idx))
                    rows.append({"feature": feat, "steps": n, "train_questions": n * batch_size,
                                 "family": fam, "condition": cond, "accuracy": k / len(idx),
                                 "ci_low": lo, "ci_high": hi, "num_test": len(idx),
                                 "feature_seconds": feat_s, "train_seconds": train_s})
            acc = {c: sum(h) / len(h) for c, h in hits.items()}
            progress(f"{feat} {n} steps: real {acc['real']:.3f}, shuffled {acc['shuffled']:.3f} ({train_s:.0f} s)")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tokcom.scene_reader", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="checkpoints/taichi-tiny", metavar="DIR",
                   help="TaiChi checkpoint whose features are read (ban, visual_tokens)")
    p.add_argument("--features", nargs="+", default=list(FEATURES), choices=FEATURES,
                   help="visual inputs, one reader each")
    p.add_argument("--steps", nargs="+", type=int, default=[3000],
                   help="reader training steps (batches of --batch-size); one reader per value")
    p.add_argument("--batch-size", type=int, default=128, help="questions per reader step")
    p.add_argument("--train-images", type=int, default=20000,
                   help="CLEVR-style training scenes, 3 questions each (the trainer's set)")
    p.add_argument("--test-images", type=int, default=1000,
                   help="CLEVR-style test scenes, 1 question each (the sweep's set)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/scene_reader.csv")
    ns = p.parse_args(argv)
    from simulations.results import write_table
    try:
        if min(ns.steps + [ns.batch_size, ns.train_images, ns.test_images]) < 1:
            raise ValueError("--steps, --batch-size, --train-images and --test-images must be >= 1")
        if any(f in ("ban", "visual_tokens") for f in ns.features) and not Path(ns.checkpoint).is_dir():
            raise FileNotFoundError(f"checkpoint folder not found: {ns.checkpoint}")
        rows = read_scenes(ns.checkpoint, ns.features, ns.steps, ns.train_images, ns.test_images,
                           ns.batch_size, ns.seed)
    except (ValueError, FileNotFoundError) as e:
        print(f"tokcom.scene_reader: error: {e}", file=sys.stderr)
        return 2
    df = pd.DataFrame(rows)
    df.insert(0, "checkpoint", ns.checkpoint)
    df.insert(1, "dataset_version", CLEVRStyle.version)
    df["seed"] = ns.seed
    out = write_table(df, ns.out)
    print(df[df.family == "all"].to_string(index=False))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
