"""Instructional Diffusion Refinement (IDR, design III.D): two-stage prompt self-optimisation.

A diffusion model's CLIP-style text encoder captures high-level concepts but
not the fine-grained generation details (object counts, spatial arrangement,
attribute combinations) an LLM's plain answer leaves implicit. IDR closes this
"semantic gap" without retraining the diffusion model:

1. **Preliminary output.** The LLM answers the user's instruction for a
   non-text output: ``preliminary = generate(instruction)``.
2. **Prompt self-optimisation.** Instead of handing ``preliminary`` to the
   diffusion model, the LLM is run again on a preset, structured
   meta-instruction template (:data:`REFINEMENT_TEMPLATE`) carrying the
   instruction and the preliminary text: ``refined = generate(template)``.
   The template asks it to state the core objective clearly, break complex
   scenes into simple descriptions, be specific rather than abstract, and
   enrich key details while keeping the original intent and tone.

The refined prompt is cleaned up (labels such as ``Refined prompt:``,
surrounding quotes, whitespace) and, when an image generator is attached,
passed to it.

``generate`` is any ``str -> str`` callable (the TaiChi LLM's greedy
generation plugs in here); ``image_generator`` any ``str -> Any`` callable,
e.g. :func:`diffusers_generator` on a locally stored pipeline.

Example::

    >>> idr = IDR(generate=lambda p: "Refined prompt: \\"two red apples\\"" if "Draft" in p
    ...           else "apples", image_generator=len)
    >>> idr("draw two apples")
    IDRResult(preliminary='apples', refined='two red apples', output=14)
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

__all__ = ["REFINEMENT_TEMPLATE", "IDRResult", "IDR", "clean_refined_prompt",
           "diffusers_generator"]

#: The structured meta-instruction of stage 2; slots ``{instruction}`` and ``{preliminary}``.
REFINEMENT_TEMPLATE = """\
You are optimizing a prompt for a text-to-image diffusion model. Rewrite the draft description \
below into one improved generation prompt.

User request: {instruction}
Draft description: {preliminary}

Follow these principles:
1. State the core objective clearly: name the main subject and what the image must show first.
2. Break a complex scene into simple descriptions: describe one element at a time (main \
subject, secondary objects, background).
3. Use specific rather than abstract instructions: replace vague words (e.g., nice, some, \
many) with concrete, visible properties.
4. Enrich the key details: the exact number of each object, their spatial arrangement (left, \
right, foreground, background, on, under, next to), and their attributes (color, size, \
material, texture, pose, lighting, style).
5. Keep the original intent and tone of the request: do not add, remove or change objects, \
events or mood beyond what the request and the draft imply.

