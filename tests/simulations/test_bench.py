"""Benchmarks run (tiny budgets) and report ratios against their baselines."""
import pandas as pd

from simulations.bench import main


def test_bench_smoke(tmp_path, capsys):
    out = tmp_path / "b.csv"
    assert main(["--channel-samples", "65536", "--coding", "none", "--snr", "0", "10",
                 "--batch-size", "20", "--batches", "1", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert set(df.benchmark) == {"channel", "sweep"}
    base = df[df.variant.str.contains("baseline|bound")]
    assert (base.ratio_vs_baseline == 1.0).all() and (df.seconds > 0).all()
    assert "memory copy" in capsys.readouterr().out
