"""Publication-quality curves from a sweep results CSV.

The sweep engine writes one row per (SNR point, metric) with the columns of
:data:`simulations.results.COLUMNS`; this module draws them::

    python -m simulations.plot results/default_sweep.csv                  # -> results/default_sweep.png
    python -m simulations.plot results/X.csv --out fig.pdf --metric ber bler --title "AWGN"

or, from Python / a notebook::

    from simulations.plot import load_results, plot_results, save_figure
    fig = plot_results(load_results("results/X.csv"), metrics=["ber", "accuracy"])
    save_figure(fig, "results/X.png")

Layout: one subplot per metric, side by side, sharing one legend below them.
One line per (system, channel) -- plus dataset / task when the file holds more
than one of them, and channel uses per sample when one system appears with
several. A line's colour is its system and its line style and marker its
channel, the same in every subplot. The x axis is the SNR (Es/N0 in dB).

- Error-rate metrics (:data:`ERROR_RATE_METRICS`: BER, BLER, SER, ...) use a
  logarithmic y axis; the 95% confidence interval (``ci_low`` .. ``ci_high``)
  is a shaded band. A point with **zero errors** has value 0, which a log axis
  cannot show: it is dropped from the line (the line joins its neighbours) and
  its 95% *upper* confidence bound is drawn instead as a hollow downward
  triangle in the line's colour ("the true rate is below this"); the legend
  explains the symbol. Band segments with a non-positive lower bound are left
  out for the same reason.
- ``accuracy`` uses a linear y axis from 0 to 1 with the CI as a shaded band.
- Any other metric is drawn on a linear, autoscaled axis.

Rows whose ``value`` is missing (NaN: no trials at that point) are skipped.
When a subplot's lines differ in ``channel_uses_per_sample`` the labels say
so, e.g. ``"taichi / rayleigh (64 ch. uses)"``.

Figures are built on :class:`matplotlib.figure.Figure` with an Agg canvas,
never through :mod:`matplotlib.pyplot`, so the module touches no global
backend state: it works headless and inside notebooks (where the returned
figure displays inline as the last expression of a cell).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

__all__ = ["REQUIRED_COLUMNS", "ERROR_RATE_METRICS", "BOUNDED_METRICS", "load_results",
           "plot_results", "plot_panels", "save_figure", "main"]

#: Columns a results file must have to be plotted; other columns are optional
#: (``task``, ``dataset``, ``channel_uses_per_sample`` refine the labels) or ignored.
REQUIRED_COLUMNS: tuple[str, ...] = ("system", "channel", "snr_db", "metric", "value",
                                     "ci_low", "ci_high")
#: Metrics drawn on a log y axis (lower is better).
ERROR_RATE_METRICS: frozenset[str] = frozenset({"ber", "bler", "ser", "fer", "wer", "per"})
#: Metrics drawn on a linear y axis from 0 to 1 (higher is better).
BOUNDED_METRICS: frozenset[str] = frozenset({"accuracy"})

_NUMERIC = ("snr_db", "value", "ci_low", "ci_high")
_OPTIONAL_KEYS = ("dataset", "task")
_USES = "channel_uses_per_sample"
_METRIC_ORDER = ("ber", "ser", "bler", "fer", "wer", "per", "accuracy")
_LABELS = {"ber": "BER", "bler": "BLER", "ser": "SER", "fer": "FER", "wer": "WER",
           "per": "PER", "accuracy": "Accuracy"}
_XLABEL = r"SNR = $E_s/N_0$ [dB]"
_LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (3, 1)))
_MARKERS = ("o", "s", "^", "D", "P", "X", "*", "h", "<", ">")
_ZERO_LABEL = "0 errors: 95% upper bound"
_SUPPORTED_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}


# --------------------------------------------------------------------------- loading
def _check_columns(df: pd.DataFrame, where: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        have = ", ".join(map(str, df.columns[:12])) + (", ..." if len(df.columns) > 12 else "")
        raise ValueError(f"{where} lacks required column(s) {', '.join(missing)} "
                         f"(found: {have or 'none'})")


def _normalise(df: pd.DataFrame, where: str) -> pd.DataFrame:
    """Check columns, coerce numbers, lower-case metric names; return a copy."""
    _check_columns(df, where)
    df = df.copy()
    if _USES in df.columns:  # optional: only refines labels, so unreadable entries -> NaN
        df[_USES] = pd.to_numeric(df[_USES], errors="coerce").astype(float)
    for col in _NUMERIC:
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() & df[col].notna()
        if bad.any():
            example = df.loc[bad, col].iloc[0]
            raise ValueError(f"{where}: column {col!r} has non-numeric value {example!r}")
        df[col] = num.astype(float)
    if df["snr_db"].isna().any():
        raise ValueError(f"{where}: column 'snr_db' has missing values")
    for col in ("system", "channel", "metric") + tuple(c for c in _OPTIONAL_KEYS if c in df):
        df[col] = df[col].fillna("?").astype(str).str.strip()
    df["metric"] = df["metric"].str.lower()
    return df


def load_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read a results CSV and check it can be plotted.

    Raises:
        FileNotFoundError: ``path`` does not exist (the message names it).
        ValueError: the file is not a readable CSV, is empty, lacks one of
            :data:`REQUIRED_COLUMNS`, or has non-numeric SNR/value/CI entries;
            the message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"results file {path} does not exist")
    if not path.is_file():
        raise ValueError(f"results file {path} is not a regular file")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ValueError(f"results file {path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        reason = " ".join(str(e).split())
        raise ValueError(f"results file {path} is not a valid CSV ({reason})") from None
    df = _normalise(df, f"results file {path}")
    if df.empty:
        raise ValueError(f"results file {path} has a header but no rows")
    return df


# --------------------------------------------------------------------------- plotting
def _metric_order(metric: str) -> tuple[int, str]:
    return (_METRIC_ORDER.index(metric) if metric in _METRIC_ORDER else len(_METRIC_ORDER),
            metric)


def _fmt_uses(u: float) -> str:
    return str(int(u)) if float(u).is_integer() else f"{u:g}"


def _select_metrics(df: pd.DataFrame, metrics: Sequence[str] | None) -> list[str]:
    available = sorted(set(df["metric"]), key=_metric_order)
    if metrics is None:
        return available
    if isinstance(metrics, str):
        metrics = [metrics]
    chosen: list[str] = []
    for m in metrics:
        m = str(m).strip().lower()
        if m not in available:
            raise ValueError(f"unknown metric {m!r}: the results hold "
                             f"{', '.join(available) or 'no metrics'}")
        if m not in chosen:
            chosen.append(m)
    if not chosen:
        raise ValueError("no metrics selected")
    return chosen


def _group_keys(df: pd.DataFrame) -> list[str]:
    """Columns that identify one curve: system, channel, and whatever else varies."""
    keys = ["system", "channel"]
    keys += [c for c in _OPTIONAL_KEYS if c in df and df[c].nunique() > 1]
    if _USES in df and df[_USES].notna().all():
        # one system measured at several channel-use budgets -> several curves
        per_group = df.groupby(keys)[_USES].nunique()
        if (per_group > 1).any():
            keys.append(_USES)
    return keys


def _as_tuple(group) -> tuple:
    return group if isinstance(group, tuple) else (group,)


def _styles(groups: list[tuple]) -> dict[tuple, dict]:
    """Colour per system, line style + marker per channel (consistent across subplots)."""
    from matplotlib import colormaps

    palette = list(colormaps["tab10"].colors)
    systems = sorted({g[0] for g in groups})
    channels = sorted({g[1] for g in groups})
    by_sys_chan = len({g[:2] for g in groups}) == len(groups)
    styles = {}
    for i, g in enumerate(groups):
        if by_sys_chan:
            c, s = systems.index(g[0]), channels.index(g[1])
            styles[g] = {"color": palette[c % len(palette)],
                         "linestyle": _LINESTYLES[s % len(_LINESTYLES)],
                         "marker": _MARKERS[(s + c // len(palette)) % len(_MARKERS)]}
        else:  # extra dimensions: one distinct style per curve
            styles[g] = {"color": palette[i % len(palette)],
                         "linestyle": _LINESTYLES[(i // len(palette)) % len(_LINESTYLES)],
                         "marker": _MARKERS[i % len(_MARKERS)]}
    return styles


def _labels(data: pd.DataFrame, keys: list[str], metrics: list[str]) -> dict[tuple, str]:
    """Legend label per curve; channel uses appended when a subplot's curves differ in it."""
    show_uses = _USES in data and any(
        data.loc[data["metric"] == m, _USES].dropna().nunique() > 1 for m in metrics)
    labels = {}
    for group, rows in data.groupby(keys, sort=True):
        group = _as_tuple(group)
        label = " / ".join(str(v) for k, v in zip(keys, group) if k != _USES)
        if show_uses and rows[_USES].notna().any():
            label += f" ({_fmt_uses(rows[_USES].dropna().iloc[0])} ch. uses)"
        labels[group] = label
    return labels