Answer with the refined prompt only, as one paragraph, without explanations.
Refined prompt:"""

_SLOTS = frozenset({"instruction", "preliminary"})

# A label the LLM may put before its answer: "Refined prompt:", "**Improved Prompt**:",
# "Here is the refined prompt:", "Prompt -", ...
_LABEL = re.compile(
    r"^\W*(?:sure[,.!]?\s*)?(?:here\s+is|here's)?\s*(?:the|a|your|my)?\s*"
    # ":" or a spaced " -" ends the label; "prompt-like ..." is content
    r"(?:refined|improved|optimi[sz]ed|final|rewritten|enhanced)?\s*prompt\W*?\s*(?::|\s-+)\s*",
    re.IGNORECASE)
_INLINE_LABEL = re.compile(r"refined\s+prompt\s*:", re.IGNORECASE)
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb*"


def clean_refined_prompt(text: str) -> str:
    """Post-process the LLM's stage-2 output into a bare diffusion prompt.

    Takes the text after an inline ``Refined prompt:`` label if present,
    strips a leading label (``Prompt:``, ``**Improved prompt**:``, ...) and
    surrounding quotes/emphasis marks, and collapses whitespace to single
    spaces. Returns ``""`` when nothing is left.

    >>> clean_refined_prompt('Refined prompt:\\n  "Two red  apples\\n on a table."')
    'Two red apples on a table.'
    """
    s = text
    m = None
    for m in _INLINE_LABEL.finditer(s):
        pass
    if m is not None:
        s = s[m.end():]  # the answer follows the last such label
    s = " ".join(s.split())
    prev = None
    while prev != s:  # labels and quotes can nest: '"Prompt: \'...\'"'
        prev = s
        s = _LABEL.sub("", s, count=1).strip()
        if len(s) >= 2 and s[0] in _QUOTES and s[-1] in _QUOTES and _pair(s[0]) & {s[-1]}:
            s = s[1:-1].strip()
            continue
        # unbalanced quotes (generation cut off, or left over from an inline label)
        if s and s[0] in _QUOTES and not _pair(s[0]) & set(s[1:]):
            s = s[1:].strip()
        if s and s[-1] in _QUOTES and not _pair(s[-1]) & set(s[:-1]):
            s = s[:-1].strip()
    return s


def _pair(q: str) -> set[str]:
    """A quote character and its counterpart (curly quotes come in open/close pairs)."""
    for a, b in ("\u201c\u201d", "\u2018\u2019", "\u00ab\u00bb"):
        if q in (a, b):
            return {a, b}
    return {q}


@dataclass(frozen=True)
class IDRResult:
    """The outcome of one IDR run.

    Attributes:
        preliminary: the stage-1 text (the LLM's direct answer, whitespace-trimmed).
        refined: the cleaned stage-2 prompt handed to the diffusion model.
        output: the image generator's result, or ``None`` without a generator
            (and always ``None`` from :meth:`IDR.refine`).
    """
    preliminary: str
    refined: str
    output: Any = None


def _template_slots(template: str) -> set[str]:
    try:
        return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ValueError(f"malformed refinement template: {exc}") from exc


class IDR:
    """Instructional Diffusion Refinement around a text generator.

    Args:
        generate: ``str -> str``; the LLM's (greedy) generation for a prompt.
        image_generator: optional ``str -> Any``; the diffusion model, called
            with the refined prompt by :meth:`__call__`.
        template: the stage-2 meta-instruction, a ``str.format`` template with
            exactly the slots ``{instruction}`` and ``{preliminary}`` (literal
            braces doubled).

    Fallbacks: an empty refinement (after cleaning) falls back to the
    preliminary text; if that is empty too, to the instruction itself, so the
    diffusion model always receives a non-empty prompt for a non-empty
    instruction.
    """

    def __init__(self, generate: Callable[[str], str],
                 image_generator: Callable[[str], Any] | None = None,
                 template: str = REFINEMENT_TEMPLATE) -> None:
        if not callable(generate):
            raise TypeError("generate must be a callable str -> str")
        if image_generator is not None and not callable(image_generator):
            raise TypeError("image_generator must be a callable str -> Any or None")
        slots = _template_slots(template)
        if slots != _SLOTS:
            raise ValueError(f"refinement template must have exactly the slots "
                             f"{{instruction}} and {{preliminary}}, found {sorted(slots)}")
        self.generate = generate
        self.image_generator = image_generator
        self.template = template

    def _generate(self, prompt: str, stage: str) -> str:
        out = self.generate(prompt)
        if not isinstance(out, str):
            raise TypeError(f"generate returned {type(out).__name__} in {stage}, expected str")
        return out

    def refinement_prompt(self, instruction: str, preliminary: str) -> str:
        """The stage-2 prompt: the template filled with the instruction and the preliminary text."""
        return self.template.format(instruction=instruction, preliminary=preliminary)

    def refine(self, instruction: str) -> IDRResult:
        """Run both stages and return the preliminary text and the cleaned refined prompt."""
        preliminary = self._generate(instruction, "stage 1").strip()
        raw = self._generate(self.refinement_prompt(instruction, preliminary), "stage 2")
        refined = clean_refined_prompt(raw) or preliminary or " ".join(instruction.split())
        return IDRResult(preliminary=preliminary, refined=refined)

    def __call__(self, instruction: str) -> IDRResult:
        """:meth:`refine`, then the image generator (if any) on the refined prompt."""
        res = self.refine(instruction)
        if self.image_generator is None:
            return res
        return IDRResult(res.preliminary, res.refined, self.image_generator(res.refined))


def diffusers_generator(local_path: str, *, device: str | None = None,
                        call_kwargs: dict[str, Any] | None = None,
                        **pipeline_kwargs: Any) -> Callable[[str], Any]:
    """A ``prompt -> image`` callable from a ``diffusers`` pipeline stored at a LOCAL path.

    The pipeline is loaded with ``DiffusionPipeline.from_pretrained(local_path,
    local_files_only=True, **pipeline_kwargs)``: a hub is never contacted.

    Args:
        local_path: folder of a saved pipeline (``model_index.json`` etc.).
        device: move the pipeline there (e.g. ``"cuda"``); default: leave it.
        call_kwargs: extra keyword arguments for every pipeline call
            (e.g. ``{"num_inference_steps": 25}``).
        **pipeline_kwargs: passed to ``from_pretrained`` (e.g. ``torch_dtype``).

    Returns:
        ``f(prompt) -> PIL.Image``: the first image of ``pipe(prompt).images``.

    Raises:
        FileNotFoundError: ``local_path`` does not exist.
        ImportError: ``diffusers`` is not installed.
    """
    path = Path(local_path)
    if not path.exists():
        raise FileNotFoundError(f"diffusion pipeline path does not exist: {str(path)!r} "
                                f"(only local pipelines are loaded, never from a hub)")
    try:
        from diffusers import DiffusionPipeline
    except ImportError as exc:
        raise ImportError("diffusers_generator needs the optional 'diffusers' package, which "
                          "is not installed (pip install diffusers); IDR's prompt refinement "
                          "works without it") from exc
    pipe = DiffusionPipeline.from_pretrained(str(path), local_files_only=True, **pipeline_kwargs)
    if device is not None:
        pipe = pipe.to(device)
    kwargs = dict(call_kwargs or {})

    def generate_image(prompt: str) -> Any:
        return pipe(prompt, **kwargs).images[0]

    return generate_image
