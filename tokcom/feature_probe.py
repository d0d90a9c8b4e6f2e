"""What do a checkpoint's visual features hold? ``python -m tokcom.feature_probe --checkpoint D``.

A linear probe (multinomial logistic regression, full batch, fixed steps) is
fitted on the features of easy-VQA *training* images and scored on the *test*
images, for the two image labels of :func:`tokcom.vision_pretrain.easy_vqa_labels`
(the shape's colour, 7 classes; its shape, 3 classes). Features, from the same
forward pass the transmitter runs:

* ``ban_pooled``: the BAN output (``TaiChi.fused_features``) averaged over the
  grid, C values per image (what stage ``0v``'s easy-VQA heads read);
* ``ban_cells``: the BAN output of each cell the shape covers
  (:func:`tokcom.vision_pretrain.easy_cell_targets`), C values per cell, each cell
  one sample with its image's label (can a single visual token tell the shape?);
  ``num_train``/``num_test`` count cells;
* ``visual_tokens``: the projector's output, all ``N_v x D`` values per image
  (what the LLM receives).

Nothing of the checkpoint is changed. A probe that reads a label well says the
information is there and linearly readable; one at chance says it is lost
before that point. Used in the README ("Does the model read the image?") to
find where shape information is lost between stage ``0v`` and the SFT stages.
"""
from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from .vision_pretrain import EASY_COLOURS, EASY_SHAPES, _EasyImages, easy_cell_targets

__all__ = ["FEATURES", "LABELS", "easy_vqa_probe_set", "fit_probe", "main", "probe_checkpoint"]

FEATURES = ("ban_pooled", "ban_cells", "visual_tokens")
LABELS = {"color": EASY_COLOURS, "shape": EASY_SHAPES}


@functools.lru_cache(maxsize=4)      # the same images for every checkpoint of a run
def easy_vqa_probe_set(split: str, limit: int, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``limit`` images of ``split`` (by image id) that have both labels:
    images (n, 3, H, W) in [0, 1] and labels (n, 2) = (colour, shape) class indices
    (cached: callers must not modify them)."""
    easy = _EasyImages(image_size, split)
    keep = [j for j, i in enumerate(sorted(easy.labels)) if min(easy.labels[i]) >= 0][:limit]
    return easy.batch(keep)


def fit_probe(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor,
              y_test: torch.Tensor, classes: int, steps: int = 300, lr: float = 1e-2,
              weight_decay: float = 1e-3) -> tuple[float, float]:
    """Standardised features -> (train accuracy, test accuracy) of a linear softmax probe."""
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    a, b = (x_train - mu) / sd, (x_test - mu) / sd
    w = torch.zeros(a.shape[1], classes, requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    opt = torch.optim.Adam([w, bias], lr=lr)
    for _ in range(steps):
        loss = F.cross_entropy(a @ w + bias, y_train) + weight_decay * w.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = [((x @ w + bias).argmax(1) == y).float().mean().item()
               for x, y in ((a, y_train), (b, y_test))]
    return acc[0], acc[1]


@torch.no_grad()
def _features(model, images: torch.Tensor, labels: torch.Tensor,
              batch_size: int = 128) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Feature name -> (features (n, F), labels (n, 2)); ``ban_cells`` has one row per covered cell."""
    out: dict[str, list[torch.Tensor]] = {f: [] for f in FEATURES}
    cell_labels = []
    for i in range(0, len(images), batch_size):
        x, y = images[i:i + batch_size], labels[i:i + batch_size]
        v = model.fused_features(x).float()
        covered = easy_cell_targets(x, model.lr_tower.grid_size).bool()
        out["ban_pooled"].append(v.mean(1))
        out["ban_cells"].append(v[covered])
        cell_labels.append(y[:, None].expand(-1, v.shape[1], -1)[covered])
        out["visual_tokens"].append(model.visual_tokens(x).flatten(1).float())
    return {k: (torch.cat(v), torch.cat(cell_labels) if k == "ban_cells" else labels)
            for k, v in out.items()}


def probe_checkpoint(checkpoint: str, train_images: int = 2000, test_images: int = 600,
                     steps: int = 300) -> list[dict]:
    """Rows (feature, label, train/test accuracy) for one checkpoint."""
    from .factory import create_taichi
    model, _tok, cfg = create_taichi(checkpoint=checkpoint)
    if getattr(model, "lr_tower", None) is None:
        raise ValueError(f"{checkpoint}: not a TaiChi checkpoint with vision towers")
    model.eval()
    xtr, ytr = easy_vqa_probe_set("train", train_images, cfg.vision.image_size)
    xte, yte = easy_vqa_probe_set("test", test_images, cfg.vision.image_size)
    ftr, fte = _features(model, xtr, ytr), _features(model, xte, yte)
    rows = []
    for feat in FEATURES:
        (a, ya), (b, yb) = ftr[feat], fte[feat]
        for j, (label, classes) in enumerate(LABELS.items()):
            torch.manual_seed(0)
            tr, te = fit_probe(a, ya[:, j], b, yb[:, j], len(classes), steps)
            rows.append({"checkpoint": checkpoint, "feature": feat, "label": label,
                         "train_accuracy": tr, "test_accuracy": te, "num_train": len(ya),
                         "num_test": len(yb), "chance": 1 / len(classes)})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tokcom.feature_probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", nargs="+", required=True, metavar="DIR",
                   help="TaiChi checkpoint folders (one probe each)")
    p.add_argument("--train-images", type=int, default=2000, help="easy-VQA train images to fit on")
    p.add_argument("--test-images", type=int, default=600, help="easy-VQA test images to score on")
    p.add_argument("--steps", type=int, default=300, help="full-batch Adam steps of the probe")
    p.add_argument("--out", default="results/feature_probe.csv")
    ns = p.parse_args(argv)
    from simulations.results import write_table
    try:
        if min(ns.train_images, ns.test_images, ns.steps) < 1:
            raise ValueError("--train-images, --test-images and --steps must be >= 1")
        rows = []
        for ck in ns.checkpoint:
            if not Path(ck).is_dir():
                raise FileNotFoundError(f"checkpoint folder not found: {ck}")
            rows += probe_checkpoint(ck, ns.train_images, ns.test_images, ns.steps)
    except (ValueError, FileNotFoundError) as e:
        print(f"tokcom.feature_probe: error: {e}", file=sys.stderr)
        return 2
    df = pd.DataFrame(rows)
    out = write_table(df, ns.out)
    print(df.to_string(index=False))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
