"""Can the VLM learn to see? A three-colour probe: ``python -m tokcom.vision_probe`` (``make probe``).

Each image is a light background with one 20x20-pixel square in red, green or
blue at a random place; the question is always "what color is the shape?".
The answer is in the image only (chance = 1/3). A fresh ``tiny`` TaiChi is
trained on it (stage 0 trainables, AdamW, batch 32) with one of several visual
front ends in place of ``TaiChi.visual_tokens``:

=================  ====================================================  ===========
front end          visual tokens                                         learns?
=================  ====================================================  ===========
``towers``         the preset's ViT + ConvNeXt + BAN + projector          trained
``towers-frozen``  the same, frozen at their random initialisation        no
``conv``           one 8x8-patch convolution of the LR image (36 tokens)  trained
``conv-frozen``    the same convolution, frozen at random                 no
``oracle``         the mean colour of each 8x8 LR patch minus the         fixed
                   background, times a fixed random matrix
=================  ====================================================  ===========

Accuracy on 192 fresh images is printed and written as CSV. It separates "the
LLM cannot read localised visual tokens" (``oracle`` fails) from "the visual
front end does not learn useful features when trained jointly" (``oracle``
succeeds, trained front ends stay at chance).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from .collate import collate_for
from .data import Example
from .prompts import decode_answers
from .stages import param_groups, set_trainable

__all__ = ["FRONT_ENDS", "probe", "main"]

FRONT_ENDS = ("towers", "towers-frozen", "conv", "conv-frozen", "oracle")
COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}
BACKGROUND = 0.9


def _examples(n: int, g: torch.Generator) -> list[Example]:
    names = list(COLOURS)
    out = []
    for _ in range(n):
        name = names[int(torch.randint(len(names), (1,), generator=g))]
        img = torch.full((3, 96, 96), BACKGROUND)
        x, y = (int(v) for v in torch.randint(4, 72, (2,), generator=g))
        img[:, y:y + 20, x:x + 20] = torch.tensor(COLOURS[name]).view(3, 1, 1)
        out.append(Example(img, "what color is the shape?", name, "vqa"))
    return out


def _front_end(model, kind: str, g: torch.Generator):
    """Replace ``model.visual_tokens`` (36 tokens of the LLM width) for ``kind``."""
    d = model.llm.hidden_size
    lr = model.lr_image_size

    def low(im):
        return F.interpolate(im, size=(lr, lr), mode="bilinear", antialias=True, align_corners=False)

    if kind in ("conv", "conv-frozen"):
        conv = torch.nn.Conv2d(3, d, lr // 6, lr // 6)
        model.add_module("probe_conv", conv)
        model.visual_tokens = lambda im: conv(low(im)).flatten(2).transpose(1, 2)
    elif kind == "oracle":
        w = torch.randn(3, d, generator=g)
        model.visual_tokens = lambda im: (BACKGROUND - F.avg_pool2d(low(im), lr // 6)
                                          ).flatten(2).transpose(1, 2) @ w


def probe(front_end: str, steps: int = 100, lr: float = 1e-3, seed: int = 0,
          preset: str = "tiny", vision_lr_scale: float = 1.0) -> float:
    """Accuracy on 192 fresh probe images after ``steps`` training steps."""
    from .factory import create_taichi
    if front_end not in FRONT_ENDS:
        raise ValueError(f"unknown front end {front_end!r}; valid: {', '.join(FRONT_ENDS)}")
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model, tok, cfg = create_taichi(preset)
    _front_end(model, front_end, g)
    set_trainable(model, "0")
    if front_end == "towers-frozen":
        for part in ("lr_tower", "hr_tower", "ban", "visual_norm_in", "projector", "visual_norm_out"):
            if getattr(model, part, None) is not None:
                getattr(model, part).requires_grad_(False)
    if front_end == "conv-frozen":
        model.probe_conv.requires_grad_(False)
    opt = torch.optim.AdamW(param_groups(model, lr, vision_lr_scale), lr=lr, weight_decay=0.01)
    model.train()
    for _ in range(steps):
        b = collate_for(model, tok, cfg, _examples(32, g), "cpu")
        loss = model.loss(b["prompt_ids"], b["images"], b["answer_ids"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
    model.eval()
    b = collate_for(model, tok, cfg, _examples(192, torch.Generator().manual_seed(seed + 10_000)), "cpu")
    with torch.no_grad():
        z = model.token_states(b["prompt_ids"], b["images"])
        pred = decode_answers(tok, model.generate(z, cfg.max_answer_tokens, tok.eos_token_id))
    return sum(p == a for p, a in zip(pred, b["answers"])) / len(pred)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tokcom.vision_probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--front-ends", nargs="+", default=list(FRONT_ENDS), metavar="NAME",
                   help=f"from {', '.join(FRONT_ENDS)}")
    p.add_argument("--steps", type=int, default=100, help="training steps of 32 images")
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate")
    p.add_argument("--vision-lr-scale", type=float, nargs="+", default=[1.0], metavar="S",
                   help="learning rate of the ViT/ConvNeXt towers relative to --lr (as tokcom.train); "
                        "several values: one probe per front end and value")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/vision_probe.csv")
    ns = p.parse_args(argv)
    try:
        bad = [f for f in ns.front_ends if f not in FRONT_ENDS]
        if bad:
            raise ValueError(f"unknown front ends {bad}; valid: {', '.join(FRONT_ENDS)}")
        if ns.steps < 1 or not ns.lr > 0 or not all(v >= 0 for v in ns.vision_lr_scale):
            raise ValueError("--steps must be >= 1, --lr > 0 and --vision-lr-scale >= 0")
        rows = []
        for f in ns.front_ends:
            for scale in ns.vision_lr_scale:
                t0 = time.time()
                acc = probe(f, ns.steps, ns.lr, ns.seed, vision_lr_scale=scale)
                rows.append({"front_end": f, "accuracy": acc, "chance": 1 / len(COLOURS),
                             "steps": ns.steps, "lr": ns.lr, "vision_lr_scale": scale, "seed": ns.seed,
                             "seconds": round(time.time() - t0, 1)})
                print(f"{f:14s} vision lr x{scale:g}: accuracy {acc:.3f}")
        out = Path(ns.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        from simulations.results import atomic_write_text
        atomic_write_text(out, pd.DataFrame(rows).to_csv(index=False, float_format="%.4f"))
    except ValueError as e:
        print(f"tokcom.vision_probe: error: {e}", file=sys.stderr)
        return 2
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
