"""Receiver decoding with vs without the KV cache: ``python -m tokcom.llm.bench``.

Times greedy generation of ``--new-tokens`` answer tokens from received prompt
states of ``--prompt-tokens`` positions, with the cache (one token per step
through all layers) and without it (the whole response re-run every step).
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from tokcom.config import load_config

from .split import SplitLLM, build_causal_lm

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tokcom.llm.bench", description=__doc__)
    p.add_argument("--preset", default="tiny", help="preset whose scratch LM config is used")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--prompt-tokens", type=int, default=84)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    ns = p.parse_args(argv)
    cfg = load_config(ns.preset)
    torch.manual_seed(0)
    lm = build_causal_lm({**cfg.llm.config, "vocab_size": 1024}, cfg.llm.model_type).eval()
    s = SplitLLM(lm, cfg.split_layer)
    z = s.encode(s.embed(torch.randint(0, 1024, (ns.batch, ns.prompt_tokens)))).detach()
    times = {}
    outs = {}
    for cache in (True, False):
        best = float("inf")
        for _ in range(ns.repeats):
            t0 = time.perf_counter()
            outs[cache] = s.generate(z, ns.new_tokens, use_cache=cache)
            best = min(best, time.perf_counter() - t0)
        times[cache] = best
    same = torch.equal(outs[True], outs[False])
    print(f"receiver decoding, {ns.preset} LM ({s.num_layers} layers, split {s.split_layer}), batch "
          f"{ns.batch}, {ns.prompt_tokens} received states, {ns.new_tokens} new tokens:")
    print(f"  KV cache   : {times[True]:.3f} s")
    print(f"  no cache   : {times[False]:.3f} s")
    print(f"  speed-up   : {times[False] / times[True]:.2f}x   (identical tokens: {same})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
