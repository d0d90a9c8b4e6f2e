"""The sweep CLI: defaults, output files, bad input handling, reproducibility."""
import json

import pandas as pd
import pytest

from simulations.snr_sweep import main, parse_snr

FAST = ["--system", "bits", "--coding", "none", "--modulation", "qpsk", "--k", "64",
        "--batch-size", "100", "--max-samples", "200", "--no-progress"]


def test_parse_snr_ranges_and_lists():
    assert parse_snr(["0:10:2"]) == [0, 2, 4, 6, 8, 10]
    assert parse_snr(["-5", "0:1:0.5,3"]) == [-5, 0, 0.5, 1, 3]
    for bad in (["nan"], ["0:10"], ["5:0:1"], ["0:10:0"], ["x"], [","], ["1", "1"]):
        with pytest.raises(ValueError):
            parse_snr(bad)


def test_negative_snr_values_on_the_command_line(tmp_path):
    out = tmp_path / "neg.csv"
    assert main(FAST + ["--snr", "-5:5:5", "-8", "--out", str(out), "--no-plot"]) == 0
    assert set(pd.read_csv(out).snr_db) == {-8.0, -5.0, 0.0, 5.0}


def test_sweep_writes_csv_sidecar_png(tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert main(FAST + ["--channel", "rayleigh", "--snr", "0:10:5", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    for col in ["system", "task", "dataset", "channel", "snr_db", "metric", "value", "ci_low",
                "ci_high", "num_samples", "num_errors", "channel_uses_per_sample", "seed"]:
        assert col in df.columns
    assert sorted(df.metric.unique()) == ["ber", "bler"]
    assert set(df.snr_db) == {0.0, 5.0, 10.0}
    assert (df.channel_uses_per_sample == 32).all()
    ber = df[df.metric == "ber"].sort_values("snr_db").value.tolist()
    assert ber[0] > ber[1] > ber[2]                        # falls with SNR
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["config"]["channel"]["name"] == "rayleigh"
    assert "torch" in meta["environment"]["packages"]
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_command_same_bytes(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    args = FAST + ["--channel", "awgn", "--snr", "0", "4", "--no-plot", "--seed", "3"]
    assert main(args + ["--out", str(a)]) == 0
    assert main(args + ["--out", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()
    # re-running on a finished file adds nothing and changes nothing
    assert main(args + ["--out", str(a)]) == 0
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("extra,msg", [
    (["--channel", "rayleig"], "unknown channel"),
    (["--system", "nope"], "unknown system"),
    (["--snr", "nan"], "finite"),
    (["--snr", "5:0:1"], "step"),
    (["--min-samples", "-3"], "min_samples"),
    (["--channel", "awgn", "--k-factor-db", "3"], "does not apply"),
    (["--device", "cuda:7"], "device"),
])
def test_bad_input_one_line_exit_2(tmp_path, capsys, extra, msg):
    assert main(FAST + ["--out", str(tmp_path / "x.csv"), "--no-plot"] + extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and msg in err[0] and "Traceback" not in err[0]


def test_negative_sizes_rejected_by_argparse(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(FAST + ["--batch-size", "-1", "--out", str(tmp_path / "x.csv")])
    assert e.value.code == 2


def test_different_configuration_never_clobbers(tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert main(FAST + ["--snr", "0", "--out", str(out), "--no-plot"]) == 0
    before = out.read_bytes()
    assert main(FAST + ["--snr", "0", "--out", str(out), "--no-plot", "--seed", "9"]) == 2
    assert "different configuration" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_unwritable_output(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(FAST + ["--snr", "0", "--out", str(blocker / "r.csv"), "--no-plot"]) == 2
    assert "output folder" in capsys.readouterr().err


def test_adding_snr_points_appends(tmp_path):
    out = tmp_path / "r.csv"
    assert main(FAST + ["--snr", "0", "--out", str(out), "--no-plot"]) == 0
    assert main(FAST + ["--snr", "0", "2", "--out", str(out), "--no-plot"]) == 0
    assert set(pd.read_csv(out).snr_db) == {0.0, 2.0}


def test_help_speaks_units(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "Es/N0" in text and "dB" in text and "symbols" in text
