"""The project's byte-level BPE: round trips, fixed special ids, save/load, determinism, errors."""
from __future__ import annotations

import random
import subprocess
import sys

from pathlib import Path

import pytest
from transformers import PreTrainedTokenizerFast

from tokcom.text import SPECIAL_TOKENS, load_tokenizer, train_bpe

_COLORS = ["red", "blue", "green", "yellow", "black", "white", "brown", "orange"]
_OBJECTS = ["car", "dog", "cat", "house", "tree", "person", "bicycle", "bird", "boat", "cup"]
_PLACES = ["on the left", "on the right", "in the middle", "near the river", "under the bridge",
           "next to the table", "in front of the building"]
_QUESTIONS = ["What color is the {o}?", "How many {o}s are there?", "Where is the {o}?",
              "Is the {o} {c}?"]


def _corpus(n: int = 400, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        c, o, p = rng.choice(_COLORS), rng.choice(_OBJECTS), rng.choice(_PLACES)
        k = rng.randint(1, 9)
        if rng.random() < 0.5:
            out.append(f"There are {k} {c} {o}s {p} of the image.")
        else:
            out.append(rng.choice(_QUESTIONS).format(o=o, c=c) + f" Answer: {c}.")
    return out


@pytest.fixture(scope="module")
def tok() -> PreTrainedTokenizerFast:
    return train_bpe(_corpus(), vocab_size=600, min_frequency=2)


def test_type_and_size(tok):
    assert isinstance(tok, PreTrainedTokenizerFast)
    assert 256 + len(SPECIAL_TOKENS) < len(tok) <= 600


def test_special_tokens_fixed_ids(tok):
    assert SPECIAL_TOKENS == ["<pad>", "<bos>", "<eos>", "<image>", "<|user|>", "<|assistant|>"]
    for i, t in enumerate(SPECIAL_TOKENS):
        assert tok.convert_tokens_to_ids(t) == i
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    assert sorted(tok.all_special_ids) == list(range(6))


def test_special_tokens_never_split(tok):
    for i, t in enumerate(SPECIAL_TOKENS):
        assert tok(t)["input_ids"] == [i]
        # glued to ordinary text on both sides
        ids = tok(f"red{t}car")["input_ids"]
        assert ids.count(i) == 1
        assert tok.decode(ids) == f"red{t}car"
    ids = tok("<|user|><image><image><image>What is it?<|assistant|>")["input_ids"]
    assert ids[:4] == [4, 3, 3, 3] and ids[-1] == 5
    # partial look-alikes are ordinary text, not special tokens
    assert not set(tok("<imag <|user| image>")["input_ids"]) & set(range(6))


def test_no_automatic_bos_eos(tok):
    ids = tok("a red car")["input_ids"]
    assert tok.bos_token_id not in ids and tok.eos_token_id not in ids


def test_seen_text_round_trip_and_compression(tok):
    s = "There are 3 red cars on the left of the image."
    ids = tok(s)["input_ids"]
    assert tok.decode(ids) == s
    assert len(ids) < len(s.encode()) / 2  # merges learned from the corpus


@pytest.mark.parametrize("s", [
    "completely unseen words: xylophone, quixotic, zephyr",
    "  leading and trailing spaces  ",
    "tabs\tand\nnewlines\r\n and   runs of spaces",
    "unicode: héllo wörld, naïve café, Ελληνικά, 日本語テキスト, emoji 🚀🐈‍⬛",
    "punctuation ., !? ;: ' \" ` (x) [y] {z} -- ... 1,234.5%",
    "\x00 control \x07 chars \u200b zero width",
    "",
])
def test_unseen_text_round_trip(tok, s):
    assert tok.decode(tok(s)["input_ids"]) == s


def test_batch_padding_uses_pad_id(tok):
    batch = tok(["a red car", "dog"], padding=True)
    assert batch["input_ids"][1][-1] == 0
    assert batch["attention_mask"][1][-1] == 0


def test_save_load_round_trip(tok, tmp_path):
    texts = ["<|user|><image>How many dogs are there?<|assistant|>2<eos>",
             "unseen ✓ text with ünïcödé"]
    tok.save_pretrained(tmp_path / "tk")
    for loaded in (load_tokenizer(tmp_path / "tk"),
                   load_tokenizer(str(tmp_path / "tk" / "tokenizer.json")),
                   PreTrainedTokenizerFast.from_pretrained(str(tmp_path / "tk"))):
        assert loaded.get_vocab() == tok.get_vocab()
        for s in texts:
            assert loaded(s)["input_ids"] == tok(s)["input_ids"]
            assert loaded.decode(loaded(s)["input_ids"]) == s
        assert (loaded.pad_token_id, loaded.bos_token_id, loaded.eos_token_id) == (0, 1, 2)


def test_deterministic_training():
    corpus = _corpus(300, seed=1)
    a = train_bpe(corpus, vocab_size=500)
    b = train_bpe(iter(corpus), vocab_size=500)  # any iterable
    assert a.get_vocab() == b.get_vocab()
    assert a.backend_tokenizer.to_str() == b.backend_tokenizer.to_str()
    c = train_bpe(_corpus(300, seed=2), vocab_size=500)
    assert c.get_vocab() != a.get_vocab()


def test_deterministic_across_processes(tmp_path):
    """Same corpus in a fresh interpreter (other hash seed) -> the same tokenizer.json."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(_corpus(300, seed=3)), encoding="utf-8")
    code = ("import sys; from tokcom.text import train_bpe; "
            "texts = open(sys.argv[1], encoding='utf-8').read().split('\\n'); "
            "t = train_bpe(texts, vocab_size=500); "
            "sys.stdout.write(t.backend_tokenizer.to_str())")
    env = {"PYTHONHASHSEED": "12345", "HF_HUB_OFFLINE": "1", "PATH": "", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code, str(corpus)], capture_output=True,
                         text=True, check=True, env=env,
                         cwd=Path(__file__).resolve().parents[3]).stdout
    here = train_bpe(_corpus(300, seed=3), vocab_size=500).backend_tokenizer.to_str()
    assert out == here


def test_min_frequency_limits_merges():
    corpus = _corpus(200)
    rare = train_bpe(corpus, vocab_size=2000, min_frequency=1000)
    assert len(rare) < len(train_bpe(corpus, vocab_size=2000, min_frequency=2))


def test_bad_arguments():
    with pytest.raises(ValueError, match="vocab_size"):
        train_bpe(["abc"], vocab_size=100)
    with pytest.raises(ValueError, match="min_frequency"):
        train_bpe(["abc"], min_frequency=0)
    with pytest.raises(TypeError, match="strings"):
        train_bpe(["abc", 3])  # type: ignore[list-item]


def test_missing_path(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="nope"):
        load_tokenizer(missing)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        load_tokenizer(tmp_path / "empty")


def test_corrupted_file(tok, tmp_path):
    bad = tmp_path / "tokenizer.json"
    bad.write_text('{"version": "1.0", "model": {"type": "BPE", "vocab": ')
    with pytest.raises(ValueError, match="corrupted"):
        load_tokenizer(bad)
    with pytest.raises(ValueError, match="corrupted"):
        load_tokenizer(tmp_path)
    tok.save_pretrained(tmp_path / "tk")
    (tmp_path / "tk" / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupted"):
        load_tokenizer(tmp_path / "tk")


def test_foreign_tokenizer_rejected(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    raw = Tokenizer(models.BPE(vocab={"a": 0, "b": 1}, merges=[]))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel()
    raw.save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(ValueError, match="special token"):
        load_tokenizer(tmp_path / "tokenizer.json")


def test_add_words_gives_split_words_one_token_and_leaves_other_text_alone(tmp_path):
    from tokcom.corpus import default_corpus
    from tokcom.text import add_words
    corpus = _corpus()
    tok = train_bpe(corpus, vocab_size=300)
    s = "excellent , the excellent car . excellently superb ! red"
    grown, new = add_words(tok, [s, "superb superb 42x"])
    n = len(tok)
    assert new[:2] == ["excellent", "Ġexcellent"] and {"Ġexcellently", "Ġsuperb"} < set(new)
    assert "Ġred" not in new and "Ġ42x" not in new and len(new) == len(set(new))
    assert len(grown) == n + len(new) and grown.convert_tokens_to_ids(new) == list(range(n, len(grown)))
    ids = grown(s)["input_ids"]
    assert ids[0] == n and ids.count(n + 1) == 1 and ids[ids.index(n + 1) - 1] == tok.convert_tokens_to_ids("Ġthe")
    assert grown.decode(ids) == s and len(tok(s)["input_ids"]) > len(ids)
    # text without the new words splits as before (the BPE's own words are taken whole)
    pre = tok.backend_tokenizer.pre_tokenizer
    others = [t for t in corpus if not {w for w, _ in pre.pre_tokenize_str(t)} & set(new)]
    assert len(others) > 100 and all(grown(t)["input_ids"] == tok(t)["input_ids"] for t in others)
    big = list(default_corpus())
    t2 = train_bpe(big, vocab_size=2048)
    g2, _ = add_words(t2, ["utterly riveting premise"])
    assert all(g2(t)["input_ids"] == t2(t)["input_ids"] for t in big[:20000])
    grown.save_pretrained(tmp_path / "t")
    again = load_tokenizer(tmp_path / "t")
    assert len(again) == len(grown) and again(s)["input_ids"] == ids
    assert add_words(again, [s])[1] == []
