"""The CLEVR-style scene reader diagnostic (tokcom.scene_reader)."""
import pandas as pd
import pytest
import torch

from tokcom import scene_reader as sr
from tokcom.data.clevr_gen import CLEVRStyle
from tokcom.vision_pretrain import ATTRIBUTES


def test_encode_questions_pads_and_marks_unknown_words():
    ids, vocab = sr.encode_questions(["Is there a cube?", "How many cubes are there?"])
    assert ids.shape == (2, 5) and ids[0, 4] == 0 and (ids[1] > 1).all()
    test, _ = sr.encode_questions(["Is there a sphere?"], vocab)
    assert test[0, 3] == 1 and test[0, 0] == vocab["is"]


def test_reader_learns_an_answer_that_only_the_cells_hold():
    # the answer is which of 4 cells is lit: the question says nothing, the cells everything
    g = torch.Generator().manual_seed(0)
    n = 512
    labels = torch.randint(4, (n,), generator=g)
    feats = torch.zeros(n, 4, 4)
    feats[torch.arange(n), labels, labels] = 1.0
    words = torch.full((n, 3), 2)
    reader = sr.train_reader(words, torch.arange(n), feats, labels, num_answers=4, vocab_size=3,
                             steps=80, batch_size=32, lr=3e-3)
    with torch.no_grad():
        right = (reader(words, feats).argmax(-1) == labels).float().mean().item()
        wrong = (reader(words, feats.roll(1, 0)).argmax(-1) == labels).float().mean().item()
    assert right > 0.95 and wrong < 0.5


def test_oracle_features_are_the_cell_targets_and_none_is_blank():
    ds = CLEVRStyle("test", num_images=3)
    oracle = sr.scene_features(None, ds, "oracle", 6)
    assert oracle.shape == (3, 36, len(ATTRIBUTES))
    assert oracle[:, :, 0].sum(1).tolist() == [float(len({(int(o.y * 6), int(o.x * 6)) for o in ds.scene(i)}))
                                              for i in range(3)]
    assert sr.scene_features(None, ds, "none", 6).abs().sum() == 0
    with pytest.raises(ValueError, match="unknown feature"):
        sr.scene_features(None, ds, "pixels", 6)


def test_cli_writes_rows_per_family_and_condition(tmp_path):
    out = tmp_path / "r.csv"
    assert sr.main(["--features", "none", "--steps", "2", "--batch-size", "8", "--train-images", "20",
                    "--test-images", "30", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert set(df.condition) == {"real", "shuffled"} and "all" in set(df.family)
    assert (df.dataset_version == CLEVRStyle.version).all()
    assert df[df.family == "all"].num_test.tolist() == [30, 30]


def test_cli_refuses_bad_input_with_one_line(tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert sr.main(["--features", "none", "--steps", "0", "--out", str(out)]) == 2
    assert sr.main(["--features", "ban", "--checkpoint", str(tmp_path / "nope"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("tokcom.scene_reader: error:") for e in err)
    assert not out.exists()
