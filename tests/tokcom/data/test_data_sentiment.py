"""Tests for SST-2 / IMDB loaders and the synthetic sentiment corpus (tokcom.data.sentiment)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tokcom.data import get_dataset
from tokcom.data.sentiment import (IMDB, SEEN_LEXICON, SEEN_TEMPLATES, SST2, UNSEEN_LEXICON,
                                   UNSEEN_TEMPLATES, SyntheticSentiment)


# --------------------------------------------------------------------------- SST-2

def _write(p: Path, text: str) -> Path:
    p.write_text(text, encoding="utf-8")
    return p


def test_sst2_loads(tmp_path):
    p = _write(tmp_path / "dev.tsv", "sentence\tlabel\nit 's a charming journey . \t1\nunfunny and dull\t0\n\n")
    ds = SST2(p)
    assert len(ds) == 2 and ds.answers() == ["positive", "negative"]
    ex = ds[0]
    assert ex.image is None and ex.task == "classify" and ex.question == "it 's a charming journey ."
    assert ex.meta["line"] == 2 and ds.answer_vocab() == ["negative", "positive"]
    # the registry maps split val -> dev.tsv; extra index column allowed
    assert len(get_dataset("sst2", "val", root=tmp_path)) == 2
    q = _write(tmp_path / "idx.tsv", "index\tsentence\tlabel\n0\tgood\t1\n")
    assert SST2(q).answers() == ["positive"]


@pytest.mark.parametrize("body,line,msg", [
    ("sentence\tlabel\nfine\t1\nbroken line without tab\n", 3, "fields"),
    ("sentence\tlabel\nfine\t1\nok\t1\nbad label\t2\n", 4, "label"),
    ("sentence\tlabel\n\t0\n", 2, "empty sentence"),
    ("sentence\tscore\nfine\t1\n", 1, "label"),
])
def test_sst2_malformed_names_file_and_line(tmp_path, body, line, msg):
    p = _write(tmp_path / "train.tsv", body)
    with pytest.raises(ValueError, match=msg) as ei:
        SST2(p)
    assert f"{p}:{line}:" in str(ei.value)


def test_sst2_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        SST2(tmp_path / "nope.tsv")
    with pytest.raises(ValueError, match="empty"):
        SST2(_write(tmp_path / "e.tsv", ""))


# --------------------------------------------------------------------------- IMDB

def _imdb(root: Path) -> Path:
    for lab, files in {"pos": {"10_9.txt": "Great film.<br /><br />Loved it.", "2_8.txt": "Fine."},
                       "neg": {"3_1.txt": "Terrible.\nJust terrible."}}.items():
        d = root / "train" / lab
        d.mkdir(parents=True)
        for name, text in files.items():
            (d / name).write_text(text, encoding="utf-8")
    (root / "train" / "unsup").mkdir()
    (root / "train" / "unsup" / "0_0.txt").write_text("ignored")
    return root


def test_imdb_loads(tmp_path):
    ds = IMDB(_imdb(tmp_path), "train")
    assert len(ds) == 3
    assert ds.answers() == ["negative", "positive", "positive"]
    assert [ds[i].meta["id"] for i in range(3)] == [3, 2, 10]
    assert ds[2].question == "Great film. Loved it." and ds[2].meta["rating"] == 9
    assert get_dataset("imdb", "train", root=tmp_path).answers() == ds.answers()


def test_imdb_malformed(tmp_path):
    root = _imdb(tmp_path)
    bad = root / "train" / "pos" / "5_7.txt"
    bad.write_bytes(b"first line ok\nsecond \xff\xfe line\n")
    with pytest.raises(ValueError) as ei:
        IMDB(root, "train")
    assert f"{bad}:2:" in str(ei.value) and "UTF-8" in str(ei.value)
    bad.write_text("   \n")
    with pytest.raises(ValueError, match="empty review") as ei:
        IMDB(root, "train")
    assert str(bad) in str(ei.value)
    bad.unlink()
    odd = root / "train" / "neg" / "review.txt"
    odd.write_text("text")
    with pytest.raises(ValueError, match="<id>_<rating>") as ei:
        IMDB(root, "train")
    assert str(odd) in str(ei.value)
    with pytest.raises(FileNotFoundError, match="test"):
        IMDB(root, "test")


# --------------------------------------------------------------------------- synthetic

_CONTENT = ("pos", "neg", "noun", "intens", "dimin")


def _content_words(lex: dict[str, tuple[str, ...]]) -> set[str]:
    return {t for k in _CONTENT for w in lex[k] for t in w.split()}


def test_synthetic_balanced_and_deterministic():
    ds = SyntheticSentiment("train", 301, seed=4)
    ans = ds.answers()
    assert abs(ans.count("positive") - ans.count("negative")) <= 1
    again = SyntheticSentiment("train", 50, seed=4)
    assert [again[i].question for i in range(50)] == [ds[i].question for i in range(50)]
    other = SyntheticSentiment("train", 50, seed=5)
    assert [other[i].question for i in range(50)] != [ds[i].question for i in range(50)]
    val = SyntheticSentiment("val", 50, seed=4)
    assert [val[i].question for i in range(50)] != [ds[i].question for i in range(50)]
    ex = ds[0]
    assert ex.image is None and ex.task == "classify" and ex.answer in ("positive", "negative")


def test_synthetic_phenomena_present():
    for split, templates in (("train", SEEN_TEMPLATES), ("test", UNSEEN_TEMPLATES)):
        ds = SyntheticSentiment(split, 300, seed=1)
        used = {ds[i].meta["template"] for i in range(len(ds))}
        assert used == set(templates)
        phen = {ds[i].meta["phenomenon"] for i in range(len(ds))}
        assert phen == {"intensifier", "negation", "contrast", "diminisher", "mixed", "sarcasm"}
    assert not set(SEEN_TEMPLATES) & set(UNSEEN_TEMPLATES)


def test_synthetic_test_vocabulary_disjoint_from_train():
    seen, unseen = _content_words(SEEN_LEXICON), _content_words(UNSEEN_LEXICON)
    assert not seen & unseen
    train_tokens = {t for ex in SyntheticSentiment("train", 400) for t in ex.question.split()}
    test_tokens = {t for ex in SyntheticSentiment("test", 400) for t in ex.question.split()}
    assert not test_tokens & seen
    assert not train_tokens & unseen
    assert test_tokens & unseen and train_tokens & seen


def _oracle(sentence: str, lex: dict[str, tuple[str, ...]]) -> str:
    """Independent rule: sarcasm -> negative; else the last polar word, flipped by a negator."""
    toks = sentence.split()
    if sentence.startswith(("oh great , another", "sure , because")):
        return "negative"
    polar = [("positive" if t in lex["pos"] else "negative") for t in toks if t in lex["pos"] or t in lex["neg"]]
    label = polar[-1]
    if re.search(r"\b(not|nothing)\b", sentence):
        label = "negative" if label == "positive" else "positive"
    return label


def test_synthetic_labels_follow_the_phenomena():
    for split, lex in (("train", SEEN_LEXICON), ("val", SEEN_LEXICON), ("test", UNSEEN_LEXICON)):
        ds = SyntheticSentiment(split, 240, seed=2)
        for ex in ds:
            assert _oracle(ex.question, lex) == ex.answer, ex.question
        # contrast: the two clauses carry opposite polarity, the one after "but" decides
        contrast = [ex for ex in ds if ex.meta["phenomenon"] == "contrast"]
        assert contrast
        for ex in contrast:
            pol = [t in lex["pos"] for t in ex.question.split() if t in lex["pos"] or t in lex["neg"]]
            assert pol[0] != pol[1]


def test_diagnostic_splits_take_one_shift_each():
    """``test_vocab``: seen templates, held-out words; ``test_templates``: the reverse; labels as
    the oracle says; ``test`` itself is unchanged by their existence (its first sentence pinned)."""
    nouns = set(SEEN_LEXICON["noun"]) | set(UNSEEN_LEXICON["noun"])
    for split, lex, templates in (("test_vocab", UNSEEN_LEXICON, SEEN_TEMPLATES),
                                  ("test_templates", SEEN_LEXICON, UNSEEN_TEMPLATES)):
        ds = SyntheticSentiment(split, 240, seed=0)
        assert {t for ex in ds for t in ex.question.split() if t in nouns} == set(lex["noun"])
        assert {ex.meta["template"] for ex in ds} == set(templates)
        assert all(_oracle(ex.question, lex) == ex.answer for ex in ds)
        assert sum(ex.answer == "positive" for ex in ds) == 120
    assert SyntheticSentiment("test", 1)[0].question == "lackluster finale and riveting score -- in the end , utterly terrific ."


def test_synthetic_bad_split():
    with pytest.raises(ValueError, match="split"):
        SyntheticSentiment("dev", 4)
