"""simulations.codec_fidelity: received token states against the sent ones."""
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from simulations.codec_fidelity import main
from tokcom.train import main as train_main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tokcom"))
from conftest import small_config  # noqa: E402


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    root = tmp_path_factory.mktemp("vlm")
    (root / "c.json").write_text(json.dumps(small_config(max_prompt_tokens=128).to_dict()))
    out = root / "ck"
    assert train_main(["--preset", str(root / "c.json"), "--stages", "1a", "--steps", "1a=1",
                       "--out", str(out), "--mix", "clevr_gen:1", "--num-images", "8",
                       "--batch-size", "2", "--eval-examples", "2", "--no-progress"]) == 0
    return out


def test_an_identity_codec_over_the_error_free_channel_is_exact(vlm, tmp_path):
    out = tmp_path / "f.csv"
    assert main(["--system", "taichi-vlm", "--checkpoint", str(vlm), "--dataset", "clevr_gen",
                 "--num-examples", "6", "--batch-size", "4", "--out", str(out)]) == 0
    row = pd.read_csv(out).iloc[0]
    assert row.relative_error < 1e-4 and row.cosine > 0.9999
    assert row.num_states == 6 * 128 and abs(row.received_norm - row.state_norm) < 1e-3 * row.state_norm


def test_the_shipped_codec_gets_closer_as_the_snr_rises(tmp_path):
    out = tmp_path / "f.csv"
    assert main(["--dataset", "easy_vqa", "--channel", "awgn", "--snr", "-5", "20",
                 "--num-examples", "8", "--out", str(out)]) == 0
    df = pd.read_csv(out).set_index("snr_db")
    assert df.state_norm.nunique() == 1                      # the same questions' states at each SNR
    assert df.loc[20.0, "relative_error"] < df.loc[-5.0, "relative_error"]
    assert df.loc[20.0, "cosine"] > df.loc[-5.0, "cosine"]


@pytest.mark.parametrize("bad", [["--snr", "nan", "--channel", "awgn"], ["--num-examples", "0"],
                                 ["--system", "nosuch"]])
def test_bad_input_is_one_line_and_exit_2(bad, capsys, tmp_path):
    out = tmp_path / "f.csv"
    assert main([*bad, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("codec_fidelity: error:") and not out.exists()