def _curve(rows: pd.DataFrame, label: str) -> pd.DataFrame:
    """Sorted by SNR; duplicate SNR points averaged (with a warning)."""
    rows = rows[["snr_db", "value", "ci_low", "ci_high"]]
    if rows["snr_db"].duplicated().any():
        warnings.warn(f"{label}: several rows per SNR point; values averaged "
                      "(the CI band is then only indicative)", stacklevel=4)
        rows = rows.groupby("snr_db", as_index=False).mean()
    return rows.sort_values("snr_db", kind="mergesort")


def _draw_metric(ax, data: pd.DataFrame, metric: str, keys: list[str],
                 styles: dict[tuple, dict], labels: dict[tuple, str]) -> bool:
    """Draw one subplot; return True if zero-error markers were drawn."""
    log = metric in ERROR_RATE_METRICS
    any_zero = False
    for group, rows in data[data["metric"] == metric].groupby(keys, sort=True):
        group = _as_tuple(group)
        style, label = styles[group], labels[group]
        curve = _curve(rows, label)
        x = curve["snr_db"].to_numpy()
        y = curve["value"].to_numpy()
        lo = curve["ci_low"].to_numpy()
        hi = curve["ci_high"].to_numpy()
        finite = np.isfinite(y)
        draw = finite & (y > 0) if log else finite
        ax.plot(x[draw], y[draw], label=label, color=style["color"],
                linestyle=style["linestyle"], marker=style["marker"], markersize=5,
                linewidth=1.6, zorder=3)
        band = draw & np.isfinite(lo) & np.isfinite(hi)
        if log:
            band &= lo > 0
        if band.any():
            ax.fill_between(x, np.where(band, lo, np.nan), np.where(band, hi, np.nan),
                            where=band, color=style["color"], alpha=0.18, linewidth=0,
                            zorder=2)
        if log:
            zero = finite & (y <= 0) & np.isfinite(hi) & (hi > 0)
            if zero.any():
                any_zero = True
                ax.scatter(x[zero], hi[zero], marker="v", s=36, facecolors="none",
                           edgecolors=[style["color"]], linewidths=1.3, zorder=4)
    snrs = data["snr_db"].to_numpy()
    if np.all(np.mod(snrs, 1) == 0):  # integer dB grid -> integer ticks
        ax.xaxis.set_major_locator(MaxNLocator(nbins="auto", integer=True))
    ax.set_xlabel(_XLABEL, fontsize=11)
    ax.set_ylabel(_LABELS.get(metric, metric), fontsize=11)
    ax.tick_params(labelsize=9.5)
    ax.grid(True, which="major", linestyle="-", linewidth=0.6, alpha=0.5)
    if log:
        ax.set_yscale("log")
        ax.grid(True, which="minor", linestyle=":", linewidth=0.5, alpha=0.35)
    elif metric in BOUNDED_METRICS:
        ax.set_ylim(-0.02, 1.02)
    return any_zero


