"""Accuracy/BER-versus-SNR sweeps from the command line.

    python -m simulations.snr_sweep --system bits --channel rayleigh --snr 0:20:2
    torchrun --nproc_per_node 2 -m simulations.snr_sweep ...      # scale-out

SNR is Es/N0 per complex channel use in dB, with unit average transmit power
per symbol (see ``channels/snr.py``). Results go to a CSV (one row per SNR
point and metric, 95% confidence intervals) plus a JSON sidecar and a PNG;
re-running the same command continues a killed sweep.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path
from simulations import systems

__all__ = ["main", "parse_snr", "build_parser"]

# CLI flag -> (constructor keyword, channels it applies to)
_CHANNEL_FLAGS = {
    "coherence": ("coherence", {"rayleigh", "rician"}),
    "block_length": ("block_length", {"rayleigh", "rician"}),
    "csi": ("csi", {"awgn", "rayleigh", "rician", "tdl"}),
    "num_pilots": ("num_pilots", {"awgn", "rayleigh", "rician"}),
    "k_factor_db": ("k_factor_db", {"rician"}),
    "tdl_model": ("model", {"tdl"}),
    "delay_spread_ns": ("delay_spread_ns", {"tdl"}),
    "max_speed_mps": ("max_speed_mps", {"tdl"}),
    "fft_size": ("fft_size", {"tdl"}),
}
# CLI flag -> (constructor keyword, systems it applies to)
_ANSWER = set(systems.answer_system_names())
_SYSTEM_FLAGS = {
    "modulation": ("modulation", {"bits", "bits-taichi"}),
    "coding": ("coding", {"bits", "bits-taichi"}),
    "k": ("k", {"bits", "bits-taichi"}),
    "n": ("n", {"bits", "bits-taichi"}),
    "bp_iters": ("num_bp_iter", {"bits", "bits-taichi"}),
    "equalizer": ("equalizer", {"bits", "bits-taichi"}),
    "demapping": ("demapping", {"bits", "bits-taichi"}),
    "source": ("source", {"bits"}),
    "image_bytes": ("image_bytes", {"bits-taichi"}),
    "checkpoint": ("checkpoint", _ANSWER),
    "preset": ("preset", set(systems.TAICHI_NAMES)),
    "dataset": ("dataset", _ANSWER),
    "task": ("task", _ANSWER),
    "split": ("split", _ANSWER),
    "num_examples": ("num_examples", _ANSWER),
    "data_root": ("data_root", _ANSWER),
}


def parse_snr(tokens: list[str]) -> list[float]:
    """SNR grid in dB from ``["0:20:2"]`` (start:stop:step, stop included) or values.

    Accepts space- or comma-separated values and ranges, e.g. ``-5 0:10:2.5``.
    """
    values: list[float] = []
    for tok in tokens:
        for part in (p for p in tok.split(",") if p.strip()):
            if ":" in part:
                bits = part.split(":")
                if len(bits) != 3:
                    raise ValueError(f"SNR range must be start:stop:step in dB, got {part!r}")
                start, stop, step = (float(b) for b in bits)
                if not all(math.isfinite(v) for v in (start, stop, step)):
                    raise ValueError(f"SNR range must be finite, got {part!r}")
                if step <= 0 or stop < start:
                    raise ValueError(f"SNR range needs step > 0 and stop >= start, got {part!r}")
                count = int(math.floor((stop - start) / step + 1e-9)) + 1
                values.extend(round(start + i * step, 10) for i in range(count))
            else:
                try:
                    v = float(part)
                except ValueError:
                    raise ValueError(f"not an SNR value in dB: {part!r}") from None
                if not math.isfinite(v):
                    raise ValueError(f"SNR values must be finite numbers in dB, got {part!r}")
                values.append(v)
    if not values:
        raise ValueError("the SNR list is empty")
    if len(set(values)) != len(values):
        raise ValueError(f"the SNR list has duplicate points: {values}")
    return values


def _positive(kind: type):
    def conv(s: str):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {s!r}") from None
        if not v > 0 or (isinstance(v, float) and not math.isfinite(v)):
            raise argparse.ArgumentTypeError(f"must be > 0, got {s}")
        return v
    return conv


def build_parser() -> argparse.ArgumentParser:
    import channels
    from simulations import systems

    p = argparse.ArgumentParser(
        prog="python -m simulations.snr_sweep",
        description="Monte-Carlo accuracy/BER-vs-SNR sweep. SNR = Es/N0 per complex channel "
                    "use [dB], unit average transmit power per symbol, noise CN(0, N0).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("sweep")
    g.add_argument("--system", default="bits", help=f"system to simulate: {', '.join(systems.names())}")
    g.add_argument("--channel", default="awgn", help=f"channel model: {', '.join(channels.names())}")
    g.add_argument("--snr", nargs="+", default=["0:10:1"], metavar="DB",
                   help="SNR points in dB: values and/or start:stop:step ranges (stop included)")
    g.add_argument("--batch-size", type=_positive(int), default=200,
                   help="samples (examples / codewords) per Monte-Carlo batch")
    g.add_argument("--min-samples", type=int, default=0, help="minimum samples per SNR point")
    g.add_argument("--max-samples", type=_positive(int), default=2000,
                   help="maximum samples per SNR point (rounded up to whole batches)")
    g.add_argument("--target-errors", type=_positive(int), default=None,
                   help="stop a point after this many errors of the primary metric "
                        "(bit errors for BER, wrong answers for accuracy)")
    g.add_argument("--target-ci", type=_positive(float), default=None,
                   help="stop a point when the 95%% CI half-width of the primary metric is at most this")
    g.add_argument("--snr-chunk", type=_positive(int), default=None,
                   help="receiver batch in SNR points (default: all at once; 1-2 is faster for "
                        "LDPC decoding on CPU); results do not depend on it")
    g.add_argument("--seed", type=int, default=0, help="fixes every draw: data, noise, fading")
    g.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, or auto (cuda if present)")
    g.add_argument("--out", default=None,
                   help="results CSV (default results/<system>_<channel>.csv); a .json sidecar "
                        "and a .png go beside it")
    g.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    c = p.add_argument_group("channel (flags apply only to the channels named)")
    c.add_argument("--coherence", choices=["example", "block", "symbol"], default=None,
                   help="[rayleigh, rician] one fading draw per example, per block of "
                        "--block-length symbols, or per symbol (default: example)")
    c.add_argument("--block-length", type=_positive(int), default=None,
                   help="[rayleigh, rician] coherence block length in symbols")
    c.add_argument("--csi", choices=["perfect", "ls"], default=None,
                   help="[awgn, rayleigh, rician, tdl] receiver CSI: perfect, or LS from pilots "
                        "(pilots count as channel uses) (default: perfect)")
    c.add_argument("--num-pilots", type=_positive(int), default=None,
                   help="[awgn, rayleigh, rician] pilot symbols per coherence block for --csi ls")
    c.add_argument("--k-factor-db", type=float, default=None, help="[rician] K-factor in dB")
    c.add_argument("--tdl-model", choices=list("ABCDE"), default=None, help="[tdl] 3GPP TDL profile")
    c.add_argument("--delay-spread-ns", type=_positive(float), default=None,
                   help="[tdl] RMS delay spread in ns")
    c.add_argument("--max-speed-mps", type=float, default=None, help="[tdl] UE speed in m/s")
    c.add_argument("--fft-size", type=_positive(int), default=None, help="[tdl] subcarriers")

    s = p.add_argument_group("bit-level system (--system bits)")
    s.add_argument("--modulation", choices=["bpsk", "qpsk", "16qam", "64qam"], default=None,
                   help="QAM order (default 16qam)")
    s.add_argument("--coding", choices=["ldpc", "none"], default=None,
                   help="5G LDPC or uncoded (default ldpc)")
    s.add_argument("--k", type=_positive(int), default=None, help="information bits per block (default 512)")
    s.add_argument("--n", type=_positive(int), default=None, help="coded bits per block (default 1024)")
    s.add_argument("--bp-iters", type=_positive(int), default=None, help="LDPC BP iterations (default 20)")
    s.add_argument("--equalizer", choices=["zf", "mmse"], default=None, help="equaliser (default zf)")
    s.add_argument("--demapping", choices=["app", "maxlog"], default=None, help="demapper (default app)")
    s.add_argument("--source", choices=["random", "text"], default=None,
                   help="random bits, or the UTF-8 bytes of --text-file")
    s.add_argument("--text-file", default=None, help="text whose UTF-8 bytes are sent (--source text)")

    s.add_argument("--image-bytes", type=_positive(int), default=None,
                   help="--system bits-taichi: bytes of the JPEG-coded image per sample (system default: 1536)")

    t = p.add_argument_group("question-answering systems (--system taichi, taichi-*, mobilevlm, "
                             "deepsc, t-deepsc, u-deepsc, deepsc-vqa, bits-taichi)")
    t.add_argument("--checkpoint", default=None,
                   help="checkpoint folder (default: the system's trained checkpoint in checkpoints/)")
    t.add_argument("--preset", default=None,
                   help="TaiChi systems: an UNTRAINED model preset instead of a checkpoint "
                        "(tiny, smollm2, paper, ...)")
    t.add_argument("--task", choices=["vqa", "caption", "classify"], default=None,
                   help="task; picks the default dataset (vqa: clevr_gen, caption: clevr_caption, "
                        "classify: synthetic_sentiment)")
    t.add_argument("--dataset", default=None,
                   help="evaluation set: clevr_gen, clevr_gen_cogent, clevr_caption, easy_vqa, "
                        "easy_vqa_balanced (yes/no answers balanced), easy_vqa_yesno(_plain) (generated yes/no), "
                        "synthetic_sentiment, "
                        "clevr, vqav2, sst2, imdb")
    t.add_argument("--split", default=None, help="evaluation split (default test)")
    t.add_argument("--num-examples", type=_positive(int), default=None,
                   help="size of a generated evaluation set (examples drawn with replacement)")
    t.add_argument("--data-root", default=None, help="folder of a dataset you have (clevr, vqav2, sst2, imdb)")
    return p


def _pick(ns: argparse.Namespace, flags: dict, name: str, what: str) -> dict:
    kw = {}
    for flag, (key, applies) in flags.items():
        v = getattr(ns, flag)
        if v is None:
            continue
        if name not in applies:
            raise ValueError(f"--{flag.replace('_', '-')} does not apply to {what} {name!r} "
                             f"(it applies to: {', '.join(sorted(applies))})")
        kw[key] = v
    return kw


def _resolve_device(spec: str):
    import torch
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError:
        raise ValueError(f"unknown device {spec!r}; use cpu, cuda, cuda:N or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} requested but no CUDA device is available")
    return dev


def run(ns: argparse.Namespace, argv: list[str]) -> int:
    import channels
    from simulations import systems
    from simulations.distributed import init_from_env
    from simulations.engine import StopRule, config_dict, run_sweep
    from simulations.results import ResultStore

    if ns.system not in systems.REGISTRY:
        raise ValueError(f"unknown system {ns.system!r}; valid systems: {', '.join(systems.names())}")
    if ns.channel not in channels.REGISTRY:
        raise ValueError(f"unknown channel {ns.channel!r}; valid channels: {', '.join(channels.names())}")
    snrs = parse_snr(ns.snr)
    stop = StopRule(min_samples=ns.min_samples, max_samples=ns.max_samples,
                    target_errors=ns.target_errors, target_ci=ns.target_ci)
    device = _resolve_device(ns.device)
    channel = channels.get(ns.channel, **_pick(ns, _CHANNEL_FLAGS, ns.channel, "channel"))
    sys_kw = _pick(ns, _SYSTEM_FLAGS, ns.system, "system")
    if ns.text_file is not None:
        if ns.system != "bits":
            raise ValueError("--text-file applies only to --system bits")
        try:
            sys_kw["text"] = Path(ns.text_file).read_bytes()
        except OSError as e:
            raise ValueError(f"cannot read --text-file {ns.text_file}: {e.strerror}") from None
        sys_kw.setdefault("source", "text")
    system = systems.get(ns.system, device=device, **sys_kw)
    out = Path(ns.out) if ns.out else Path("results") / f"{ns.system}_{ns.channel}.csv"
    config = {"system": system.describe(), "channel": channel.describe(),
              "device_type": device.type, **config_dict(stop, ns.batch_size, ns.seed)}
    dist_ctx = init_from_env(device)
    store = ResultStore(out, config, extra={"argv": argv, "world_size": dist_ctx.world_size})
    if dist_ctx.is_main:
        store.open()
    else:  # other ranks only need the finished points, which rank 0 validated
        dist_ctx.barrier()
        store.open()
    if dist_ctx.is_main and dist_ctx.world_size > 1:
        dist_ctx.barrier()
    try:
        rows = run_sweep(system, channel, snrs, batch_size=ns.batch_size, stop=stop, seed=ns.seed,
                         device=device, store=store, dist_ctx=dist_ctx,
                         progress=not ns.no_progress, channel_name=ns.channel,
                         snr_chunk=ns.snr_chunk)
    finally:
        dist_ctx.close()
    if dist_ctx.is_main:
        if not ns.no_plot:
            from simulations.plot import plot_results, save_figure
            fig = plot_results(store.rows, title=f"{system.name} over {ns.channel}")
            save_figure(fig, out.with_suffix(".png"))
        new = len({r["snr_db"] for r in rows})
        png = "" if ns.no_plot else f" (+ {out.with_suffix('.png')})"
        print(f"{new} new SNR points, {len(store.done_snrs())} in {out}{png}")
    return 0


_SNR_TOKEN = re.compile(r"^-?(\d|\.\d|nan|inf)", re.IGNORECASE)


def _join_snr_tokens(argv: list[str]) -> list[str]:
    """``--snr -5:25:5 30`` -> ``--snr=-5:25:5,30``: argparse would read -5:25:5 as a flag."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--snr":
            vals, i = [], i + 1
            while i < len(argv) and _SNR_TOKEN.match(argv[i]):
                vals.append(argv[i])
                i += 1
            out.append("--snr=" + ",".join(vals) if vals else "--snr")
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    ns = parser.parse_args(_join_snr_tokens(argv))
    from simulations.results import ResultsMismatch
    try:
        return run(ns, argv)
    except KeyboardInterrupt:
        print("snr_sweep: interrupted; finished SNR points are saved, run the same command "
              "to continue", file=sys.stderr)
        return 130
    except (ValueError, ResultsMismatch, OSError) as e:
        print(f"snr_sweep: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
