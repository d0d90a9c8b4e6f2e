"""The design's experiments as commands: ``python -m simulations.figures NAME``.

======================  ======================================================================
name                    what it draws (``results/<name>.csv`` + ``results/<name>.png``)
======================  ======================================================================
``fig9``                accuracy vs SNR, AWGN and Rayleigh: TaiChi vs U-DeepSC, T-DeepSC,
                        DeepSC-VQA (VQA: CLEVR-style, easy-VQA in VQAv2's role) and DeepSC
                        (sentiment, validation split: seen vocabulary)
``fig10``               the same on the second pair: CLEVR-style compositional split (CoGenT B)
                        and the sentiment test split (unseen templates and vocabulary)
``fig11``               TaiChi vs the single-encoder VLM system (``mobilevlm``), same recipe
``fig12``               joint vs separate VLM-channel coding from the same SFT checkpoint
``table3``              error-free accuracy of TaiChi, w/o KAN (MLP), w/o BAN, with 95% CIs
``channel_uses``        accuracy vs channel uses per sample at fixed SNRs (bandwidth
                        efficiency): the token systems, TaiChi with separately trained
                        codecs at 1, 2, 4, 8 symbols per token, and JPEG+LDPC+QAM
                        (``bits-taichi``) at several source/channel budgets
======================  ======================================================================

Every curve is one run of :mod:`simulations.snr_sweep` (same engine, seeds,
stopping rule and CIs) written to ``results/curves/<curve>_n<max-samples>.csv``;
curves are shared between figures and resume after a kill. The figure files
are then assembled from those CSVs only. ``--max-samples`` sets the Monte-Carlo
budget per SNR point (default 200 questions, a 95% Wilson half-width of at
most 7 points; ``table3`` 5000 from 5000 generated questions, so that the
~1100 questions that need the HR image decide the ablation); the command line
of every curve is in the JSON sidecar ``results/<name>.json``.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from tqdm.auto import tqdm

from simulations import snr_sweep
from simulations.plot import load_results, plot_panels, save_figure
from simulations.results import atomic_write_text

__all__ = ["Curve", "Experiment", "EXPERIMENTS", "main", "run_experiment", "draw", "table_markdown"]

CHANNELS = ("awgn", "rayleigh")
GENERATED = ("clevr_gen", "clevr_gen_cogent", "synthetic_sentiment")
SNR_GRID = ("-5:20:5",)


@dataclass(frozen=True)
class Curve:
    """One sweep: a system on a dataset split over a channel (plus extra ``snr_sweep`` flags)."""

    system: str
    dataset: str
    split: str
    channel: str
    flags: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        extra = "".join("_" + re.sub(r"[^A-Za-z0-9.=-]+", "-", f.lstrip("-")) for f in self.flags)
        return f"{self.system}_{self.dataset}-{self.split}_{self.channel}{extra}"

    def argv(self, snr: list[str], out: Path, max_samples: int, batch_size: int, seed: int,
             device: str) -> list[str]:
        # generated sets hold at least as many questions as a point draws (no repeats to speak of)
        size = (["--num-examples", str(max(500, max_samples))]
                if self.dataset in GENERATED and max_samples > 500 else [])
        return ["--system", self.system, "--dataset", self.dataset, "--split", self.split, *size,
                "--channel", self.channel, "--snr", *snr, "--max-samples", str(max_samples),
                "--batch-size", str(batch_size), "--seed", str(seed), "--device", device,
                "--out", str(out), "--no-plot", "--no-progress", *self.flags]


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    curves: tuple[Curve, ...]
    kind: str = "snr"                    # snr | table | uses
    snr: tuple[str, ...] = SNR_GRID
    panels: tuple[str, ...] = field(default=("dataset", "channel"))
    max_samples: int = 200               # questions per SNR point unless --max-samples says


def _grid(systems_by_task: dict[str, tuple[str, ...]], sets: list[tuple[str, str, str]],
          channels=CHANNELS) -> tuple[Curve, ...]:
    return tuple(Curve(s, ds, split, ch) for ds, split, task in sets for ch in channels
                 for s in systems_by_task[task])


_TOKEN_SYSTEMS = {"vqa": ("taichi", "u-deepsc", "t-deepsc", "deepsc-vqa"),
                  "classify": ("taichi", "u-deepsc", "t-deepsc", "deepsc")}
_VQA = [("clevr_gen", "test", "vqa"), ("easy_vqa", "test", "vqa")]

EXPERIMENTS: dict[str, Experiment] = {
    "fig9": Experiment(
        "fig9", "Fig. 9: accuracy vs SNR, TaiChi and the DeepSC family",
        _grid(_TOKEN_SYSTEMS, _VQA + [("synthetic_sentiment", "val", "classify")])),
    "fig10": Experiment(
        "fig10", "Fig. 10: compositional CLEVR-style split and unseen-vocabulary sentiment",
        _grid(_TOKEN_SYSTEMS, [("clevr_gen_cogent", "test", "vqa"),
                               ("synthetic_sentiment", "test", "classify")])),
    "fig11": Experiment(
        "fig11", "Fig. 11: TaiChi (dual tokenizer + BAN + KAN) vs single-encoder VLM",
        _grid({"vqa": ("taichi-joint", "mobilevlm")}, _VQA)),
    "fig12": Experiment(
        "fig12", "Fig. 12: joint vs separate VLM-channel coding",
        _grid({"vqa": ("taichi-joint", "taichi-separate")}, _VQA)),
    "table3": Experiment(
        "table3", "Table III: ablations, error-free channel",
        _grid({"vqa": ("taichi-vlm", "taichi-mlp", "taichi-noban"),
               "classify": ("taichi-vlm", "taichi-mlp", "taichi-noban")},
              _VQA + [("synthetic_sentiment", "val", "classify")], channels=("none",)),
        kind="table", snr=("0",), max_samples=5000),
    "channel_uses": Experiment(
        "channel_uses", "Accuracy vs channel uses per sample (easy-VQA, AWGN)",
        tuple(Curve(s, "easy_vqa", "test", "awgn") for s in
              ("taichi", "mobilevlm", "u-deepsc", "t-deepsc", "deepsc-vqa", "taichi-separate"))
        + tuple(Curve("taichi-separate", "easy_vqa", "test", "awgn",
                      ("--checkpoint", f"checkpoints/variants/taichi-separate-s{k}")) for k in (1, 2, 8))
        + tuple(Curve("bits-taichi", "easy_vqa", "test", "awgn",
                      ("--modulation", m, "--image-bytes", str(b)))
                for m in ("16qam", "qpsk") for b in (1024, 1536)),
        kind="uses", snr=("0", "5", "10"), panels=("snr_db",)),
}


def run_experiment(exp: Experiment, *, out_dir: Path, max_samples: int | None, batch_size: int,
                   seed: int, device: str, snr: list[str] | None = None,
                   progress: bool = True) -> tuple[Path, Path]:
    """Run (or resume) every curve of ``exp``; write ``<out_dir>/<name>.csv`` and ``.png``."""
    grid = list(snr or exp.snr)
    max_samples = max_samples or exp.max_samples
    curve_dir = out_dir / "curves"
    frames, commands = [], {}
    for c in tqdm(exp.curves, desc=exp.name, disable=not progress, dynamic_ncols=True):
        out = curve_dir / f"{c.key}_n{max_samples}.csv"      # budgets never share a file
        argv = c.argv(grid, out, max_samples, batch_size, seed, device)
        rc = snr_sweep.main(argv)
        if rc != 0:
            raise RuntimeError(f"curve {c.key} failed (exit {rc}): python -m simulations.snr_sweep "
                               + " ".join(argv))
        df = load_results(out)
        wanted = {float(x) for x in snr_sweep.parse_snr(grid)}
        frames.append(df[df["snr_db"].isin(wanted)])
        commands[c.key] = "python -m simulations.snr_sweep " + " ".join(argv)
    data = pd.concat(frames, ignore_index=True)
    csv = out_dir / f"{exp.name}.csv"
    atomic_write_text(csv, data.to_csv(index=False))
    atomic_write_text(out_dir / f"{exp.name}.json", json.dumps(
        {"experiment": exp.name, "title": exp.title, "max_samples": max_samples, "seed": seed,
         "snr": grid, "curves": commands}, indent=1) + "\n")
    if exp.kind == "table":
        atomic_write_text(out_dir / f"{exp.name}.md", table_markdown(exp, data))
    png = save_figure(draw(exp, data), out_dir / f"{exp.name}.png")
    return csv, png


def draw(exp: Experiment, data: pd.DataFrame) -> Figure:
    """The figure of ``exp`` from its assembled rows (also used by ``notebooks/figures.ipynb``)."""
    if exp.kind == "table":
        return _table_figure(data, exp)
    if exp.kind == "uses":
        return _uses_figure(data, exp.title)
    return plot_panels(data, panel_keys=exp.panels, title=exp.title)


_SUBSETS = {"accuracy": "", "accuracy_hr": ", HR-only questions", "accuracy_lr": ", other questions"}


def _table_rows(exp: Experiment, data: pd.DataFrame):
    """Accuracy rows labelled by column (dataset (split)[, question subset]), systems, columns."""
    split = {c.dataset: c.split for c in exp.curves}
    acc = data[data["metric"].isin(list(_SUBSETS))]
    acc = acc.assign(set=acc["dataset"] + " (" + acc["dataset"].map(split) + ")"
                     + acc["metric"].map(_SUBSETS))
    systems = list(dict.fromkeys(c.system for c in exp.curves))
    cols = []
    for c in dict.fromkeys(f"{c.dataset} ({c.split})" for c in exp.curves):
        cols += [c + sub for sub in _SUBSETS.values() if (acc["set"] == c + sub).any()]
    return acc, systems, cols


def _cell(acc: pd.DataFrame, system: str, col: str):
    r = acc[(acc["system"] == system) & (acc["set"] == col)]
    return (r["value"].iloc[0], r["ci_low"].iloc[0], r["ci_high"].iloc[0]) if len(r) else None


def table_markdown(exp: Experiment, data: pd.DataFrame) -> str:
    """``| system | dataset (split) ... |`` with accuracy % [95% CI] per cell; CLEVR-style data
    also split into the questions that need the HR image and the others."""
    acc, systems, cols = _table_rows(exp, data)
    lines = ["| system | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for s in systems:
        cells = []
        for col in cols:
            c = _cell(acc, s, col)
            cells.append(f"{100 * c[0]:.1f} [{100 * c[1]:.1f}, {100 * c[2]:.1f}]" if c else "n/a")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return f"{exp.title} (accuracy %, 95% Wilson CI)\n\n" + "\n".join(lines) + "\n"


def _table_figure(data: pd.DataFrame, exp: Experiment) -> Figure:
    """Grouped bars with 95% CI whiskers."""
    acc, systems, sets = _table_rows(exp, data)
    fig = Figure(figsize=(2.2 + 1.9 * len(sets), 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    w = 0.8 / max(1, len(systems))
    for i, s in enumerate(systems):
        cells = [_cell(acc, s, d) or (np.nan, np.nan, np.nan) for d in sets]
        ys = np.array([c[0] for c in cells])
        err = np.nan_to_num([[c[0] - c[1] for c in cells], [c[2] - c[0] for c in cells]])
        ax.bar(np.arange(len(sets)) + (i - (len(systems) - 1) / 2) * w, ys, w, yerr=err,
               capsize=3, label=s)
    ax.set_xticks(np.arange(len(sets)), [t.replace(" (", "\n(") for t in sets], fontsize=8)
    ax.set_ylabel("Accuracy (error-free channel)")
    ax.set_ylim(0, 1)
    ax.grid(True, axis="y", alpha=0.4)
    ax.legend(fontsize=9, frameon=False)
    ax.set_title(exp.title, fontsize=11)
    return fig


def _uses_figure(data: pd.DataFrame, title: str) -> Figure:
    """Accuracy vs channel uses per sample (log x), one panel per SNR, 95% CI whiskers."""
    acc = data[data["metric"] == "accuracy"]
    snrs = sorted(acc["snr_db"].unique())
    fig = Figure(figsize=(4.4 * len(snrs) + 0.4, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(snrs), squeeze=False)[0]
    names = sorted(acc["system"].unique())
    markers = dict(zip(names, "osD^vP*X"))
    for ax, snr in zip(axes, snrs):
        pts = acc[acc["snr_db"] == snr].sort_values("channel_uses_per_sample")
        for s in names:
            r = pts[pts["system"] == s]
            if r.empty:
                continue
            x, y = r["channel_uses_per_sample"].to_numpy(), r["value"].to_numpy()
            ax.errorbar(x, y, yerr=[y - r["ci_low"].to_numpy(), r["ci_high"].to_numpy() - y],
                        marker=markers[s], linestyle="-" if len(r) > 1 else "none", capsize=3,
                        label=s)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.margins(x=0.15)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("channel uses per sample")
        ax.set_ylabel("Accuracy")
        ax.set_title(f"SNR = {snr:g} dB", fontsize=10)
        ax.grid(True, which="both", alpha=0.35)
    found: dict[str, object] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            found.setdefault(lab, h)
    fig.legend(list(found.values()), list(found), loc="outside lower center",
               ncol=min(4, len(found)), fontsize=9, frameon=False)
    fig.suptitle(title, fontsize=12)
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulations.figures", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="+", metavar="NAME",
                   help=f"experiments to run: {', '.join(EXPERIMENTS)}, or all")
    p.add_argument("--max-samples", type=int, default=None,
                   help="questions per SNR point (Monte-Carlo budget; default 200, table3 5000)")
    p.add_argument("--batch-size", type=int, default=100, help="questions per batch (default 100)")
    p.add_argument("--snr", nargs="+", default=None, metavar="DB",
                   help="override the SNR grid in dB (values or start:stop:step)")
    p.add_argument("--seed", type=int, default=0, help="fixes data, noise and fading draws")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--out-dir", default="results", help="where <name>.csv/.png and curves/ go")
    p.add_argument("--no-progress", action="store_true")
    ns = p.parse_args(argv)
    names = list(EXPERIMENTS) if ns.names == ["all"] else ns.names
    try:
        bad = [n for n in names if n not in EXPERIMENTS]
        if bad:
            raise ValueError(f"unknown experiment(s) {bad}; valid: {', '.join(EXPERIMENTS)}, all")
        if (ns.max_samples is not None and ns.max_samples < 1) or ns.batch_size < 1:
            raise ValueError("--max-samples and --batch-size must be >= 1")
        if ns.snr is not None:
            snr_sweep.parse_snr(ns.snr)
        for n in names:
            csv, png = run_experiment(EXPERIMENTS[n], out_dir=Path(ns.out_dir),
                                      max_samples=ns.max_samples, batch_size=ns.batch_size,
                                      seed=ns.seed, device=ns.device, snr=ns.snr,
                                      progress=not ns.no_progress)
            print(f"{n}: {csv} {png}")
    except (ValueError, RuntimeError, OSError) as e:
        print(f"simulations.figures: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
