"""Does a checkpoint's LM know the held-out sentiment words? ``python -m tokcom.lexicon_probe --checkpoint D``.

The synthetic sentiment ``test`` split uses adjectives that no labelled example holds
(:data:`tokcom.data.sentiment.UNSEEN_LEXICON`). A model can classify them only if its
representation of a word already carries the word's polarity. This probe asks the LM's input
embeddings (a word split into several tokens: the mean of its tokens' rows), with no training:
the direction from the mean of the *seen* negative adjectives to the mean of the *seen* positive
ones, and their midpoint, place each held-out adjective on one side. ``accuracy`` is the share
placed on its own polarity's side (0.5: the embeddings say nothing; 1.0: all placed right);
``tokens_per_word`` the mean number of tokens a held-out adjective takes.

``answer_rows_cosine``: the mean pairwise cosine similarity of the embedding rows of easy-VQA's
answer words as answers are written (:data:`ANSWER_WORDS`, no leading space; a word of several
tokens: the mean of its rows). With ``tiny``'s tied output head these rows are also the answers'
output vectors: near 1 they point one way, and the head can hardly tell *yes* from *no* (what
LM pretraining on text that never holds them does to them; README "Sentiment: unseen words").
Nothing of the checkpoint is changed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load_file

from .data.sentiment import SEEN_LEXICON, UNSEEN_LEXICON

__all__ = ["ANSWER_WORDS", "answer_rows_cosine", "main", "polarity_placement", "probe_checkpoint"]

#: easy-VQA's 13 answers (its ``answers.txt``)
ANSWER_WORDS = ("yes", "no", "circle", "rectangle", "triangle", "red", "green", "blue", "black",
                "gray", "teal", "brown", "yellow")


def _word_vectors(embeddings: torch.Tensor, tokenizer, words, prefix: str = " ") -> tuple[torch.Tensor, float]:
    rows, counts = [], []
    for w in words:
        ids = tokenizer(prefix + w, add_special_tokens=False)["input_ids"]
        rows.append(embeddings[ids].float().mean(0))
        counts.append(len(ids))
    return torch.stack(rows), sum(counts) / len(counts)


def polarity_placement(embeddings: torch.Tensor, tokenizer) -> dict:
    """``{"accuracy", "tokens_per_word", "num_words"}`` of the held-out adjectives placed by
    the seen adjectives' centroids (see the module docstring). ``embeddings`` (V, D)."""
    sp, _ = _word_vectors(embeddings, tokenizer, SEEN_LEXICON["pos"])
    sn, _ = _word_vectors(embeddings, tokenizer, SEEN_LEXICON["neg"])
    up, tp = _word_vectors(embeddings, tokenizer, UNSEEN_LEXICON["pos"])
    un, tn = _word_vectors(embeddings, tokenizer, UNSEEN_LEXICON["neg"])
    direction = sp.mean(0) - sn.mean(0)
    mid = (sp.mean(0) + sn.mean(0)) / 2
    right = int(((up - mid) @ direction > 0).sum()) + int(((un - mid) @ direction < 0).sum())
    n = len(up) + len(un)
    return {"accuracy": right / n, "tokens_per_word": (tp * len(up) + tn * len(un)) / n, "num_words": n}


def answer_rows_cosine(embeddings: torch.Tensor, tokenizer, words=ANSWER_WORDS) -> float:
    """Mean pairwise cosine similarity of the rows of ``words`` as answers are written (no
    leading space); see the module docstring."""
    v = torch.nn.functional.normalize(_word_vectors(embeddings, tokenizer, words, prefix="")[0], dim=1)
    n = len(v)
    return float(((v @ v.T).sum() - n) / (n * (n - 1)))


def probe_checkpoint(checkpoint: str | Path) -> dict:
    """The probe on a checkpoint folder (``model.safetensors`` + ``tokenizer/``)."""
    from .text import load_tokenizer
    ck = Path(checkpoint)
    weights, tok_dir = ck / "model.safetensors", ck / "tokenizer"
    for need in (weights, tok_dir):
        if not need.exists():
            raise FileNotFoundError(f"{need} not found (a TaiChi checkpoint folder has model.safetensors "
                                    "and tokenizer/)")
    try:
        state = load_file(str(weights))
    except Exception as exc:   # safetensors raises its own error types for a corrupted file
        raise ValueError(f"{weights}: cannot read: {exc}") from exc
    emb = [v for k, v in state.items() if k.endswith("embed_tokens.weight")]
    if len(emb) != 1:
        raise ValueError(f"{weights}: expected one embed_tokens.weight, found {len(emb)} (not a TaiChi LM "
                         "stored in full; presets on an external LM keep only LoRA adapters)")
    tok = load_tokenizer(tok_dir)
    return {"checkpoint": str(ck), **polarity_placement(emb[0], tok),
            "answer_rows_cosine": round(answer_rows_cosine(emb[0], tok), 4)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tokcom.lexicon_probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", nargs="+", required=True, metavar="DIR",
                   help="TaiChi checkpoint folders (one row each)")
    p.add_argument("--out", default="results/lexicon_probe.csv")
    ns = p.parse_args(argv)
    from simulations.results import write_table
    try:
        rows = [probe_checkpoint(ck) for ck in ns.checkpoint]
    except (ValueError, FileNotFoundError) as e:
        print(f"tokcom.lexicon_probe: error: {e}", file=sys.stderr)
        return 2
    df = pd.DataFrame(rows)
    out = write_table(df, ns.out)
    print(df.to_string(index=False))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
