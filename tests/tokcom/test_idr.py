"""Instructional Diffusion Refinement: the two-stage prompt path with fake LLMs/generators."""
from __future__ import annotations

import doctest
import importlib.util
import sys
import types

import pytest

import tokcom.idr
from tokcom.idr import (IDR, REFINEMENT_TEMPLATE, IDRResult, clean_refined_prompt,
                        diffusers_generator)


class FakeLLM:
    """Records its prompts; answers stage 1 and stage 2 from two fixed strings."""

    def __init__(self, preliminary: str = "a cat", refined: str = "Refined prompt: A cat.") -> None:
        self.prompts: list[str] = []
        self.answers = [preliminary, refined]

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.answers[len(self.prompts) - 1]


# --------------------------------------------------------------------------- template

def test_template_follows_design_principles():
    t = REFINEMENT_TEMPLATE.lower()
    assert "core objective" in t
    assert "break" in t and "simple descriptions" in t
    assert "specific rather than abstract" in t
    for detail in ("number", "spatial arrangement", "attributes"):
        assert detail in t
    assert "intent and tone" in t


def test_template_slots_carry_instruction_and_preliminary():
    filled = REFINEMENT_TEMPLATE.format(instruction="INSTR {x}", preliminary="PRELIM")
    assert "INSTR {x}" in filled and "PRELIM" in filled  # braces in values are not re-parsed
    assert filled.index("INSTR") < filled.index("PRELIM")


def test_bad_template_rejected():
    with pytest.raises(ValueError, match="slots"):
        IDR(FakeLLM(), template="only {instruction}")
    with pytest.raises(ValueError, match="slots"):
        IDR(FakeLLM(), template="{instruction} {preliminary} {extra}")
    with pytest.raises(ValueError, match="malformed"):
        IDR(FakeLLM(), template="{instruction} {preliminary} {")
    with pytest.raises(TypeError):
        IDR("not callable")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- two stages

def test_two_stages_in_order_with_right_prompts():
    llm = FakeLLM(preliminary="  two apples on a table \n",
                  refined='"Two red apples, side by side."')
    idr = IDR(llm)
    res = idr.refine("Draw two apples.")
    assert len(llm.prompts) == 2
    assert llm.prompts[0] == "Draw two apples."  # stage 1: the user's instruction itself
    assert llm.prompts[1] == REFINEMENT_TEMPLATE.format(instruction="Draw two apples.",
                                                        preliminary="two apples on a table")
    assert llm.prompts[1] == idr.refinement_prompt("Draw two apples.", "two apples on a table")
    assert res == IDRResult("two apples on a table", "Two red apples, side by side.", None)


def test_custom_template():
    llm = FakeLLM(refined="better")
    res = IDR(llm, template="Improve [{preliminary}] for <{instruction}>:").refine("req")
    assert llm.prompts[1] == "Improve [a cat] for <req>:"
    assert res.refined == "better"


def test_call_without_generator_returns_no_output():
    res = IDR(FakeLLM())("draw a cat")
    assert res == IDRResult("a cat", "A cat.", None)


def test_image_generator_receives_refined_prompt():
    seen: list[str] = []

    def image_gen(prompt: str) -> dict:
        seen.append(prompt)
        return {"image_for": prompt}

    llm = FakeLLM(preliminary="a dog", refined="Refined prompt:\n  One brown  dog,\n sitting.")
    res = IDR(llm, image_generator=image_gen)("Draw a dog.")
    assert seen == ["One brown dog, sitting."]
    assert res.output == {"image_for": "One brown dog, sitting."}
    assert (res.preliminary, res.refined) == ("a dog", "One brown dog, sitting.")
    # refine() never calls the generator
    IDR(FakeLLM(), image_generator=image_gen).refine("x")
    assert len(seen) == 1


def test_fallback_to_preliminary_when_refinement_empty():
    for empty in ["", "   \n", "Refined prompt:", '""', "**Refined prompt**: ''"]:
        res = IDR(FakeLLM(preliminary=" a cat ", refined=empty)).refine("draw a cat")
        assert res.refined == "a cat", empty


