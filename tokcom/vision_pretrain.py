"""Stage ``0v``: supervised pretraining of the visual front end (towers + BAN) on image labels.

``tiny`` has no pretrained vision towers (nothing offline ships ViT/ConvNeXt
weights). Trained jointly with a from-scratch LLM on question answering the
front end does not learn to see (``python -m tokcom.vision_probe``; README,
"Does the model read the image?"). This stage gives it what a pretrained tower
brings: features from which the image content can be read, learned on the
project's own labelled images before the LLM sees them.

Targets (no text, no LLM):

* CLEVR-style scenes (:class:`tokcom.data.CLEVRStyle`): a dense target per cell
  of the ``g x g`` visual-token grid: whether an object's centre lies in the
  cell and, if so, its shape, colour, size, material and surface pattern
  (multi-label, binary cross-entropy). Patterns are resolvable only at the
  high resolution, so the HR tower is trained through BAN.
* easy-VQA images: the shape's colour and shape (each a class; cross-entropy on
  the mean visual token), read from the dataset's own "what color/what shape"
  answers; images without such a question are skipped. With ``easy_cells`` also
  per cell (:func:`easy_cell_targets`): whether the shape covers the cell (from
  the pixels: where the image differs from its border colour) and, on the cells
  it covers, its colour and shape, so that every visual token over the shape
  carries them (not only their mean).

Heads are linear on the BAN output (``TaiChi.fused_features``, ``(B, g^2, C)``) and are discarded
afterwards; the towers and BAN keep the weights. Training is deterministic in
``(seed, step)``.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from channels.rng import make_generator

from .data.clevr_gen import COLORS, MATERIALS, PATTERNS, SHAPES, SIZES, CLEVRStyle
from .data.easy_vqa import COLOURS as EASY_COLOURS
from .data.easy_vqa import SHAPES as EASY_SHAPES

__all__ = ["ATTRIBUTES", "EASY_COLOURS", "EASY_SHAPES", "VisionHeads", "clevr_cell_targets",
           "easy_cell_targets", "easy_vqa_labels", "pretrain_vision"]

#: per-cell target layout: [object present] + one slot per attribute value
ATTRIBUTES: tuple[str, ...] = ("object",) + SHAPES + tuple(COLORS) + SIZES + MATERIALS + PATTERNS


def clevr_cell_targets(objects: Sequence, grid: int) -> torch.Tensor:
    """Scene graph -> ``(grid * grid, len(ATTRIBUTES))`` 0/1 targets (row-major cells, y down)."""
    t = torch.zeros(grid * grid, len(ATTRIBUTES))
    for o in objects:
        r = min(grid - 1, max(0, int(o.y * grid)))
        c = min(grid - 1, max(0, int(o.x * grid)))
        cell = t[r * grid + c]
        cell[0] = 1.0
        for value in (o.shape, o.color, o.size, o.material, o.pattern):
            cell[ATTRIBUTES.index(value)] = 1.0
    return t


def easy_cell_targets(images: torch.Tensor, grid: int, threshold: float = 0.3,
                      min_share: float = 0.25) -> torch.Tensor:
    """easy-VQA images (B, 3, H, W) in [0, 1] -> (B, grid * grid) 0/1: the cells (row-major, y
    down) the one shape covers. A pixel is the shape's where it differs from the median colour of
    the image's border by more than ``threshold`` (summed over RGB); a cell is covered when it
    holds at least ``min_share`` of the best-covered cell's shape pixels (so the cell of the
    smallest shape always counts)."""
    b, _c, h, w = images.shape
    border = torch.cat([images[:, :, 0], images[:, :, -1], images[:, :, :, 0], images[:, :, :, -1]], -1)
    bg = border.median(-1).values[:, :, None, None]                       # (B, 3, 1, 1)
    mask = ((images - bg).abs().sum(1) > threshold).float()                # (B, H, W)
    cells = F.adaptive_avg_pool2d(mask[:, None], grid).flatten(1)           # (B, g^2) pixel shares
    top = cells.amax(1, keepdim=True)
    return ((cells >= min_share * top) & (top > 0)).float()


def easy_vqa_labels(items: Sequence[tuple[str, str, int]]) -> dict[int, tuple[int, int]]:
    """easy-VQA ``(question, answer, image_id)`` triples -> ``{image_id: (colour, shape)}`` class
    indices (-100 where the questions of an image do not tell)."""
    colour: dict[int, str] = {}
    shape: dict[int, str] = {}
    for q, a, i in items:
        w = q.split()
        if q.startswith("what color"):
            colour[i] = a
        elif q.startswith("what shape"):
            shape[i] = a
        elif q.startswith("what is the") and len(w) > 3 and w[3] in EASY_COLOURS:
            colour[i], shape[i] = w[3], a
    out = {}
    for i in set(colour) | set(shape):
        c = EASY_COLOURS.index(colour[i]) if colour.get(i) in EASY_COLOURS else -100
        s = EASY_SHAPES.index(shape[i]) if shape.get(i) in EASY_SHAPES else -100
        out[i] = (c, s)
    return out


class VisionHeads(nn.Module):
    """Linear heads on the fused visual tokens ``(B, N, C)``: per-cell attributes and, on the
    mean token, easy-VQA's colour and shape."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.cell = nn.Linear(dim, len(ATTRIBUTES))
        self.colour = nn.Linear(dim, len(EASY_COLOURS))
        self.shape = nn.Linear(dim, len(EASY_SHAPES))
        # per-cell easy-VQA heads (``easy_cells``): covered or not, colour, shape
        self.easy_cell = nn.Linear(dim, 1 + len(EASY_COLOURS) + len(EASY_SHAPES))

    def forward(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pooled = v.mean(1)
        return self.cell(v), self.colour(pooled), self.shape(pooled)


class _EasyImages:
    """easy-VQA images (``split``, by image id) with their colour/shape labels."""

    def __init__(self, image_size: int, split: str = "train") -> None:
        from .data.easy_vqa import EasyVQA
        self.ds = EasyVQA(split, image_size=image_size)
        ids = self.ds.image_ids()
        self.labels = easy_vqa_labels(list(zip(self.ds.question_texts(), self.ds.answers(), ids)))
        first: dict[int, int] = {}
        for k, i in enumerate(ids):
            first.setdefault(i, k)
        self.index = [first[i] for i in sorted(self.labels)]

    def batch(self, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        exs = [self.ds[self.index[j]] for j in idx]
        lab = torch.tensor([self.labels[e.meta["image_id"]] for e in exs])
        return torch.stack([e.image for e in exs]), lab


def _easy_cell_loss(logits: torch.Tensor, covered: torch.Tensor, lab: torch.Tensor) -> torch.Tensor:
    """Per-cell easy-VQA loss: covered-or-not (BCE over every cell) + colour and shape
    cross-entropy on the covered cells of images whose label is known, each over the cells
    that count and added (``logits`` (B, N, 1 + colours + shapes), ``covered`` (B, N),
    ``lab`` (B, 2) class indices or -100)."""
    nc = len(EASY_COLOURS)
    loss = F.binary_cross_entropy_with_logits(logits[..., 0], covered)
    for j, part in enumerate((logits[..., 1:1 + nc], logits[..., 1 + nc:])):
        target = lab[:, j, None].expand_as(covered).masked_fill(covered == 0, -100)
        if (target >= 0).any():
            loss = loss + F.cross_entropy(part.flatten(0, 1), target.flatten(), ignore_index=-100)
    return loss


def pretrain_vision(model, *, steps: int, batch_size: int = 32, lr: float = 1e-3, seed: int = 0,
                    num_images: int = 20000, image_size: int = 96, use_easy_vqa: bool = True,
                    easy_cells: bool = False, device: torch.device | str = "cpu",
                    progress: bool = True, log=None) -> list[float]:
    """Train ``model``'s towers and BAN in place on the image targets; returns the loss per step.

    Batches alternate between CLEVR-style scenes and (``use_easy_vqa``) easy-VQA images;
    ``easy_cells`` adds the per-cell easy-VQA targets (:func:`easy_cell_targets`).
    ``log(step, loss, lr, source)`` is called per step when given.
    """
    from tqdm.auto import tqdm
    if steps < 1:
        raise ValueError(f"stage 0v needs steps >= 1, got {steps}")
    grid = model.lr_tower.grid_size
    clevr = CLEVRStyle("train", num_images=num_images, seed=seed, image_size=image_size)
    easy = _EasyImages(image_size) if use_easy_vqa else None
    dim = model.fused_features(torch.zeros(1, 3, image_size, image_size, device=device)).shape[-1]
    heads = VisionHeads(dim).to(device)
    parts = [p for name in ("lr_tower", "hr_tower", "ban") if getattr(model, name, None) is not None
             for p in getattr(model, name).parameters()]
    for p in parts:
        p.requires_grad_(True)
    params = parts + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    warm = max(1, steps // 20)
    losses = []
    model.train()
    for step in tqdm(range(steps), desc="stage 0v", disable=not progress, dynamic_ncols=True):
        # a stream of its own (7), apart from tokcom.train's per-stage batch streams
        g = make_generator(int(np.random.SeedSequence([seed, 7, step]).generate_state(1)[0]), "cpu")
        cur = lr * ((step + 1) / warm if step < warm
                    else 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm))))
        for grp in opt.param_groups:
            grp["lr"] = cur
        if easy is None or step % 2 == 0:
            idx = torch.randint(num_images, (batch_size,), generator=g).tolist()
            images = torch.stack([clevr.image(i) for i in idx]).to(device)
            target = torch.stack([clevr_cell_targets(clevr.scene(i), grid) for i in idx]).to(device)
            cell, _, _ = heads(model.fused_features(images))
            loss = F.binary_cross_entropy_with_logits(cell, target)
            source = "clevr_gen"
        else:
            idx = torch.randint(len(easy.index), (batch_size,), generator=g).tolist()
            images, lab = easy.batch(idx)
            images, lab = images.to(device), lab.to(device)
            v = model.fused_features(images)
            _, colour, shape = heads(v)
            # summed over the labelled entries / batch size (no NaN when a batch lacks one kind)
            loss = (F.cross_entropy(colour, lab[:, 0], ignore_index=-100, reduction="sum")
                    + F.cross_entropy(shape, lab[:, 1], ignore_index=-100, reduction="sum")) / len(idx)
            if easy_cells:
                loss = loss + _easy_cell_loss(heads.easy_cell(v), easy_cell_targets(images, grid), lab)
            source = "easy_vqa"
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
        if log is not None:
            log(step, loss.item(), cur, source)
    return losses
