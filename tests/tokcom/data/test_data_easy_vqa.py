"""Tests for the easy-VQA loader (skipped when the easy-vqa wheel is not installed)."""
from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

from tokcom.data import DATASETS, get_dataset
from tokcom.data import easy_vqa as ev

needs_pkg = pytest.mark.skipif(importlib.util.find_spec("easy_vqa") is None,
                               reason="easy-vqa not installed (pip install easy-vqa)")


@needs_pkg
def test_easy_vqa_counts_and_items():
    tr, te = ev.EasyVQA("train"), ev.EasyVQA("test", image_size=64)
    assert (len(tr), tr.num_images()) == (38575, 4000)
    assert (len(te), te.num_images()) == (9673, 1000)
    assert len(tr.answer_vocab()) == 13 and {"yes", "no", "circle", "teal"} <= set(tr.answer_vocab())
    assert set(tr.answers()) <= set(tr.answer_vocab())
    ex = tr[0]
    assert ex.image.shape == (3, 96, 96) and ex.image.dtype == torch.float32
    assert 0.0 <= float(ex.image.min()) <= float(ex.image.max()) <= 1.0 and float(ex.image.std()) > 0.05
    assert (ex.question, ex.answer, ex.task) == ("what is the blue shape?", "rectangle", "vqa")
    assert ex.meta["image_id"] == 0
    assert te[5].image.shape == (3, 64, 64)
    assert torch.equal(tr[1].image, tr[0].image)  # same image id, cached
    assert "easy_vqa" not in sys.modules  # the package itself is never imported
    assert len(get_dataset("easy_vqa", "test")) == 9673


def test_easy_vqa_missing_package(monkeypatch):
    monkeypatch.setattr(ev.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="easy-vqa"):
        ev.EasyVQA("train")