def test_fallback_to_instruction_when_both_empty():
    seen = []
    res = IDR(FakeLLM(preliminary=" ", refined=""), image_generator=seen.append)("draw  a\ncat")
    assert res.preliminary == "" and res.refined == "draw a cat" and seen == ["draw a cat"]


def test_non_string_generation_rejected():
    with pytest.raises(TypeError, match="stage 1"):
        IDR(lambda p: None).refine("x")  # type: ignore[arg-type, return-value]


# --------------------------------------------------------------------------- post-processing

@pytest.mark.parametrize("raw, clean", [
    ("A red car.", "A red car."),
    ("Refined prompt: A red car.", "A red car."),
    ("refined PROMPT:\n\n  A red car.", "A red car."),
    ("**Refined Prompt**: A red car", "A red car"),
    ("Here is the refined prompt: A red car", "A red car"),
    ("Sure! Here's the improved prompt:\n\"A red car\"", "A red car"),
    ("Prompt - A red car", "A red car"),
    ("Sure, here it is. Refined prompt: A red car.", "A red car."),
    ('"A red car."', "A red car."),
    ("\u201cA red car.\u201d", "A red car."),
    ("'A red car.'", "A red car."),
    ('"A red car, cut off', "A red car, cut off"),
    ("'Refined prompt: \"A red car\"'", "A red car"),
    ("A  red\n\tcar\n", "A red car"),
    ('A sign that says "stop"', 'A sign that says "stop"'),    # inner quotes are content
    ("A prompt-looking sentence: fine", "A prompt-looking sentence: fine"),
    ("", ""),
    ('""', ""),
])
def test_clean_refined_prompt(raw, clean):
    assert clean_refined_prompt(raw) == clean


# --------------------------------------------------------------------------- diffusers

def test_diffusers_generator_missing_path(tmp_path):
    missing = tmp_path / "no-such-pipeline"
    with pytest.raises(FileNotFoundError, match="no-such-pipeline"):
        diffusers_generator(str(missing))


def test_diffusers_generator_import_error_message(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # makes `import diffusers` fail
    with pytest.raises(ImportError, match="needs the optional 'diffusers' package"):
        diffusers_generator(str(tmp_path))


def test_diffusers_generator_loads_local_only(tmp_path, monkeypatch):
    """Wiring check with a stand-in ``diffusers`` module (no real pipeline needed)."""
    calls: dict = {}

    class FakePipe:
        def to(self, device):
            calls["device"] = device
            return self

        def __call__(self, prompt, **kw):
            calls["call"] = (prompt, kw)
            return types.SimpleNamespace(images=[f"IMG({prompt})", "second"])

    class FakeDiffusionPipeline:
        @staticmethod
        def from_pretrained(path, **kw):
            calls["load"] = (path, kw)
            return FakePipe()

    monkeypatch.setitem(sys.modules, "diffusers",
                        types.SimpleNamespace(DiffusionPipeline=FakeDiffusionPipeline))
    gen = diffusers_generator(str(tmp_path), device="cpu", call_kwargs={"num_inference_steps": 2},
                              torch_dtype="float32")
    assert calls["load"] == (str(tmp_path), {"local_files_only": True, "torch_dtype": "float32"})
    assert calls["device"] == "cpu"
    assert gen("a cat") == "IMG(a cat)"
    assert calls["call"] == ("a cat", {"num_inference_steps": 2})
    res = IDR(FakeLLM(), image_generator=gen)("draw a cat")
    assert res.output == "IMG(A cat.)"


@pytest.mark.skipif(importlib.util.find_spec("diffusers") is None, reason="diffusers not installed")
def test_real_diffusers_empty_folder_is_not_fetched(tmp_path):
    """With the real library, an empty local folder fails locally instead of reaching a hub."""
    with pytest.raises(Exception):
        diffusers_generator(str(tmp_path))


def test_docstring_examples():
    assert doctest.testmod(tokcom.idr).failed == 0
