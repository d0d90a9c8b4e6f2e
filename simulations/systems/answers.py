"""Systems that answer questions about examples of a dataset (VQA, classification).

:class:`AnswerSystem` holds what TaiChi, its variants and the DeepSC-family
baselines share behind the engine contract: examples are drawn uniformly
with replacement from the evaluation split by the batch's data generator;
the receiver's answers for every SNR point are scored by exact match after
:func:`tokcom.tasks.normalize_answer`. A subclass supplies ``collate``
(examples -> batch), ``transmit`` and ``answers`` (channel output with its
leading dims flattened -> answer strings).
"""
from __future__ import annotations

import abc
import hashlib
from pathlib import Path

import torch

from channels.base import ChannelOutput
from tokcom.tasks import exact_match

from ..system import Tally

__all__ = ["AnswerSystem", "flatten_output", "file_sha"]


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

    metrics = ("accuracy",)

    def __init__(self, dataset, *, dataset_name: str, name: str,
                 device: torch.device | str = "cpu", describe_extra: dict | None = None) -> None:
        if len(dataset) == 0:
            raise ValueError("the evaluation dataset is empty")
        self.data = dataset
        self.name, self.dataset = name, dataset_name     # ``dataset``: the name in result rows
        self.task = dataset[0].task
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
        return self.collate([self.data[i] for i in idx])

    def receive(self, out: ChannelOutput, batch: dict) -> list[list[str]]:
        """Answers per SNR point, from ``out`` and the receiver's weights."""
        text = self.answers(flatten_output(out), batch)
        b = out.y.shape[-2] if out.y.dim() > 1 else 1
        return [text[i * b:(i + 1) * b] for i in range(len(text) // b)]

    def score(self, estimate: list[list[str]], batch: dict) -> dict[str, Tally]:
        gold = batch["answers"]
        wrong = [sum(not exact_match(p, g) for p, g in zip(preds, gold)) for preds in estimate]
        return {"accuracy": Tally(torch.tensor(wrong), len(gold), kind="accuracy")}
