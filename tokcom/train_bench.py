"""Training step with a frozen front end: ``python -m tokcom.train_bench``.

After stage ``0v`` the shipped recipe keeps the vision towers and BAN fixed. Three ways to do
that, timed on the same batches (the trainer's own draws of a stage's mixture, from a fresh
``tiny`` model each):

``zero-lr``
    the parts keep ``requires_grad`` and sit in an AdamW group at learning rate 0 (what
    ``tokcom.train`` did up to commit ``a3165b9``): their gradients are computed, then unused;
``frozen``
    ``requires_grad`` off (:func:`tokcom.stages.param_groups` with scale 0, now);
``frozen+memo``
    also :meth:`tokcom.taichi.TaiChi.cache_frozen_features`: an image's features are computed
    once and looked up afterwards.

Reports seconds per step over the last ``--measure`` of ``--steps`` steps (the memo fills in the
first ones, as it does early in a stage), the ratio to ``zero-lr`` and the memo's hit rate.

``--codec-context 0 1`` times stage ``2`` instead (joint coding with the channel in the loop, LoRA on
the LM, the front end held at learning rate 0 as the default recipe does) with a codec of each
number of context layers (0: each token coded alone), on the same batches, channels and SNRs, and
reports the ratio to the first.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from channels.rng import make_generator

from . import train as T
from .factory import build_codec, create_taichi
from .lora import apply_lora
from .stages import param_groups, set_trainable, trainable_parameters

__all__ = ["main"]

MODES = ("zero-lr", "frozen", "frozen+memo")


def _run(mode: str, preset: str, stage: str, sets, steps: int, measure: int, batch_size: int,
         seed: int) -> tuple[float, float]:
    torch.manual_seed(seed)
    model, tok, cfg = create_taichi(preset)
    set_trainable(model, stage)
    # zero-lr: the old way, gradients computed for the parts, learning rate 0
    groups = param_groups(model, 1e-3, 0.0, 0.0, freeze_zero=mode != "zero-lr")
    opt = torch.optim.AdamW(groups, lr=1e-3, weight_decay=0.01)
    params = trainable_parameters(model)
    model.cache_frozen_features(mode == "frozen+memo")
    model.train()
    seen: set[int] = set()
    hits = lookups = 0
    t_start = None
    for step in range(steps):
        if step == steps - measure:
            t_start = time.perf_counter()
        g = make_generator(T._batch_seed(seed, stage, step), "cpu")
        _name, examples = T._draw_batch(sets, batch_size, g)
        b = T._collate(model, tok, cfg, examples, "cpu")
        if b["images"] is not None:
            keys = [hash(x.numpy().tobytes()) for x in b["images"]]
            if step >= steps - measure:
                hits += sum(k in seen for k in keys)
                lookups += len(keys)
            seen.update(keys)
        loss = T._loss(model, b, {})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    per_step = (time.perf_counter() - t_start) / measure
    model.cache_frozen_features(False)
    return per_step, hits / max(1, lookups)


def _run_codec(context: int, preset: str, sets, steps: int, measure: int, batch_size: int,
               seed: int) -> float:
    """Seconds per stage-2 step with a codec of ``context`` layers (see the module docstring)."""
    import channels
    torch.manual_seed(seed)
    model, tok, cfg = create_taichi(preset)
    cfg.codec_context_layers = context
    model.channel_encoder, model.channel_decoder = build_codec(cfg, model.llm.lm.config.hidden_size)
    apply_lora(model, cfg.lora)
    set_trainable(model, "2")
    opt = torch.optim.AdamW(param_groups(model, 1e-3, 0.0, 0.0, freeze_zero=False), lr=1e-3)
    params = trainable_parameters(model)
    chans = [channels.get("awgn"), channels.get("rayleigh")]
    model.train()
    t_start = None
    for step in range(steps):
        if step == steps - measure:
            t_start = time.perf_counter()
        g = make_generator(T._batch_seed(seed, "2", step), "cpu")
        _name, examples = T._draw_batch(sets, batch_size, g)
        b = T._collate(model, tok, cfg, examples, "cpu")
        kw = {"channel": chans[step % 2], "snr_db": -5.0 + 25.0 * torch.rand(batch_size, generator=g),
              "generator": make_generator(T._batch_seed(seed + 1, "2", step), "cpu")}
        loss = T._loss(model, b, kw)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    return (time.perf_counter() - t_start) / measure


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tokcom.train_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--stage", default="0", help="stage kind whose trainable parts are timed (0, 1b)")
    p.add_argument("--mix", default=T.DEFAULT_MIX, help="data mixture, NAME:WEIGHT,...")
    p.add_argument("--steps", type=int, default=240, help="steps per mode")
    p.add_argument("--measure", type=int, default=120, help="timed steps at the end of each mode's run")
    p.add_argument("--batch-size", type=int, default=32, help="examples per step")
    p.add_argument("--num-images", type=int, default=20000, help="generated CLEVR-style images")
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--codec-context", type=int, nargs="+", default=None, metavar="N",
                   help="time stage 2 with a codec of each of these numbers of context layers "
                        "instead of the front-end modes (e.g. 0 1)")
    ns = p.parse_args(argv)
    if not 0 < ns.measure <= ns.steps or ns.batch_size < 1:
        p.error("need 0 < --measure <= --steps and --batch-size >= 1")
    if ns.codec_context is not None and min(ns.codec_context) < 0:
        p.error("--codec-context needs numbers >= 0")
    sets = T._train_sets(T.parse_mix(ns.mix), ns.num_images, ns.num_images, ns.seed)
    if ns.codec_context is not None:
        res = {c: _run_codec(c, ns.preset, sets, ns.steps, ns.measure, ns.batch_size, ns.seed)
               for c in ns.codec_context}
        print(f"stage-2 training step, {ns.preset}, batch {ns.batch_size}, mixture {ns.mix}, "
              f"{torch.get_num_threads()} threads; last {ns.measure} of {ns.steps} steps:")
        first = res[ns.codec_context[0]]
        for c, t in res.items():
            print(f"  codec context layers {c}: {t:.3f} s/step   {t / first:.2f}x the first")
        return 0
    res = {m: _run(m, ns.preset, ns.stage, sets, ns.steps, ns.measure, ns.batch_size, ns.seed)
           for m in ns.modes}
    print(f"training step, {ns.preset}, stage {ns.stage}, front end (towers + BAN) fixed, batch "
          f"{ns.batch_size}, mixture {ns.mix}, {torch.get_num_threads()} threads; last "
          f"{ns.measure} of {ns.steps} steps:")
    base = res.get("zero-lr", (None,))[0]
    for m, (t, hit) in res.items():
        ratio = f"   {base / t:.2f}x zero-lr" if base else ""
        print(f"  {m:12s}: {t:.3f} s/step{ratio}   (images seen before: {100 * hit:.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
