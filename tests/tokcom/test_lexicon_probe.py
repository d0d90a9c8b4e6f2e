"""tokcom.lexicon_probe: held-out adjectives placed by the seen adjectives' embedding centroids."""
import torch

from tokcom.data.sentiment import SEEN_LEXICON, UNSEEN_LEXICON
from tokcom.lexicon_probe import ANSWER_WORDS, answer_rows_cosine, main, polarity_placement
from tokcom.text import train_bpe


def _tok():
    words = [w for lex in (SEEN_LEXICON, UNSEEN_LEXICON) for k in ("pos", "neg") for w in lex[k]]
    return train_bpe([" ".join(words)] * 3 + [" " + w for w in words] * 3, vocab_size=600)


def _embeddings(tok, sign_of_unseen: float):
    g = torch.Generator().manual_seed(0)
    e = 0.1 * torch.randn(len(tok), 16, generator=g)
    for lex, s in ((SEEN_LEXICON, 1.0), (UNSEEN_LEXICON, sign_of_unseen)):
        for key, pol in (("pos", 1.0), ("neg", -1.0)):
            for w in lex[key]:
                ids = tok(" " + w, add_special_tokens=False)["input_ids"]
                e[ids, 0] += s * pol
    return e


def test_placement_reads_the_polarity_direction_and_can_fail():
    tok = _tok()
    right = polarity_placement(_embeddings(tok, 1.0), tok)
    assert right["accuracy"] == 1.0 and right["num_words"] == 28
    assert polarity_placement(_embeddings(tok, -1.0), tok)["accuracy"] == 0.0


def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "missing"), "--out", str(tmp_path / "o.csv")]) == 2
    ck = tmp_path / "ck"
    (ck / "tokenizer").mkdir(parents=True)
    (ck / "model.safetensors").write_bytes(b"not a safetensors file")
    assert main(["--checkpoint", str(ck), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("tokcom.lexicon_probe: error:") for e in err)
    assert not (tmp_path / "o.csv").exists()


def test_answer_rows_cosine_reads_one_direction_as_near_1():
    tok = train_bpe([" ".join(ANSWER_WORDS)] * 3 + list(ANSWER_WORDS) * 3, vocab_size=300)
    e = torch.randn(len(tok), 16, generator=torch.Generator().manual_seed(0))
    assert abs(answer_rows_cosine(e, tok)) < 0.3                       # random rows: near 0
    e[:, 0] += 20.0                                                    # every row pushed one way
    assert answer_rows_cosine(e, tok) > 0.9


def test_answer_words_are_easy_vqas_answers():
    from tokcom.data import get_dataset
    assert sorted(ANSWER_WORDS) == get_dataset("easy_vqa", "test").answer_vocab()