def plot_results(df: pd.DataFrame, *, metrics: list[str] | None = None,
                 title: str | None = None) -> Figure:
    """Draw SNR curves of a results table, one subplot per metric.

    Args:
        df: rows as written by the sweep engine (see :func:`load_results`);
            needs :data:`REQUIRED_COLUMNS`, other columns are optional.
        metrics: metrics to draw, in this order (case-insensitive); default:
            every metric in ``df`` (BER, SER, BLER, ..., accuracy, others).
        title: figure title (``suptitle``).

    Returns:
        A :class:`matplotlib.figure.Figure` with an Agg canvas attached; save
        it with :func:`save_figure`. Each axes holds exactly one line
        (``ax.lines``) per curve; CI bands and zero-error markers are
        collections. Zero-error points on log axes are drawn as their 95%
        upper bound (hollow downward triangle), see the module docstring.

    Raises:
        ValueError: missing columns, non-numeric entries, no rows, or a
            requested metric that is not in ``df``.
    """
    data = _normalise(df, "results")
    chosen = _select_metrics(data, metrics)
    data = data[data["metric"].isin(chosen)]
    if data.empty:
        raise ValueError("no results to plot (empty table)")
    keys = _group_keys(data)
    labels = _labels(data, keys, chosen)
    groups = sorted(labels, key=lambda g: tuple(str(v) for v in g))
    styles = _styles(groups)
    has_zero = bool(((data["value"] <= 0) & data["metric"].isin(ERROR_RATE_METRICS)).any())

    n = len(chosen)
    width = 4.6 * n + 0.4
    n_entries = len(groups) + int(has_zero)
    longest = max([len(_ZERO_LABEL) if has_zero else 0] + [len(v) for v in labels.values()])
    col_width = 0.75 + 0.068 * longest  # inches per legend column at 9 pt
    ncol = max(1, min(n_entries, int(width // col_width)))
    legend_rows = math.ceil(n_entries / ncol)
    fig = Figure(figsize=(width, 3.5 + 0.2 * legend_rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, squeeze=False)[0]
    any_zero = False
    for ax, metric in zip(axes, chosen):
        any_zero |= _draw_metric(ax, data, metric, keys, styles, labels)

    # one shared legend below the subplots, in curve order, so it never covers a curve
    found: dict[str, object] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            found.setdefault(lab, h)
    handles = [found[labels[g]] for g in groups if labels[g] in found]
    names = [labels[g] for g in groups if labels[g] in found]
    if any_zero:
        handles.append(Line2D([], [], linestyle="none", marker="v", markersize=6,
                              markerfacecolor="none", markeredgecolor="0.3"))
        names.append(_ZERO_LABEL)
    if handles:
        fig.legend(handles, names, loc="outside lower center", ncol=min(len(handles), ncol),
                   fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def plot_panels(df: pd.DataFrame, *, panel_keys: Sequence[str] = ("dataset", "channel"),
                metric: str = "accuracy", title: str | None = None, ncols: int = 2) -> Figure:
    """One subplot per value of ``panel_keys`` (e.g. dataset x channel), one line per system.

    Colour = system (the same in every panel), line style = channel; the legend
    names each system once with its channel uses per sample. Used by
    :mod:`simulations.figures` for the design's multi-panel figures.
    """
    data = _normalise(df, "results")
    data = data[data["metric"] == metric]
    if data.empty:
        raise ValueError(f"no {metric!r} rows to plot")
    keys = ["system", "channel"]
    panel_keys = [k for k in panel_keys if k in data]
    panels = sorted({_as_tuple(g) for g in data.groupby(panel_keys).groups}, key=str)
    groups = sorted({(a, b) for a, b in zip(data["system"], data["channel"])})
    styles = _styles(groups)
    labels = {}
    for g in groups:
        rows = data[(data["system"] == g[0]) & (data["channel"] == g[1])]
        uses = rows[_USES].dropna() if _USES in rows else pd.Series(dtype=float)
        labels[g] = g[0] + (f" ({_fmt_uses(uses.iloc[0])} ch. uses)" if len(uses) and uses.nunique() == 1 else "")
    n = len(panels)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.6 * ncols + 0.4, 3.3 * nrows + 0.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, panel in zip(axes, panels):
        mask = np.ones(len(data), dtype=bool)
        for k, v in zip(panel_keys, panel):
            mask &= (data[k] == v).to_numpy()
        _draw_metric(ax, data[mask], metric, keys, styles, labels)
        ax.set_title(" / ".join(str(v) for v in panel), fontsize=10)
    for ax in axes[n:]:
        ax.set_visible(False)
    found: dict[str, object] = {}
    for ax in axes[:n]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            found.setdefault(lab, h)
    if found:
        fig.legend(list(found.values()), list(found), loc="outside lower center",
                   ncol=min(len(found), 3), fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


# --------------------------------------------------------------------------- saving
def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = 200) -> Path:
    """Write ``fig`` to ``path`` atomically (temp file in the same folder + ``os.replace``).

    The format follows the suffix: ``.png`` (raster, ``dpi``), ``.pdf`` or
    ``.svg`` (vector). The folder is created if missing. Returns the path.

    Raises:
        ValueError: unsupported suffix.
        OSError: the folder or file cannot be written.
    """
    path = Path(path)
    fmt = _SUPPORTED_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot write {path}: use a .png, .pdf or .svg file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.05)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# --------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m simulations.plot",
        description="Draw SNR curves (one subplot per metric) from a sweep results CSV.")
    p.add_argument("results", help="results CSV written by the sweep (e.g. results/X.csv)")
    p.add_argument("--out", help="output figure (.png, .pdf or .svg); "
                                 "default: the CSV path with .png")
    p.add_argument("--metric", nargs="+", action="extend", dest="metrics", metavar="METRIC",
                   help="metrics to draw, in order (default: all in the file)")
    p.add_argument("--title", help="figure title")
    p.add_argument("--dpi", type=int, default=200, help="PNG resolution (default 200)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 2 bad input).

    Expected failures (missing or malformed file, unknown metric, unwritable
    output) print one ``error:`` line on stderr; argparse usage errors exit 2
    the usual way.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    src = Path(args.results)
    try:
        df = load_results(src)
        out = Path(args.out) if args.out else src.with_suffix(".png")
        if out.resolve() == src.resolve():
            raise ValueError(f"output {out} would overwrite the results file")
        if out.suffix.lower() not in _SUPPORTED_FORMATS:
            raise ValueError(f"cannot write {out}: use a .png, .pdf or .svg file name")
        fig = plot_results(df, metrics=args.metrics, title=args.title)
        save_figure(fig, out, dpi=args.dpi)
    except (OSError, ValueError) as e:
        msg = " ".join(str(e).split()) or type(e).__name__
        if isinstance(e, OSError) and not isinstance(e, FileNotFoundError) and e.filename:
            msg = f"{e.strerror or msg}: {e.filename}"
        print(f"{parser.prog}: error: {msg}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
