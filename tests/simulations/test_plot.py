"""Tests for simulations.plot: figure structure, CLI exit codes, atomic saving, notebook."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure

from simulations import plot
from simulations.plot import load_results, main, plot_results, save_figure

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "plot_results.ipynb"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SNRS = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
SYSTEMS = {"taichi": 64, "ldpc-qam": 128}
CHANNELS = ["awgn", "rayleigh"]


def _row(system, channel, snr, metric, value, lo, hi, uses, dataset="cifar10", task="recon"):
    return {"system": system, "task": task, "dataset": dataset, "channel": channel,
            "snr_db": snr, "metric": metric, "value": value, "ci_low": lo, "ci_high": hi,
            "num_samples": 100, "num_errors": 0, "num_trials": 1000,
            "channel_uses_per_sample": uses, "seed": 0, "config_id": "abc123",
            "extra_column": "ignored"}


def _error_rows() -> list[dict]:
    rows = []
    for s_i, (system, uses) in enumerate(SYSTEMS.items()):
        for c_i, channel in enumerate(CHANNELS):
            for snr in SNRS:
                for metric, scale in (("ber", 1.0), ("bler", 5.0)):
                    v = min(1.0, scale * 0.2 * 10 ** (-(snr - 3 * c_i + s_i) / 3))
                    rows.append(_row(system, channel, snr, metric, v, v / 2, min(1.0, v * 2), uses))
    # taichi / awgn reaches zero errors at the highest SNR point
    for r in rows:
        if (r["system"], r["channel"], r["snr_db"]) == ("taichi", "awgn", 10.0):
            r.update(value=0.0, ci_low=0.0, ci_high=3e-4, num_errors=0)
    return rows


def _accuracy_rows() -> list[dict]:
    rows = []
    for system, uses in SYSTEMS.items():
        for c_i, channel in enumerate(CHANNELS):
            for snr in SNRS:
                v = 0.1 + 0.8 / (1 + math.exp(-(snr - 4 - 2 * c_i)))
                rows.append(_row(system, channel, snr, "accuracy", v, max(0.0, v - 0.05),
                                 min(1.0, v + 0.05), uses, task="classification"))
    return rows


@pytest.fixture
def error_csv(tmp_path: Path) -> Path:
    path = tmp_path / "errors.csv"
    pd.DataFrame(_error_rows()).to_csv(path, index=False)
    return path


@pytest.fixture
def accuracy_csv(tmp_path: Path) -> Path:
    path = tmp_path / "accuracy.csv"
    pd.DataFrame(_accuracy_rows()).to_csv(path, index=False)
    return path


def _legend_labels(fig: Figure) -> list[str]:
    assert len(fig.legends) == 1
    return [t.get_text() for t in fig.legends[0].get_texts()]


# --------------------------------------------------------------------------- CLI, success
def test_main_writes_png(error_csv: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "figs" / "errors.png"
    assert main([str(error_csv), "--out", str(out), "--title", "test"]) == 0
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert capsys.readouterr().err == ""
    assert not list(out.parent.glob("*.tmp"))


def test_main_default_out_and_metric_option(accuracy_csv: Path) -> None:
    assert main([str(accuracy_csv), "--metric", "accuracy"]) == 0
    assert accuracy_csv.with_suffix(".png").read_bytes().startswith(PNG_MAGIC)


# --------------------------------------------------------------------------- figure structure
def test_error_rate_figure(error_csv: Path) -> None:
    fig = plot_results(load_results(error_csv))
    assert len(fig.axes) == 2
    ber, bler = fig.axes
    assert ber.get_ylabel() == "BER" and bler.get_ylabel() == "BLER"
    assert "SNR" in ber.get_xlabel() and "dB" in ber.get_xlabel()
    n_groups = len(SYSTEMS) * len(CHANNELS)
    for ax in fig.axes:
        assert ax.get_yscale() == "log"
        assert len(ax.lines) == n_groups
        for line in ax.lines:  # nothing non-positive on a log axis
            assert (line.get_ydata() > 0).all()
        assert any(isinstance(c, PolyCollection) for c in ax.collections)  # CI bands
        # the zero-error point: upper bound as a marker instead of a point on the line
        markers = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert len(markers) == 1
        (x, y), = markers[0].get_offsets()
        assert (x, y) == pytest.approx((10.0, 3e-4))
    taichi_awgn = [ln for ln in ber.lines if ln.get_label().startswith("taichi / awgn")][0]
    assert 10.0 not in list(taichi_awgn.get_xdata())
    labels = _legend_labels(fig)
    assert "taichi / rayleigh (64 ch. uses)" in labels
    assert "ldpc-qam / awgn (128 ch. uses)" in labels
    assert plot._ZERO_LABEL in labels
    assert len(labels) == n_groups + 1


def test_accuracy_figure(accuracy_csv: Path) -> None:
    fig = plot_results(load_results(accuracy_csv), title="Accuracy")
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear"
    lo, hi = ax.get_ylim()
    assert lo <= 0.0 and 1.0 <= hi < 1.1
    assert len(ax.lines) == len(SYSTEMS) * len(CHANNELS)
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == len(ax.lines)
    assert plot._ZERO_LABEL not in _legend_labels(fig)
    assert fig._suptitle is not None and fig._suptitle.get_text() == "Accuracy"


def test_mixed_file_metric_order_and_selection(error_csv: Path, accuracy_csv: Path) -> None:
    df = pd.concat([load_results(error_csv), load_results(accuracy_csv)], ignore_index=True)
    fig = plot_results(df)
    assert [ax.get_ylabel() for ax in fig.axes] == ["BER", "BLER", "Accuracy"]
    assert [ax.get_yscale() for ax in fig.axes] == ["log", "log", "linear"]
    fig = plot_results(df, metrics=["Accuracy", "ber"])
    assert [ax.get_ylabel() for ax in fig.axes] == ["Accuracy", "BER"]
    # several tasks in the file: the task joins the label
    assert any("classification" in lab for lab in _legend_labels(fig))


def test_labels_omit_channel_uses_when_equal() -> None:
    df = pd.DataFrame(_error_rows()).assign(channel_uses_per_sample=64)
    labels = _legend_labels(plot_results(df, metrics=["ber"]))
    assert "taichi / awgn" in labels and not any("ch. uses" in lab for lab in labels)


def test_one_curve_per_dataset_when_several() -> None:
    rows = _error_rows()
    df = pd.concat([pd.DataFrame(rows), pd.DataFrame(rows).assign(dataset="imagenet")])
    fig = plot_results(df, metrics=["ber"])
    assert len(fig.axes[0].lines) == 2 * len(SYSTEMS) * len(CHANNELS)
    assert "taichi / awgn / imagenet (64 ch. uses)" in _legend_labels(fig)


def test_missing_values_skipped_and_duplicates_averaged() -> None:
    df = pd.DataFrame(_error_rows())
    df.loc[0, ["value", "ci_low", "ci_high"]] = float("nan")  # a point without trials
    fig = plot_results(df, metrics=["ber"])
    assert len(fig.axes[0].lines) == len(SYSTEMS) * len(CHANNELS)
    dup = pd.concat([df, df.iloc[[5]]])
    with pytest.warns(UserWarning, match="averaged"):
        plot_results(dup, metrics=[df.iloc[5]["metric"]])


def test_plot_results_rejects_bad_tables() -> None:
    df = pd.DataFrame(_error_rows())
    with pytest.raises(ValueError, match="unknown metric 'ser'"):
        plot_results(df, metrics=["ser"])
    with pytest.raises(ValueError, match="ci_high"):
        plot_results(df.drop(columns=["ci_high"]))
    with pytest.raises(ValueError, match="non-numeric"):
        plot_results(df.assign(value="abc"))
    with pytest.raises(ValueError, match="no results"):
        plot_results(df.iloc[:0])


# --------------------------------------------------------------------------- CLI, failures
def _one_line_error(capsys, *needles: str) -> None:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "error:" in err
    for needle in needles:
        assert needle in err, err


def test_missing_file_exit_2(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nope.csv"
    assert main([str(missing)]) == 2
    _one_line_error(capsys, "nope.csv", "does not exist")


def test_missing_columns_exit_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    pd.DataFrame(_error_rows()).drop(columns=["value", "snr_db"]).to_csv(bad, index=False)
    assert main([str(bad), "--out", str(tmp_path / "bad.png")]) == 2
    _one_line_error(capsys, "bad.csv", "snr_db", "value")
    assert not (tmp_path / "bad.png").exists()


@pytest.mark.parametrize("content", [b"a,b\n1,2\n3,4,5,6\n", b'system,channel\n"x,1\n', b"",
                                     b"\xff\xfe\x00binary\x00\xd0\n"])
def test_malformed_csv_exit_2(tmp_path: Path, capsys, content: bytes) -> None:
    bad = tmp_path / "malformed.csv"
    bad.write_bytes(content)
    assert main([str(bad)]) == 2
    _one_line_error(capsys, "malformed.csv")


def test_unknown_metric_exit_2(error_csv: Path, capsys) -> None:
    assert main([str(error_csv), "--metric", "ber", "psnr"]) == 2
    _one_line_error(capsys, "unknown metric 'psnr'", "ber, bler")
    assert not error_csv.with_suffix(".png").exists()


def test_bad_output_suffix_exit_2(error_csv: Path, tmp_path: Path, capsys) -> None:
    assert main([str(error_csv), "--out", str(tmp_path / "fig.jpg")]) == 2
    _one_line_error(capsys, "fig.jpg")
    assert main([str(error_csv), "--out", str(error_csv)]) == 2
    _one_line_error(capsys, "overwrite")


def test_load_results_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent.csv"):
        load_results(tmp_path / "absent.csv")
    bad = tmp_path / "cols.csv"
    bad.write_text("system,channel\nx,awgn\n")
    with pytest.raises(ValueError, match="cols.csv.*metric"):
        load_results(bad)
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(plot.REQUIRED_COLUMNS) + "\n")
    with pytest.raises(ValueError, match="header.csv.*no rows"):
        load_results(header_only)


# --------------------------------------------------------------------------- saving
def test_save_figure_pdf_and_atomic_replace(error_csv: Path, tmp_path: Path,
                                            monkeypatch) -> None:
    fig = plot_results(load_results(error_csv), metrics=["ber"])
    pdf = save_figure(fig, tmp_path / "out" / "fig.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")

    png = tmp_path / "fig.png"
    png.write_bytes(b"old")

    def broken_savefig(fh, **kwargs):
        fh.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken_savefig)
    with pytest.raises(RuntimeError):
        save_figure(fig, png)
    assert png.read_bytes() == b"old"  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["errors.csv", "fig.png", "out"]
    monkeypatch.undo()
    save_figure(fig, png)
    assert png.read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match="png"):
        save_figure(fig, tmp_path / "fig.gif")


# --------------------------------------------------------------------------- notebook
def test_notebook_runs_on_a_results_file(error_csv: Path, monkeypatch) -> None:
    nb = json.loads(NOTEBOOK.read_text())
    assert nb["nbformat"] == 4
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert 'os.environ.get("TOKCOM_RESULTS_CSV", "results/default_sweep.csv")' in \
        "".join(code[0]["source"])

    monkeypatch.setenv("TOKCOM_RESULTS_CSV", str(error_csv))
    monkeypatch.setattr(sys, "path", list(sys.path))  # the notebook may add the repo root
    monkeypatch.chdir(REPO / "notebooks")
    ns: dict = {"__name__": "__main__"}
    for i, cell in enumerate(code):
        exec(compile("".join(cell["source"]), f"{NOTEBOOK.name}[code cell {i}]", "exec"), ns)
    assert ns["results_path"] == error_csv
    fig = ns["fig"]
    assert isinstance(fig, Figure)
    assert [ax.get_ylabel() for ax in fig.axes] == ["BER", "BLER"]
