"""tokcom.data.review_text: the unlabelled LM pretraining text."""
import re

import pytest

from tokcom.data import get_dataset
from tokcom.data.review_text import FRAMES, LEXICON, ReviewText
from tokcom.data.sentiment import SEEN_LEXICON, SEEN_TEMPLATES, UNSEEN_LEXICON, UNSEEN_TEMPLATES


def test_deterministic_and_prefix_stable():
    a = ReviewText("train", 300, seed=3)
    b = ReviewText("train", 50, seed=3)
    assert [a[i].answer for i in range(50)] == [b[i].answer for i in range(50)]
    assert a.answers()[:50] == b.answers()
    assert ReviewText("train", 50, seed=4).answers() != b.answers()


def test_examples_are_unlabelled_text():
    ds = get_dataset("review_text", "train", num_examples=20)
    ex = ds[0]
    assert ex.task == "text" and ex.question is None and ex.image is None
    assert set(ex.meta) == {"dataset", "frame", "index"}     # the hidden opinion is not kept
    with pytest.raises(IndexError):
        ds[20]


def test_only_a_train_split_and_sizes_checked():
    with pytest.raises(ValueError, match="only a 'train' split"):
        ReviewText("test", 10)
    with pytest.raises(ValueError, match=">= 0"):
        ReviewText("train", -1)


def test_words_of_both_lexicons_and_every_frame():
    texts = ReviewText("train", 4000, seed=0).answers()
    words = set(" ".join(texts).split())
    for lex in (SEEN_LEXICON, UNSEEN_LEXICON):
        for key in ("pos", "neg", "noun"):
            assert set(lex[key]) <= words, key
    frames = {ReviewText("train", 400, seed=0)[i].meta["frame"] for i in range(400)}
    assert frames == set(FRAMES)
    assert LEXICON["pos"][: len(SEEN_LEXICON["pos"])] == SEEN_LEXICON["pos"]


def _template_skeletons():
    """Each sentiment template as a regex of its fixed words with the slots as wildcards,
    built by sampling the template and replacing every lexicon word by ``\\S+``."""
    import numpy as np
    vocab = {w for lex in (SEEN_LEXICON, UNSEEN_LEXICON) for ws in lex.values() for w in ws}
    out = {}
    for name, (_ph, fn, labels) in {**SEEN_TEMPLATES, **UNSEEN_TEMPLATES}.items():
        for lex in (SEEN_LEXICON, UNSEEN_LEXICON):
            s = fn(np.random.default_rng(0), lex, labels[0])
            toks = [r"\S+" if t in vocab else re.escape(t) for t in s.split()]
            out[name] = re.compile(r"(?:^| )" + " ".join(toks) + r"(?: |$)")
    return out


def test_no_sentence_uses_a_sentiment_template():
    texts = ReviewText("train", 3000, seed=0).answers()
    for name, pattern in _template_skeletons().items():
        assert not any(pattern.search(t) for t in texts), name
    # and the check itself can fail: a template sentence matches its own skeleton
    from tokcom.data import SyntheticSentiment
    sent = SyntheticSentiment("test", 40, seed=0)
    skel = _template_skeletons()
    assert all(skel[sent[i].meta["template"]].search(sent[i].question) for i in range(40))
