"""simulations.family_accuracy: one pass over the error-free channel, scored per family."""
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from simulations.family_accuracy import family_accuracy, main
from tokcom.data.sentiment import SEEN_TEMPLATES, SyntheticSentiment
from tokcom.train import main as train_main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tokcom"))
from conftest import small_config  # noqa: E402


class _Parity:
    """Answers "even"/"odd" right except on the family "hard", where it always says "even"."""
    name, dataset = "fake", "fake"

    def sample(self, n, generator):
        x = torch.randint(100, (n,), generator=generator)
        fam = ["hard" if i % 4 == 0 else "easy" for i in range(n)]
        return {"x": x, "family": fam, "answers": ["even" if v % 2 == 0 else "odd" for v in x]}

    def transmit(self, batch):
        hard = torch.tensor([f == "hard" for f in batch["family"]])
        return torch.where(hard, torch.zeros_like(batch["x"]), batch["x"]).to(torch.complex64).unsqueeze(-1)

    def receive(self, out, batch):
        return [["even" if int(v) % 2 == 0 else "odd" for v in out.y.real[0, :, 0]]]


def test_families_are_scored_apart_and_add_up():
    rows = pd.DataFrame(family_accuracy(_Parity(), 400, batch_size=40)).set_index("family")
    assert rows.loc["easy", "accuracy"] == 1.0
    assert 0.3 < rows.loc["hard", "accuracy"] < 0.7          # "even" is right about half the time
    assert rows.loc["all", "num_examples"] == 400 == rows.num_examples.drop("all").sum()
    k = (rows.accuracy * rows.num_examples).drop("all").sum()
    assert rows.loc["all", "accuracy"] == pytest.approx(k / 400)
    assert ((rows.ci_low <= rows.accuracy) & (rows.accuracy <= rows.ci_high)).all()


def test_sentiment_families_are_its_phenomena():
    ds = SyntheticSentiment("test", 60)
    assert {ds[i].meta["family"] for i in range(60)} == {p for p, _f, _l in SEEN_TEMPLATES.values()}
    assert all(ds[i].meta["family"] == ds[i].meta["phenomenon"] for i in range(60))


def test_cli_on_a_checkpoint_and_bad_input(tmp_path, capsys):
    (tmp_path / "c.json").write_text(json.dumps(small_config(max_prompt_tokens=128).to_dict()))
    ck = tmp_path / "ck"
    assert train_main(["--preset", str(tmp_path / "c.json"), "--stages", "0", "--steps", "0=1",
                       "--out", str(ck), "--mix", "synthetic_sentiment:1", "--num-sentences", "8",
                       "--batch-size", "2", "--eval-examples", "0", "--no-progress"]) == 0
    out = tmp_path / "f.csv"
    assert main(["--checkpoint", str(ck), "--split", "test_templates", "--num-examples", "30",
                 "--batch-size", "10", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert df.family.iloc[0] == "all" and df.num_examples.iloc[0] == 30
    assert set(df.family[1:]) <= {p for p, _f, _l in SEEN_TEMPLATES.values()} and len(df) > 2
    assert (df.split == "test_templates").all()
    bad = tmp_path / "bad.csv"
    assert main(["--checkpoint", str(ck), "--num-examples", "0", "--out", str(bad)]) == 2
    assert "--num-examples" in capsys.readouterr().err and not bad.exists()
