"""simulations.figures: curves through the engine, assembled files, tables, bad input."""
from pathlib import Path

import pandas as pd
import pytest

from simulations import figures
from simulations.figures import Curve, Experiment, run_experiment
from simulations.plot import plot_panels

SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints" / "taichi-tiny"
pytestmark = pytest.mark.skipif(not (SHIPPED / "config.json").exists(),
                                reason="shipped checkpoint missing")


def test_every_experiment_names_registered_systems():
    from simulations import systems
    assert set(figures.EXPERIMENTS) == {"fig9", "fig10", "fig11", "fig12", "table3", "channel_uses"}
    for exp in figures.EXPERIMENTS.values():
        for c in exp.curves:
            assert c.system in systems.names(), (exp.name, c.system)
    # equal channel-use budgets: fig9's token systems all spend TaiChi's 336 symbols
    assert {c.system for c in figures.EXPERIMENTS["fig9"].curves} == {
        "taichi", "u-deepsc", "t-deepsc", "deepsc-vqa", "deepsc"}


def test_snr_experiment_writes_csv_png_and_commands_and_resumes(tmp_path):
    exp = Experiment("mini", "mini", (Curve("taichi", "easy_vqa", "test", "awgn"),
                                      Curve("taichi", "easy_vqa", "test", "rayleigh")), snr=("0", "10"))
    csv, png = run_experiment(exp, out_dir=tmp_path, max_samples=6, batch_size=6, seed=0,
                              device="cpu", progress=False)
    df = pd.read_csv(csv)
    assert len(df) == 4 and set(df["channel"]) == {"awgn", "rayleigh"}
    assert (df["channel_uses_per_sample"] == 336).all() and png.stat().st_size > 10_000
    cmds = (tmp_path / "mini.json").read_text()
    assert "python -m simulations.snr_sweep --system taichi" in cmds
    first = csv.read_bytes()
    run_experiment(exp, out_dir=tmp_path, max_samples=6, batch_size=6, seed=0, device="cpu",
                   progress=False)                                   # resumed: nothing recomputed
    assert csv.read_bytes() == first


def test_table_experiment_writes_a_markdown_table_with_intervals(tmp_path):
    exp = Experiment("t", "T", (Curve("taichi", "easy_vqa", "test", "none"),
                                Curve("taichi", "synthetic_sentiment", "val", "none")),
                     kind="table", snr=("0",))
    run_experiment(exp, out_dir=tmp_path, max_samples=5, batch_size=5, seed=0, device="cpu",
                   progress=False)
    md = (tmp_path / "t.md").read_text()
    assert "| taichi |" in md and md.count("[") == 2
    assert (tmp_path / "t.png").exists()


def test_plot_panels_one_subplot_per_dataset_and_channel():
    rows = [dict(system=s, channel=c, dataset=d, snr_db=x, metric="accuracy", value=0.5,
                 ci_low=0.4, ci_high=0.6, channel_uses_per_sample=336)
            for s in ("a", "b") for c in ("awgn", "rayleigh") for d in ("d1", "d2") for x in (0, 5)]
    fig = plot_panels(pd.DataFrame(rows))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 4 and all(len(ax.lines) == 2 for ax in visible)
    assert sorted(t.get_text() for t in fig.legends[0].texts) == ["a (336 ch. uses)", "b (336 ch. uses)"]


def test_cli_rejects_unknown_experiments(capsys):
    assert figures.main(["fig99"]) == 2
    assert "unknown experiment" in capsys.readouterr().err


def test_figures_notebook_redraws_from_csvs_only(tmp_path, monkeypatch):
    import json
    import sys
    rows = [dict(system=s, task="vqa", dataset=d, channel=c, snr_db=x, metric="accuracy",
                 value=0.5, ci_low=0.4, ci_high=0.6, num_samples=10, num_errors=5, num_trials=10,
                 channel_uses_per_sample=336, seed=0, config_id="x")
            for s in ("taichi-joint", "taichi-separate") for d in ("clevr_gen", "easy_vqa")
            for c in ("awgn", "rayleigh") for x in (0, 5)]
    pd.DataFrame(rows).to_csv(tmp_path / "fig12.csv", index=False)
    nb = json.loads((Path(__file__).resolve().parents[2] / "notebooks" / "figures.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] for c in code)
    monkeypatch.setenv("TOKCOM_RESULTS_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "path", list(sys.path))
    ns: dict = {}
    for i, cell in enumerate(code):
        exec(compile("".join(cell["source"]), f"figures.ipynb[{i}]", "exec"), ns)
    assert sorted(ns["data"]) == ["fig12"]
    assert len([ax for ax in ns["figs"]["fig12"].axes if ax.get_visible()]) == 4
