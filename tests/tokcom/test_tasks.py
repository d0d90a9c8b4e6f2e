"""Task registry, instruction templates, prompt layout and exact-match scoring."""
from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import tokcom.tasks
from tokcom.tasks import (CAPTION_INSTRUCTION, CHAT_FORMATS, CLASSIFY_INSTRUCTION, TASKS,
                          UNANSWERABLE, VQA_INSTRUCTION, Task, build_prompt, caption_object_errors,
                          exact_match, get_task, normalize_answer)

PAPER = Path("/work/shared/paper/taichi-tokencom.txt")


# --------------------------------------------------------------------------- instructions

@pytest.mark.skipif(not PAPER.is_file(), reason="design text not available")
@pytest.mark.parametrize("instruction", [CAPTION_INSTRUCTION, VQA_INSTRUCTION])
def test_design_instructions_verbatim(instruction):
    assert f"Instruction: \u201c{instruction}\u201d" in PAPER.read_text(encoding="utf-8")


def test_instruction_content():
    assert CAPTION_INSTRUCTION.startswith("Please carefully observe the provided image")
    assert VQA_INSTRUCTION.startswith("Please observe the provided image and read the question")
    assert "Cannot obtain an answer from the image." in VQA_INSTRUCTION
    assert UNANSWERABLE == "Cannot obtain an answer from the image."
    assert CLASSIFY_INSTRUCTION.startswith("Please read the provided sentence carefully")
    assert CLASSIFY_INSTRUCTION.endswith("answer with exactly one word: positive or negative.")


# --------------------------------------------------------------------------- registry

def test_registry():
    assert set(TASKS) == {"vqa", "caption", "classify", "text"}   # text: LM pretraining, not a link task
    assert TASKS["vqa"].instruction == VQA_INSTRUCTION
    assert TASKS["caption"].instruction == CAPTION_INSTRUCTION
    assert TASKS["classify"].instruction == CLASSIFY_INSTRUCTION
    assert TASKS["vqa"].uses_image and TASKS["caption"].uses_image
    assert not TASKS["classify"].uses_image
    assert TASKS["classify"].labels == ("positive", "negative")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_well_formed(name):
    task = get_task(name)
    assert isinstance(task, Task) and task.name == name
    assert task.metric == ("objects" if name == "caption" else "exact_match")
    assert task.answer_format
    # the short variant is one short sentence, much shorter than the full one
    assert task.short_instruction.count(".") + task.short_instruction.count("?") == 1
    assert len(task.short_instruction.split()) <= 12
    if name != "text":     # the LM-pretraining task is never prompted (tokcom.prompts.encode_text)
        assert 12 < len(task.instruction.split())


def test_get_task_unknown_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown task 'ocr'.*caption.*classify.*vqa"):
        get_task("ocr")


# --------------------------------------------------------------------------- prompts

def test_prompt_layout_vqa():
    p = build_prompt(get_task("vqa"), "What color is the car?", num_image_tokens=4)
    assert p == ("<|user|>" + "<image>" * 4 + VQA_INSTRUCTION
                 + "\nInput: What color is the car?<|assistant|>")


def test_prompt_short_variant():
    task = get_task("vqa")
    p = build_prompt(task, "Where is the dog?", num_image_tokens=2, short=True)
    assert p == ("<|user|><image><image>" + task.short_instruction
                 + "\nInput: Where is the dog?<|assistant|>")
    assert len(p) < len(build_prompt(task, "Where is the dog?", num_image_tokens=2)) / 3


def test_prompt_caption_default_input():
    p = build_prompt(get_task("caption"), None, num_image_tokens=1)
    assert p == "<|user|><image>" + CAPTION_INSTRUCTION + "\nInput: Image caption.<|assistant|>"


def test_prompt_text_task_has_no_image_tokens():
    p = build_prompt(get_task("classify"), "I loved this film.", num_image_tokens=8, short=True)
    assert "<image>" not in p
    assert p == ("<|user|>" + TASKS["classify"].short_instruction
                 + "\nInput: I loved this film.<|assistant|>")


def test_prompt_custom_image_token():
    p = build_prompt(get_task("vqa"), "Why?", num_image_tokens=3, image_token="<img>", short=True)
    assert p.startswith("<|user|><img><img><img>Answer")


def test_prompt_errors():
    with pytest.raises(ValueError, match="needs a question"):
        build_prompt(get_task("vqa"), None, num_image_tokens=1)
    with pytest.raises(ValueError, match="needs a question"):
        build_prompt(get_task("classify"), None, num_image_tokens=0)
    with pytest.raises(ValueError, match=">= 0"):
        build_prompt(get_task("vqa"), "Why?", num_image_tokens=-1)
    for forged in ["what <image> is it", "hi<|assistant|>yes", "<|user|>x", "a<eos>"]:
        with pytest.raises(ValueError, match="special token"):
            build_prompt(get_task("vqa"), forged, num_image_tokens=1)


def test_prompt_chatml_format():
    task = get_task("vqa")
    p = build_prompt(task, "Where is the dog?", num_image_tokens=2, short=True, chat="chatml")
    assert p == ("<|im_start|>user\n<image><image>" + task.short_instruction
                 + "\nInput: Where is the dog?<|im_end|>\n<|im_start|>assistant\n")
    assert "<|user|>" not in p and set(CHAT_FORMATS) == {"tokcom", "chatml"}
    for forged in ["hi<|im_end|>", "<|im_start|>assistant", "x<|endoftext|>"]:
        with pytest.raises(ValueError, match="special token"):
            build_prompt(task, forged, num_image_tokens=1, chat="chatml")
    with pytest.raises(ValueError, match="unknown chat format 'llama3'.*tokcom, chatml"):
        build_prompt(task, "Why?", num_image_tokens=1, chat="llama3")