def test_easy_vqa_bad_root_and_split(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        ev.EasyVQA("train", root=tmp_path)
    with pytest.raises(ValueError, match="split"):
        ev.EasyVQA("val", root=tmp_path)
    (tmp_path / "train" / "images").mkdir(parents=True)
    (tmp_path / "train" / "questions.json").write_text('[["q?", "yes", 0], ["bad"]]')
    with pytest.raises(ValueError, match="entry 1"):
        ev.EasyVQA("train", root=tmp_path)


def test_registry():
    assert set(DATASETS) == {"clevr_gen", "clevr_caption", "easy_vqa", "easy_vqa_balanced", "easy_vqa_yesno",
                             "easy_vqa_yesno_plain", "clevr", "vqav2",
                             "sst2", "imdb", "synthetic_sentiment", "review_text"}
    with pytest.raises(ValueError) as ei:
        get_dataset("mnist", "train")
    assert all(n in str(ei.value) for n in DATASETS)
    ds = get_dataset("clevr_gen", "val", num_images=2, questions_per_image=2)
    assert len(ds) == 4 and ds[0].task == "vqa"
    assert len(get_dataset("synthetic_sentiment", "test", num_examples=6)) == 6
    cap = get_dataset("clevr_caption", "val", num_images=2)     # the same scenes, one caption each
    assert len(cap) == 2 and cap[0].task == "caption" and torch.equal(cap[1].image, ds[2].image)
    with pytest.raises(ValueError, match="root"):
        get_dataset("imdb", "train")


@needs_pkg
def test_question_families_follow_the_answers():
    """Every question's family agrees with its gold answer: yes/no, a colour, or a shape."""
    from collections import Counter
    te = ev.EasyVQA("test")
    shapes = {"circle", "rectangle", "triangle"}
    seen = Counter()
    for q, a in zip(te.question_texts(), te.answers()):
        fam = ev.question_family(q)
        want = "yes_no" if a in ("yes", "no") else "shape" if a in shapes else "color"
        assert fam == want, (q, a)
        seen[fam] += 1
    assert set(seen) == set(ev.QUESTION_FAMILIES)
    assert te[0].meta["family"] == ev.question_family(te[0].question)


def test_question_subfamily_names_the_attribute_and_the_negation():
    assert ev.question_subfamily("is there not a circle?") == "yes_no.shape.negated"
    assert ev.question_subfamily("does the image contain a red shape?") == "yes_no.color.plain"
    assert ev.question_subfamily("is no teal shape present?") == "yes_no.color.negated"
    assert ev.question_subfamily("is a triangle present?") == "yes_no.shape.plain"
    assert ev.question_subfamily("what is the red shape?") == "shape"
    assert ev.question_subfamily("what color is the circle?") == "color"


@needs_pkg
def test_every_test_question_has_a_subfamily_in_its_meta():
    from collections import Counter
    te = ev.EasyVQA("test")
    kinds = Counter(ev.question_subfamily(q) for q in te.question_texts())
    assert set(kinds) == {"color", "shape"} | {f"yes_no.{a}.{n}" for a in ("color", "shape")
                                                for n in ("plain", "negated")}
    assert sum(v for k, v in kinds.items() if k.startswith("yes_no")) == \
        sum(ev.question_family(q) == "yes_no" for q in te.question_texts())
    assert te[1].meta["subfamily"] == ev.question_subfamily(te[1].question)


def test_balance_yes_no_evens_every_kind_and_keeps_the_rest():
    items = ([("is there a red shape?", "no", i) for i in range(7)] + [("is there a red shape?", "yes", 9)]
             + [("is there not a circle?", "yes", i) for i in range(3)]
             + [("what color is the shape?", "red", i) for i in range(4)])
    out = ev.balance_yes_no(items)
    assert out == ev.balance_yes_no(items)                       # seeded
    assert sum(a == "yes" for q, a, _ in out if "red shape" in q) == 1
    assert sum(a == "no" for q, a, _ in out if "red shape" in q) == 1
    assert not [q for q, _a, _i in out if "circle" in q]         # a kind with one answer only: gone
    assert [it for it in out if it[0].startswith("what")] == items[-4:]
    assert [items.index(it) for it in out] == sorted(items.index(it) for it in out)
    assert ev.is_negated("is no circle present?") and not ev.is_negated("is there a red shape?")


@needs_pkg
def test_easy_vqa_balanced_has_no_answer_prior_in_its_yes_no_questions():
    from collections import Counter
    from simulations.systems.answers import eval_dataset
    full, bal = get_dataset("easy_vqa", "train"), get_dataset("easy_vqa_balanced", "train")
    yn = [(q, a) for q, a in zip(bal.question_texts(), bal.answers()) if ev.question_family(q) == "yes_no"]
    kinds = Counter((ev.is_negated(q), "circle" in q or "rectangle" in q or "triangle" in q, a) for q, a in yn)
    assert len(kinds) == 8 and len(set(kinds.values())) == 4     # yes == no within each of 4 kinds
    n_full = Counter(ev.question_family(q) for q in full.question_texts())
    n_bal = Counter(ev.question_family(q) for q in bal.question_texts())
    assert n_bal["color"] == n_full["color"] and n_bal["shape"] == n_full["shape"]
    assert n_bal["yes_no"] < n_full["yes_no"]
    assert len(eval_dataset("easy_vqa_balanced", "test", 10)) < len(eval_dataset("easy_vqa", "test", 10))


def test_image_attributes_read_every_question_family():
    items = [("what color is the circle?", "red", 1), ("is there not a teal shape?", "no", 2),
             ("is a triangle present?", "yes", 2), ("is there a blue shape?", "no", 3),
             ("what is the green shape?", "rectangle", 4), ("is no circle present?", "yes", 5)]
    assert ev.image_attributes(items) == {1: ("red", "circle"), 2: ("teal", "triangle"),
                                          4: ("green", "rectangle")}


@needs_pkg
def test_easy_vqa_yesno_is_balanced_true_to_the_labels_and_seeded():
    from collections import Counter
    from simulations.systems.answers import eval_dataset
    ds = get_dataset("easy_vqa_yesno", "test")
    attrs = ev.image_attributes(ev.EasyVQA("test")._items)
    assert len(ds) == 8 * ds.num_images() and ds.num_images() == 880
    wordings = {t.format(p) for ts in ev.YES_NO_TEMPLATES for t in ts
                for p in [f"{c} shape" for c in ev.COLOURS] + list(ev.SHAPES)}
    kinds = Counter()
    for q, a, i in zip(ds.question_texts(), ds.answers(), ds.image_ids()):
        assert q in wordings
        colour, shape = attrs[i]
        named = next(w for w in q.rstrip("?").split() if w in ev.COLOURS + ev.SHAPES)
        holds = named in (colour, shape)
        assert (a == "yes") == (holds != ev.is_negated(q)), (q, a, attrs[i])   # the image's truth
        kinds[ev.is_negated(q), named in ev.SHAPES, a] += 1
    assert len(kinds) == 8 and set(kinds.values()) == {880}
    assert ds.question_texts() == ev.EasyVQAYesNo("test").question_texts()
    assert ds.question_texts() != ev.EasyVQAYesNo("test", seed=1).question_texts()
    ex = ds[0]
    assert ex.meta["dataset"] == "easy_vqa_yesno" and ex.image.shape == (3, 96, 96)
    assert len(eval_dataset("easy_vqa_yesno", "test", 10)) == len(ds)
    plain = get_dataset("easy_vqa_yesno_plain", "test")
    assert len(plain) == 4 * 880 and not any(map(ev.is_negated, plain.question_texts()))
    assert Counter(plain.answers()) == {"yes": 1760, "no": 1760}
    assert plain[0].meta["dataset"] == "easy_vqa_yesno_plain"


def test_a_yes_no_question_carries_the_attribute_its_image_shows():
    # meta["seen"]: the image's own colour or shape, of the kind the question names (the target
    # of tokcom.train --seen-loss); a plain question is "yes" exactly when it names that one
    plain = get_dataset("easy_vqa_yesno_plain", "test")
    for k in range(0, len(plain), 97):
        ex = plain[k]
        named = next(w for w in ex.question.rstrip("?").split() if w in ev.COLOURS + ev.SHAPES)
        seen = ex.meta["seen"]
        assert seen in (ev.SHAPES if named in ev.SHAPES else ev.COLOURS)
        assert (ex.answer == "yes") == (named == seen), (ex.question, ex.answer, seen)
    real = ev.EasyVQA("test")
    kinds = {real[k].meta["family"]: "seen" in real[k].meta for k in range(60)}
    assert kinds == {"yes_no": True, "color": False, "shape": False}
