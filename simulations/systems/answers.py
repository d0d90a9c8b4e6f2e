"""Systems that answer questions about examples of a dataset (VQA, classification).

:class:`AnswerSystem` holds what TaiChi, its variants and the DeepSC-family
baselines share behind the engine contract: examples are drawn uniformly
with replacement from the evaluation split by the batch's data generator;
the receiver's answers for every SNR point are scored by exact match after
:func:`tokcom.tasks.normalize_answer`. On CLEVR-style data, whose questions say
whether they need the high-resolution image (pattern questions), the
accuracy on those and on the rest is reported too (``accuracy_hr``,
``accuracy_lr``): the dual tokenizer's claim lives there. A subclass supplies
``collate`` (examples -> batch), ``transmit``, ``answers`` (channel output with
its leading dims flattened -> answer strings) and ``describe_system`` (what
identifies it in a results file beyond name, task and dataset).
"""
from __future__ import annotations

import abc
import hashlib
from pathlib import Path

import torch

from channels.base import ChannelOutput
from tokcom.tasks import exact_match, get_task

from ..system import Tally
from . import REPO

__all__ = ["AnswerSystem", "flatten_output", "file_sha", "checkpoint_label",
           "checkpoint_provenance", "eval_dataset", "evaluation_set"]

def checkpoint_label(path: str | Path) -> str:
    """A checkpoint path for results files: repository-relative when it lies in the repository,
    so that a results file is the same configuration in every clone (the SHA-256 names the weights)."""
    p = Path(path).resolve()
    try:
        return p.relative_to(REPO).as_posix()
    except ValueError:
        return str(p)


def eval_dataset(name: str, split: str, num_examples: int, root: str | None = None,
                 seed: int = 0):
    """An evaluation set by registry name with the sizes a sweep needs."""
    from tokcom.data import get_dataset
    if name == "clevr_gen":
        return get_dataset(name, split, num_images=num_examples, questions_per_image=1, seed=seed)
    if name == "clevr_caption":
        return get_dataset(name, split, num_images=num_examples, seed=seed)
    if name == "clevr_gen_cogent":
        return get_dataset("clevr_gen", split, num_images=num_examples, questions_per_image=1,
                           seed=seed, cogent="B")
    if name == "synthetic_sentiment":
        return get_dataset(name, split, num_examples=num_examples, seed=seed)
    if name.startswith("easy_vqa"):      # easy_vqa, easy_vqa_balanced, easy_vqa_yesno: fixed sizes
        return get_dataset(name, split)
    if root is None:
        raise ValueError(f"dataset {name!r} reads files you already have: pass --data-root")
    return get_dataset(name, split, root=root)


def evaluation_set(dataset: str | None, task: str | None, split: str, num_examples: int,
                   data_root: str | None, default_task: str = "vqa"):
    """``(name, dataset)``: ``dataset`` by name, or the default set of ``task`` (vqa: CLEVR-style,
    classify: synthetic sentiment); a ``task`` that the named set does not pose is refused."""
    name = dataset or {"classify": "synthetic_sentiment", "caption": "clevr_caption"}.get(
        task or default_task, "clevr_gen")
    ds = eval_dataset(name, split, num_examples, data_root)
    if task is not None and len(ds) and ds[0].task != task:
        raise ValueError(f"dataset {name!r} is a {ds[0].task!r} dataset, not {task!r}")
    return name, ds


def checkpoint_provenance(ck: Path, training: bool = True) -> dict:
    """What a results file records of the checkpoint it was measured with."""
    from tokcom.checkpoint import WEIGHTS, read_meta
    out = {"checkpoint": checkpoint_label(ck), "checkpoint_sha256": file_sha(ck / WEIGHTS)}
    if training:
        meta = read_meta(ck)
        out |= {"training_snr_policy": meta.get("snr_policy"), "trained_stage": meta.get("stage")}
    return out


def flatten_output(out: ChannelOutput) -> ChannelOutput:
    """Merge the leading (SNR, batch) dims of a channel output into one."""
    return ChannelOutput(*(t.reshape(-1, t.shape[-1]) if t.dim() == out.y.dim() else t
                           for t in (out.y, out.h, out.no, out.err_var)))


