"""How well does the channel codec carry the token states? ``python -m simulations.codec_fidelity``.

The same questions' token states ``Z`` (after the transmitter's ``K`` LLM layers) go through the
channel encoder, the channel at each SNR and the receiver's equaliser and channel decoder; the
CSV compares the received states ``Z_hat`` with ``Z`` per token: mean norm of each, relative error
``||Z_hat - Z|| / ||Z||`` and cosine similarity (means over all prompt positions and questions).
The design's eq. 17 trains the codec by the answer loss alone, so it need not reconstruct ``Z``:
the receiver's layers may learn to read states of another scale and direction. The shipped `tiny`
checkpoint does (``results/codec_fidelity_taichi.csv``: cosine under 0.03, received norms 37-97x
below the sent ones, yet its answers are those of the README). Read the figures with the accuracy
next to them.

SNR is Es/N0 per complex channel symbol in dB (see :mod:`channels.snr`); ``--channel none`` is the
error-free channel (its SNR is ignored).
"""
from __future__ import annotations

import argparse
import math
import sys

import pandas as pd
import torch

import channels
from channels.rng import make_generator

from .results import write_table

__all__ = ["codec_fidelity", "main"]


@torch.no_grad()
def codec_fidelity(system, channel: str, snrs_db: list[float], num_examples: int,
                   batch_size: int = 32, seed: int = 0) -> list[dict]:
    """One row per SNR for a TaiChi system (``system.model``: token_states, channel_encoder,
    receive_states)."""
    model = system.model
    ch = channels.get(channel)
    sums = {s: {"norm": 0.0, "norm_hat": 0.0, "rel": 0.0, "cos": 0.0, "n": 0} for s in snrs_db}
    done, b = 0, 0
    while done < num_examples:
        n = min(batch_size, num_examples - done)
        batch = system.sample(n, make_generator(seed * 1_000_003 + b, "cpu"))
        z = model.token_states(batch["prompt_ids"], batch["images"])
        x = model.channel_encoder(z)
        for k, s in enumerate(snrs_db):
            out = ch(x, torch.full((n,), float(s), device=x.device),
                     generator=make_generator(seed * 7919 + 131 * b + k, x.device))
            zh = model.receive_states(out).to(z.dtype)
            nz, nh = z.norm(dim=-1), zh.norm(dim=-1)
            acc = sums[s]
            acc["norm"] += float(nz.sum())
            acc["norm_hat"] += float(nh.sum())
            acc["rel"] += float(((zh - z).norm(dim=-1) / nz.clamp_min(1e-12)).sum())
            acc["cos"] += float(torch.nn.functional.cosine_similarity(zh, z, dim=-1).sum())
            acc["n"] += nz.numel()
        done, b = done + n, b + 1
    rows = []
    for s, acc in sums.items():
        m = acc["n"]
        rows.append({"system": system.name, "dataset": system.dataset, "channel": channel,
                     "snr_db": s, "state_norm": acc["norm"] / m, "received_norm": acc["norm_hat"] / m,
                     "relative_error": acc["rel"] / m, "cosine": acc["cos"] / m,
                     "num_examples": num_examples, "num_states": m, "seed": seed})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulations.codec_fidelity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--system", default="taichi", help="a TaiChi system (taichi, taichi-smollm2, ...)")
    p.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the system's own)")
    p.add_argument("--dataset", default="easy_vqa", help="whose questions: easy_vqa, clevr_gen, ...")
    p.add_argument("--split", default="test")
    p.add_argument("--channel", default="none", help="none (error-free), awgn, rayleigh, ...")
    p.add_argument("--snr", type=float, nargs="+", default=[0.0],
                   help="Es/N0 per complex symbol in dB (ignored by --channel none)")
    p.add_argument("--num-examples", type=int, default=64, help="questions whose states are sent")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0, help="fixes the questions and the noise")
    p.add_argument("--out", default=None, help="CSV (default: print only)")
    ns = p.parse_args(argv)
    try:
        if ns.num_examples < 1 or ns.batch_size < 1:
            raise ValueError("--num-examples and --batch-size must be >= 1")
        bad = [s for s in ns.snr if not math.isfinite(s)]
        if bad:
            raise ValueError(f"--snr must be finite dB values, got {bad}")
        from . import systems
        kw = {"dataset": ns.dataset, "split": ns.split, "num_examples": max(ns.num_examples, 100)}
        if ns.checkpoint:
            kw["checkpoint"] = ns.checkpoint
        system = systems.get(ns.system, **kw)
        if not hasattr(getattr(system, "model", None), "token_states"):
            raise ValueError(f"{ns.system} has no token-state codec to measure (a TaiChi system has)")
        snrs = [0.0] if ns.channel == "none" else ns.snr
        df = pd.DataFrame(codec_fidelity(system, ns.channel, snrs, ns.num_examples, ns.batch_size,
                                         ns.seed))
        df.insert(1, "checkpoint", system.describe().get("checkpoint", ""))
        if ns.out:
            write_table(df, ns.out)
    except (ValueError, FileNotFoundError) as e:
        print(f"codec_fidelity: error: {e}", file=sys.stderr)
        return 2
    print(df.to_string(index=False))
    if ns.out:
        print(f"written to {ns.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
