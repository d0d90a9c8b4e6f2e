"""Task registry and instruction templates (design V.A.2, SFT instruction format).

Every communication task is posed to the VLM as a natural-language instruction
plus an input, in one chat-like prompt::

    <|user|><image>...<image>{instruction}\\nInput: {question}<|assistant|>

(:func:`build_prompt`; the ``<image>`` placeholders, ``num_image_tokens`` of
them, are replaced by the projected visual tokens, and only image tasks have
them). The answer follows ``<|assistant|>`` and is scored by exact match after
:func:`normalize_answer`. Those two tags are the ``tokcom`` chat format (special tokens of the
project's BPE); a preset on a pretrained instruct LM names that LM's own turns instead
(``chat_format``, :data:`CHAT_FORMATS`: ``chatml`` for SmolLM2), as LLaVA keeps one conversation
template per LM.

Instructions
------------
``caption`` and ``vqa`` carry the design's SFT instructions **verbatim** (V.A.2);
``classify`` (binary sentiment of a sentence, a text-only task) has one written
in the same style. Each task also has a one-sentence ``short_instruction``:
the ``tiny`` CPU preset cannot afford ~100-token instructions in a prompt of a
few dozen positions, so it builds prompts with ``short=True``; the full-size
presets use the design's instructions (``short=False``, the default). Presets
name the variant explicitly (a ``short_instructions`` flag); nothing here
decides it for them.

Example::

    >>> task = get_task("vqa")
    >>> print(build_prompt(task, "How many dogs?", num_image_tokens=2, short=True))
    <|user|><image><image>Answer the question about the image in one or two words.
    Input: How many dogs?<|assistant|>
    >>> exact_match("Answer: Two dogs.", "2 dogs")
    True
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence

from tokcom.text.bpe import ASSISTANT_TOKEN, IMAGE_TOKEN, SPECIAL_TOKENS, USER_TOKEN

__all__ = ["CAPTION_INSTRUCTION", "VQA_INSTRUCTION", "CLASSIFY_INSTRUCTION", "UNANSWERABLE",
           "Task", "TASKS", "get_task", "build_prompt", "CHAT_FORMATS", "ChatFormat", "get_chat_format", "normalize_answer", "exact_match",
           "caption_object_errors"]

#: Image captioning instruction, verbatim from the design (V.A.2).
CAPTION_INSTRUCTION = (
    "Please carefully observe the provided image and identify the main elements, including the "
    "scene (e.g., indoor, outdoor, city, nature, etc.), key objects (e.g., animals, people, "
    "buildings, tools, etc.), and any actions or activities (e.g., running, eating, reading, "
    "etc.). Based on this information, generate a natural language description that covers the "
    "key details of the image. Ensure the description is fluent, grammatically correct, and "
    "avoids excessive speculation, only describing what can be clearly observed in the image."
)

#: The VQA answer for a question the image cannot answer (quoted in the VQA instruction).
UNANSWERABLE = "Cannot obtain an answer from the image."

#: VQA instruction, verbatim from the design (V.A.2), curly quotes included.
VQA_INSTRUCTION = (
    "Please observe the provided image and read the question carefully to understand its "
    "specific requirements. Based on the content of the image, answer the question, ensuring "
    "that the answer is based on clearly observable information. If the question involves "
    "specific details (e.g., quantity, color, location), provide precise answers. If the "
    "question cannot be answered based on the image, respond with: \u2018Cannot obtain an answer "
    "from the image.\u2019 Finally, provide a concise and clear answer that fully satisfies the "
    "requirement of the question."
)

#: Sentence sentiment classification instruction (not in the design; written in its style).
CLASSIFY_INSTRUCTION = (
    "Please read the provided sentence carefully and understand its overall meaning. Identify "
    "the words and phrases that express the writer's attitude or feelings (e.g., praise, "
    "complaint, enthusiasm, disappointment, etc.), and take negations and contrasts into account "
    "(e.g., not, never, but, although, etc.). Based on this information, decide whether the "
    "overall sentiment of the sentence is positive or negative, judging only from what is "
    "clearly expressed in the sentence and avoiding excessive speculation. Finally, answer with "
    "exactly one word: positive or negative."
)


# --------------------------------------------------------------------------- answers

_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_ARTICLES = frozenset({"a", "an", "the"})
_ANSWER_PREFIX = re.compile(r"^\s*answer\s*:\s*")
_APOSTROPHES = "'\u2019\u2018`\u02bc"
# a '.' or ',' between digits is part of a number (3.5, 1,000), not punctuation
_NUMBER_COMMA = re.compile(r"(?<=\d),(?=\d{3}\b)")
_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")
_DECIMAL_MARK = "\x00"


def _strip_punctuation(text: str) -> str:
    out = []
    for ch in text:
        if ch in _APOSTROPHES:
            continue  # don't -> dont, man's -> mans
        out.append(" " if unicodedata.category(ch).startswith("P") else ch)
    return "".join(out)


def normalize_answer(text: str) -> str:
    """Canonical form of an answer for exact-match scoring.

    In order: Unicode NFKC, lowercase, strip a leading ``answer:``, remove
    punctuation (apostrophes are deleted, other punctuation becomes a space;
    decimal points and thousands separators inside numbers are kept/removed so
    ``3.5`` stays and ``1,000`` becomes ``1000``), drop the articles
    ``a``/``an``/``the``, map the number words ``zero``..``twenty`` to digits,
    and collapse whitespace.

    >>> normalize_answer("Answer: The Two black-and-white dogs!")
    '2 black and white dogs'
    """
    s = unicodedata.normalize("NFKC", text).lower()
    s = _ANSWER_PREFIX.sub("", s, count=1)
    s = _NUMBER_COMMA.sub("", s)
    s = _DECIMAL_POINT.sub(_DECIMAL_MARK, s)
    s = _strip_punctuation(s).replace(_DECIMAL_MARK, ".")
    words = [_NUMBER_WORDS.get(w, w) for w in s.split() if w not in _ARTICLES]
    return " ".join(words)


def exact_match(pred: str, gold: str | Sequence[str]) -> bool:
    """Whether ``pred`` equals ``gold`` (or any of several golds) after :func:`normalize_answer`."""
    golds = [gold] if isinstance(gold, str) else list(gold)
    p = normalize_answer(pred)
    return any(p == normalize_answer(g) for g in golds)


def caption_object_errors(pred: str, gold: str) -> tuple[int, int]:
    """Object-level errors of a scene-graph caption: ``(errors, objects)``.

    Captions list objects separated by commas (``"a small striped red metal cube, a large ..."``,
    :func:`tokcom.data.clevr_gen.caption`). Each gold object phrase is matched at most once by an
    identical predicted phrase (after :func:`normalize_answer`, order free); ``errors`` = missed gold
    objects + predicted objects that match none (hallucinated or wrong in any attribute), capped at
    the number of gold objects, so ``1 - errors / objects`` lies in [0, 1].
    """
    from collections import Counter
    g = Counter(normalize_answer(x) for x in gold.split(",") if x.strip())
    p = Counter(normalize_answer(x) for x in pred.split(",") if x.strip())
    n_gold, matched = sum(g.values()), sum((g & p).values())
    return min(n_gold, (n_gold - matched) + (sum(p.values()) - matched)), n_gold


# --------------------------------------------------------------------------- tasks

@dataclass(frozen=True)
class Task:
    """One communication task: its instruction(s), modality and scoring.

    Attributes:
        name: the registry key.
        instruction: the full SFT instruction (the design's, verbatim, for
            ``caption`` and ``vqa``).
        short_instruction: a one-sentence variant for small prompt budgets.
        uses_image: whether the prompt carries ``<image>`` placeholders.
        answer_format: a human-readable description of the expected answer.
        normalize: answer normaliser applied to prediction and gold.
        metric: the score used for this task.
        default_input: the ``Input:`` text when no question is given (the
            design's captioning dialogue uses ``"Image caption."``); ``None``
            means an input is required.
        labels: the closed answer set of a classification task, else ``None``.
    """
    name: str
    instruction: str
    short_instruction: str
    uses_image: bool
    answer_format: str
    normalize: Callable[[str], str] = field(default=normalize_answer, repr=False)
    metric: Literal["exact_match", "objects"] = "exact_match"
    default_input: str | None = None
    labels: tuple[str, ...] | None = None

    def score(self, pred: str, gold: str | Sequence[str]) -> bool:
        """Exact match of ``pred`` against ``gold`` under this task's normaliser."""
        golds = [gold] if isinstance(gold, str) else list(gold)
        p = self.normalize(pred)
        return any(p == self.normalize(g) for g in golds)

    def errors(self, pred: str, gold: str) -> tuple[int, int]:
        """``(errors, units)`` of one answer under :attr:`metric`: exact match is one unit; the
        ``objects`` metric (captions) counts objects, :func:`caption_object_errors`."""
        if self.metric == "objects":
            return caption_object_errors(pred, gold)
        return int(not self.score(pred, gold)), 1


TASKS: dict[str, Task] = {
    "vqa": Task(
        name="vqa",
        instruction=VQA_INSTRUCTION,
        short_instruction="Answer the question about the image in one or two words.",
        uses_image=True,
        answer_format=f"a short phrase (a word, number or colour), or '{UNANSWERABLE}'",
    ),
    "caption": Task(
        name="caption",
        instruction=CAPTION_INSTRUCTION,
        short_instruction="Describe the image in one short sentence.",
        uses_image=True,
        answer_format="one descriptive sentence",
        metric="objects",
        default_input="Image caption.",
    ),
    "classify": Task(
        name="classify",
        instruction=CLASSIFY_INSTRUCTION,
        short_instruction="Is the sentiment of the sentence positive or negative?",
        uses_image=False,
        answer_format="exactly one word: positive or negative",
        labels=("positive", "negative"),
    ),
    # language-model pretraining on unlabelled text (tokcom.data.review_text): the answer is a
    # whole sentence, so the cross-entropy covers every token of it; not a task of the link
    "text": Task(
        name="text",
        instruction="Write one sentence of a film review.",
        short_instruction="Write one sentence of a film review.",
        uses_image=False,
        answer_format="one sentence",
        default_input="Film review.",
    ),
}


def get_task(name: str) -> Task:
    """The registered task ``name``; ``ValueError`` listing the valid names otherwise."""
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task {name!r}; valid tasks: {sorted(TASKS)}") from None


@dataclass(frozen=True)
class ChatFormat:
    """How a prompt's user turn is wrapped and how the answer begins.

    ``user`` + images + instruction + ``"\\nInput: "`` + question + ``assistant``; the answer
    target is ``answer_prefix`` + answer + eos. ``reserved``: strings a question may not contain
    (they would forge chat turns).
    """

    name: str
    user: str
    assistant: str
    answer_prefix: str
    reserved: tuple[str, ...]


#: ``tokcom``: the project's own tags (special tokens of the trained BPE; the ``tiny`` preset and
#: every checkpoint whose config names no format). ``chatml``: the ChatML turns that SmolLM2-Instruct
#: (and Qwen) were instruction-tuned with, so that a pretrained instruct LM sees its own template
#: (without the default system turn: the prompt length is a channel budget).
CHAT_FORMATS: dict[str, ChatFormat] = {
    "tokcom": ChatFormat("tokcom", USER_TOKEN, ASSISTANT_TOKEN, " ", tuple(SPECIAL_TOKENS)),
    "chatml": ChatFormat("chatml", "<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n", "",
                         ("<|im_start|>", "<|im_end|>", "<|endoftext|>")),
}


def get_chat_format(name: str) -> ChatFormat:
    if name not in CHAT_FORMATS:
        raise ValueError(f"unknown chat format {name!r}; valid: {', '.join(CHAT_FORMATS)}")
    return CHAT_FORMATS[name]


def build_prompt(task: Task, question: str | None, *, num_image_tokens: int,
                 image_token: str = IMAGE_TOKEN, short: bool = False, chat: str = "tokcom") -> str:
    """The chat-like SFT prompt for ``task`` (the answer is generated after it).

    Layout (``chat="tokcom"``): ``<|user|>`` + ``num_image_tokens`` x ``image_token`` (image tasks
    only) + instruction + ``"\\nInput: "`` + question + ``<|assistant|>``; other formats
    (:data:`CHAT_FORMATS`) replace the two tags.

    Args:
        task: the task (see :data:`TASKS`).
        question: the ``Input:`` text (the VQA question, the sentence to
            classify); ``None`` uses ``task.default_input`` (captioning).
        num_image_tokens: how many image placeholders to insert (the number of
            visual tokens after compression); ignored for text-only tasks.
        image_token: the placeholder string.
        short: use ``task.short_instruction`` (the ``tiny`` preset) instead of
            the full instruction.
        chat: the chat format's name (:data:`CHAT_FORMATS`).

    Raises:
        ValueError: no question for a task that needs one, a negative
            ``num_image_tokens``, or a question containing a special token
            (it would forge image slots or chat turns).
    """
    if num_image_tokens < 0:
        raise ValueError(f"num_image_tokens must be >= 0, got {num_image_tokens}")
    if question is None:
        if task.default_input is None:
            raise ValueError(f"task {task.name!r} needs a question/input text")
        question = task.default_input
    fmt = get_chat_format(chat)
    for special in (*fmt.reserved, image_token):
        if special in question:
            raise ValueError(f"question contains the special token {special!r}: {question!r}")
    image = image_token * num_image_tokens if task.uses_image else ""
    instruction = task.short_instruction if short else task.instruction
    return f"{fmt.user}{image}{instruction}\nInput: {question}{fmt.assistant}"
