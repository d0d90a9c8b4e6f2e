"""tokcom.feature_probe: a linear probe reads what is in the features and nothing that is not."""
import json

import pandas as pd
import torch

from tokcom.feature_probe import fit_probe, main
from tokcom.train import main as train_main

from conftest import small_config


def test_probe_reads_a_separable_label_and_not_a_random_one():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(3, (600,), generator=g)
    x = torch.randn(600, 16, generator=g)
    x[:, 0] += 6 * y                      # the label is in one coordinate
    tr, te = fit_probe(x[:400], y[:400], x[400:], y[400:], 3)
    assert tr > 0.9 and te > 0.9
    noise = torch.randint(3, (600,), generator=g)
    _tr, te = fit_probe(x[:400], noise[:400], x[400:], noise[400:], 3)
    assert te < 0.5


def test_cli_writes_one_row_per_feature_and_label(tmp_path, capsys):
    (tmp_path / "c.json").write_text(json.dumps(small_config(max_prompt_tokens=128).to_dict()))
    ck = tmp_path / "ck"
    assert train_main(["--preset", str(tmp_path / "c.json"), "--stages", "1a", "--steps", "1a=1",
                       "--out", str(ck), "--mix", "easy_vqa:1", "--batch-size", "2",
                       "--eval-examples", "2", "--no-progress"]) == 0
    out = tmp_path / "p.csv"
    assert main(["--checkpoint", str(ck), "--train-images", "40", "--test-images", "20",
                 "--steps", "20", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert sorted(zip(df.feature, df.label)) == [("ban_cells", "color"), ("ban_cells", "shape"),
                                                 ("ban_pooled", "color"), ("ban_pooled", "shape"),
                                                 ("visual_tokens", "color"), ("visual_tokens", "shape")]
    per_image = df[df.feature != "ban_cells"]
    assert (per_image.num_test == 20).all() and df.test_accuracy.between(0, 1).all()
    # one row per covered cell: at least one per image
    assert (df[df.feature == "ban_cells"].num_test >= 20).all()
    assert main(["--checkpoint", str(tmp_path / "nope"), "--out", str(tmp_path / "q.csv")]) == 2
    assert "not found" in capsys.readouterr().err and not (tmp_path / "q.csv").exists()
