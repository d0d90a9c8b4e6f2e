"""The text corpus the ``tiny`` preset's BPE tokenizer is trained on (all generated offline).

Instruction templates (full and short), CLEVR-style training questions,
answers and captions, synthetic sentiment training sentences, ``num_reviews``
unlabelled review sentences (:mod:`tokcom.data.review_text`, the text of an LM
pretraining stage; ``tokcom.train`` asks for 3000 when a stage's mixture holds
``review_text``, none otherwise, and only then the ``text`` task's instruction) and, when the
``easy-vqa`` package is installed, easy-VQA training questions. Deterministic:
the same installed packages give the same corpus and so the same vocabulary
(the trained tokenizer is saved with every checkpoint anyway).
"""
from __future__ import annotations

from .data import get_dataset
from .tasks import TASKS

__all__ = ["default_corpus"]


def default_corpus(num_images: int = 1500, num_sentences: int = 3000, num_reviews: int = 0) -> list[str]:
    texts: list[str] = []
    for t in TASKS.values():
        if t.name == "text" and not num_reviews:
            continue
        texts += [t.instruction, t.short_instruction] + list(t.labels or [])
    vqa = get_dataset("clevr_gen", "train", num_images=num_images, questions_per_image=3)
    texts += [q for i in range(num_images) for q, _a, _f in vqa.questions(i)] + vqa.answers()
    cap = get_dataset("clevr_gen", "train", num_images=num_images // 3, task="caption")
    texts += cap.answers()
    sent = get_dataset("synthetic_sentiment", "train", num_examples=num_sentences)
    texts += [sent[i].question for i in range(len(sent))]
    if num_reviews:
        texts += get_dataset("review_text", "train", num_examples=num_reviews).answers()
    try:
        easy = get_dataset("easy_vqa", "train")
        texts += easy.question_texts()[:5000] + easy.answer_vocab()
    except (FileNotFoundError, ImportError):
        pass
    return texts