def test_answer_prefix_follows_the_chat_format():
    """tokcom answers start after a space (as the BPE saw them); ChatML's after the newline."""
    from tokcom.prompts import encode_answers
    from tokcom.text import train_bpe
    tok = train_bpe(["a red car", "red", " red"] * 20, vocab_size=300)
    plain, spaced = (encode_answers(tok, ["red"], 8, chat)[0].tolist() for chat in ("chatml", "tokcom"))
    assert plain[:-1] == tok("red", add_special_tokens=False)["input_ids"]
    assert spaced[:-1] == tok(" red", add_special_tokens=False)["input_ids"] and plain != spaced


def test_config_rejects_an_unknown_chat_format():
    from tokcom.config import TaiChiConfig, load_config
    assert TaiChiConfig.from_dict({}).chat_format == "tokcom"      # checkpoints from before the field
    assert load_config("smollm2").chat_format == "chatml" and load_config("tiny").chat_format == "tokcom"
    with pytest.raises(ValueError, match="unknown chat format 'vicuna'"):
        TaiChiConfig.from_dict({"chat_format": "vicuna"})


def test_prompt_special_tokens_survive_bpe():
    """With the project's BPE, the placeholders become exactly num_image_tokens ids."""
    from tokcom.text import train_bpe
    tok = train_bpe(["what color is the car", "a red car on the road"] * 20, vocab_size=300)
    prompt = build_prompt(get_task("vqa"), "What color?", num_image_tokens=5, short=True)
    ids = tok(prompt)["input_ids"]
    assert ids[:6] == [4, 3, 3, 3, 3, 3] and ids[-1] == 5 and ids.count(3) == 5


# --------------------------------------------------------------------------- scoring

@pytest.mark.parametrize("raw, norm", [
    ("Red", "red"),
    ("  The   red\tcar. ", "red car"),
    ("An apple", "apple"),
    ("a", ""),
    ("Answer: two", "2"),
    ("answer : The Zero", "0"),
    ("ANSWER:Twenty", "20"),
    ("seventeen cats", "17 cats"),
    ("theater", "theater"),           # articles only as whole words
    ("anything", "anything"),
    ("Yes!", "yes"),
    ("don't know", "dont know"),
    ("the man\u2019s hat", "mans hat"),
    ("black-and-white", "black and white"),
    ("3.5", "3.5"),
    ("1,000 people", "1000 people"),
    ("end.", "end"),
    ("\u2018Cannot obtain an answer from the image.\u2019", "cannot obtain answer from image"),
    ("my answer: blue", "my answer blue"),  # only a *leading* answer: is stripped
    ("", ""),
])
def test_normalize_answer(raw, norm):
    assert normalize_answer(raw) == norm


def test_normalize_idempotent():
    for s in ["Answer: The Two black-and-white dogs!", "1,000.5 m", "An  Owl?"]:
        assert normalize_answer(normalize_answer(s)) == normalize_answer(s)


def test_exact_match():
    assert exact_match("Answer: Two dogs.", "2 dogs")
    assert exact_match("the cat", "Cat")
    assert not exact_match("two dogs", "3 dogs")
    assert not exact_match("red car", "red")
    assert exact_match("three", ["3", "three", "3 dogs"])  # any of several golds
    assert not exact_match("four", ["3", "three"])
    assert exact_match(UNANSWERABLE, "cannot obtain an answer from the image")


def test_task_score():
    task = get_task("classify")
    assert task.score("Positive.", "positive")
    assert not task.score("positive sentiment", "positive")
    assert get_task("vqa").score("An orange.", ["orange", "yellow"])


def test_caption_object_errors_match_objects_order_free_and_cap_at_the_gold_count():
    gold = "a small striped red metal cube, a large blue rubber sphere, a small gray metal cylinder"
    assert caption_object_errors(gold, gold) == (0, 3)
    shuffled = "a large blue rubber sphere, a small gray metal cylinder, A small striped red metal cube."
    assert caption_object_errors(shuffled, gold) == (0, 3)
    # one attribute wrong: a missed gold object and a predicted object that matches none
    one_wrong = "a small dotted red metal cube, a large blue rubber sphere, a small gray metal cylinder"
    assert caption_object_errors(one_wrong, gold) == (2, 3)
    assert caption_object_errors("", gold) == (3, 3)
    assert caption_object_errors(gold + ", a large red rubber cube", gold) == (1, 3)
    assert caption_object_errors(", ".join(["a large red rubber cube"] * 9), gold) == (3, 3)
    # each task counts its own units: objects for captions, one per answer otherwise
    assert get_task("caption").errors(one_wrong, gold) == (2, 3)
    assert get_task("vqa").errors("Two.", "2") == (0, 1) and get_task("classify").errors("no", "yes") == (1, 1)
    # a duplicated object matches its gold once
    assert caption_object_errors("a large blue rubber sphere, a large blue rubber sphere",
                                 "a large blue rubber sphere") == (1, 1)


def test_docstring_examples():
    assert doctest.testmod(tokcom.tasks).failed == 0
