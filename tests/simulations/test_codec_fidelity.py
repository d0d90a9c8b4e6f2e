"""simulations.codec_fidelity: received token states against the sent ones."""
import json

import pandas as pd
import pytest

from simulations.codec_fidelity import main
from simulations.systems import TAICHI_CHECKPOINTS, repo_path


def test_an_identity_codec_over_the_error_free_channel_is_exact(tmp_path):
    """The committed SFT-stage checkpoint has no trained codec: its states are sent unchanged."""
    vlm = repo_path(TAICHI_CHECKPOINTS["taichi-vlm"])
    prompt = json.loads((vlm / "config.json").read_text())["max_prompt_tokens"]
    out = tmp_path / "f.csv"
    assert main(["--system", "taichi-vlm", "--dataset", "clevr_gen",
                 "--num-examples", "6", "--batch-size", "4", "--out", str(out)]) == 0
    row = pd.read_csv(out).iloc[0]
    assert row.relative_error < 1e-4 and row.cosine > 0.9999
    assert row.num_states == 6 * prompt and abs(row.received_norm - row.state_norm) < 1e-3 * row.state_norm


def test_the_shipped_codec_is_measured_at_each_snr(tmp_path):
    """The shipped codec is trained end to end on the answers, not to reconstruct the states
    (v5's cosine rose with SNR, 0.08 -> 0.14; v6's falls, 0.07 -> 0.03): no direction is asserted,
    only that the same states are sent at each SNR and the channel's noise reaches the receiver."""
    out = tmp_path / "f.csv"
    assert main(["--dataset", "easy_vqa", "--channel", "awgn", "--snr", "-5", "20",
                 "--num-examples", "8", "--out", str(out)]) == 0
    df = pd.read_csv(out).set_index("snr_db")
    assert df.state_norm.nunique() == 1                      # the same questions' states at each SNR
    assert df.received_norm.nunique() == 2                   # what arrives depends on the SNR
    assert ((df.cosine.abs() <= 1) & (df.relative_error >= 0)).all()


@pytest.mark.parametrize("bad", [["--snr", "nan", "--channel", "awgn"], ["--num-examples", "0"],
                                 ["--system", "nosuch"]])
def test_bad_input_is_one_line_and_exit_2(bad, capsys, tmp_path):
    out = tmp_path / "f.csv"
    assert main([*bad, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("codec_fidelity: error:") and not out.exists()
