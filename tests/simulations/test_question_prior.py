"""Tests for the question-only baseline (simulations.question_prior)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulations.question_prior import QuestionPrior, features, main, question_items, question_prior


def _items(n: int, seed: int, leak: bool) -> list[tuple[str, str, str, str]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = ("yes", "no")[int(rng.integers(2))]
        colour = ("red", "blue")[int(rng.integers(2))]
        # with a leak the colour word tells the answer; without it the wording is independent
        if leak:
            colour = "red" if a == "yes" else "blue"
        out.append((f"is the {colour} cube small ?", a, "leaky" if leak else "fair", ""))
    return out


def test_features_are_words_and_word_pairs():
    assert features("Is the RED cube?") == ["is", "the", "red", "cube", "is the", "the red", "red cube"]


def test_a_telling_word_is_learnt_and_an_independent_one_is_not():
    rows = question_prior(_items(400, 0, True) + _items(400, 1, False),
                          _items(300, 2, True) + _items(300, 3, False))
    by = {r["family"]: r for r in rows}
    assert by["leaky"]["question_only"] == 1.0
    assert 0.35 <= by["fair"]["question_only"] <= 0.65
    assert by["fair"]["ci_low"] < 0.5 < by["fair"]["ci_high"]
    assert by["all"]["num_test"] == 600 and by["fair"]["num_train"] == 400
    assert 0.4 <= by["fair"]["majority"] <= 0.6


def test_unknown_words_fall_back_to_the_bias():
    m = QuestionPrior(["a b", "a c", "a d"], ["x", "x", "y"], steps=200)
    assert m.predict(["zzz qqq"]) == ["x"]


def test_bad_training_pairs_refused():
    with pytest.raises(ValueError, match="as many answers"):
        QuestionPrior(["a"], ["x", "y"])
    with pytest.raises(ValueError, match="steps"):
        QuestionPrior(["a"], ["x"], steps=0)


def test_clevr_style_items_come_from_scene_graphs():
    from tokcom.data.clevr_gen import FAMILIES, CLEVRStyle
    ds = CLEVRStyle("train", 30, 3, seed=0)
    items = question_items(ds)
    assert len(items) == 90 and not ds._images      # nothing rendered
    assert {f for _q, _a, f, _s in items} <= set(FAMILIES)
    assert items[0][:2] == (ds[0].question, ds[0].answer)


def test_cli_writes_csv_for_a_text_set(tmp_path, capsys):
    out = tmp_path / "qp.csv"
    rc = main(["--dataset", "synthetic_sentiment", "--split", "val", "--train-examples", "400",
               "--test-examples", "200", "--steps", "100", "--out", str(out)])
    assert rc == 0
    df = pd.read_csv(out)
    assert list(df.columns[:4]) == ["dataset", "dataset_version", "family", "question_only"]
    assert df.iloc[0]["family"] == "all" and df.iloc[0]["num_test"] == 200
    # the seen-vocabulary sentiment split is answerable from its words
    assert df.iloc[0]["question_only"] > 0.7


def test_cli_bad_input_one_line_nonzero_and_nothing_written(tmp_path, capsys):
    out = tmp_path / "qp.csv"
    out.write_text("keep\n")
    assert main(["--dataset", "no_such_set", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("question_prior: error:")
    assert out.read_text() == "keep\n"
    assert main(["--dataset", "synthetic_sentiment", "--train-examples", "0", "--out", str(out)]) == 2
    assert out.read_text() == "keep\n"