def file_sha(path: Path) -> str:
    """First 16 hex digits of the SHA-256 of a file (checkpoint provenance in results)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


class AnswerSystem(abc.ABC):
    """Base of the answer-producing systems (see module docstring).

    Args:
        dataset: a :class:`tokcom.data.ExampleDataset` of one task.
        dataset_name: its registry name (recorded in results).
        name: system name in the results.
        device: where batches live.
        describe_extra: provenance for the results sidecar (checkpoint, hashes).
    """

    def __init__(self, dataset, *, dataset_name: str, name: str,
                 device: torch.device | str = "cpu", describe_extra: dict | None = None) -> None:
        if len(dataset) == 0:
            raise ValueError("the evaluation dataset is empty")
        self.data = dataset
        self.name, self.dataset = name, dataset_name     # ``dataset``: the name in result rows
        first = dataset[0]
        self.task = first.task
        # CLEVR-style questions say whether they need the high-resolution image: report the
        # accuracy on those (``accuracy_hr``) and on the others (``accuracy_lr``) as well
        self.split_by_resolution = "needs_hr" in (first.meta or {}) and self.task == "vqa"
        self.metrics = ("accuracy", "accuracy_hr", "accuracy_lr") if self.split_by_resolution \
            else ("accuracy",)
        if get_task(self.task).metric == "objects":   # captions: objects first (exact ones are rare)
            self.metrics = ("object_accuracy", "accuracy")
        self.device = torch.device(device)
        self._extra = describe_extra or {}

    @abc.abstractmethod
    def collate(self, examples: list) -> dict:
        """Examples -> a batch (on ``self.device``) holding ``"answers"`` (the gold strings)."""

    @abc.abstractmethod
    def answers(self, out: ChannelOutput, batch: dict) -> list[str]:
        """Answers from a flattened channel output; may read only protocol facts of ``batch``."""

    def sample(self, batch_size: int, generator: torch.Generator) -> dict:
        idx = torch.randint(len(self.data), (batch_size,), generator=generator,
                            device=generator.device).tolist()
        examples = [self.data[i] for i in idx]
        batch = self.collate(examples)
        # scoring metadata; the receiver never reads it
        if self.split_by_resolution:
            batch["needs_hr"] = [bool(e.meta.get("needs_hr")) for e in examples]
        if any(e.meta.get("family") for e in examples):     # question family (CLEVR-style, easy-VQA)
            batch["family"] = [e.meta.get("family") or "" for e in examples]
        if any(e.meta.get("subfamily") for e in examples):  # finer kinds (easy-VQA yes/no)
            batch["subfamily"] = [e.meta.get("subfamily") or "" for e in examples]
        return batch

    def receive(self, out: ChannelOutput, batch: dict) -> list[list[str]]:
        """Answers per SNR point, from ``out`` and the receiver's weights."""
        text = self.answers(flatten_output(out), batch)
        b = out.y.shape[-2] if out.y.dim() > 1 else 1
        return [text[i * b:(i + 1) * b] for i in range(len(text) // b)]

    @abc.abstractmethod
    def describe_system(self) -> dict:
        """System-specific keys of :meth:`describe`."""

    def describe(self) -> dict:
        """Parameters that identify the system in a results file (JSON-serialisable)."""
        version = getattr(self.data, "version", None)     # a generator's question version
        return {"name": self.name, "task": self.task, "dataset": self.dataset,
                **({"dataset_version": version} if version is not None else {}),
                "eval_size": len(self.data), **self.describe_system(),
                **({"metrics": list(self.metrics)} if len(self.metrics) > 1 else {}),
                **self._extra}

    def score(self, estimate: list[list[str]], batch: dict) -> dict[str, Tally]:
        gold = batch["answers"]
        wrong = torch.tensor([[not exact_match(p, g) for p, g in zip(preds, gold)]
                              for preds in estimate], dtype=torch.long).reshape(len(estimate), len(gold))
        out = {"accuracy": Tally(wrong.sum(-1), len(gold), kind="accuracy")}
        task = get_task(self.task)
        if task.metric == "objects":
            # objects of one caption share its decoding: errors_sq makes the interval cluster-robust
            err = torch.tensor([[task.errors(p, g)[0] for p, g in zip(preds, gold)]
                                for preds in estimate], dtype=torch.long).reshape(len(estimate), len(gold))
            units = sum(task.errors(g, g)[1] for g in gold)
            return {"object_accuracy": Tally(err.sum(-1), units, kind="accuracy",
                                             errors_sq=(err ** 2).sum(-1)), **out}
        if self.split_by_resolution:
            hr = torch.tensor(batch["needs_hr"], dtype=torch.bool)
            out["accuracy_hr"] = Tally(wrong[:, hr].sum(-1), int(hr.sum()), kind="accuracy")
            out["accuracy_lr"] = Tally(wrong[:, ~hr].sum(-1), int((~hr).sum()), kind="accuracy")
        return out
