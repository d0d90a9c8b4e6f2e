"""The DeepSC-family baselines as systems of the sweep engine.

``--system deepsc | t-deepsc | u-deepsc | deepsc-vqa`` (models in
:mod:`tokcom.baselines`). ``t-deepsc`` is task-specific: it loads the
checkpoint trained for the evaluation dataset's task
(``checkpoints/baselines/t-deepsc-vqa`` or ``...-classify``); ``u-deepsc`` is
one checkpoint for both tasks. The transmitter sends the semantic features of
the question (and image) as ``symbols_per_sample`` complex symbols; the
receiver answers from the channel output alone (the task is known to both
ends by protocol).
"""
from __future__ import annotations

from pathlib import Path

import torch

from channels.base import ChannelOutput
from tokcom.checkpoint import load_checkpoint, read_meta

from . import DEEPSC_TASKS, repo_path
from .answers import AnswerSystem, checkpoint_provenance, evaluation_set

__all__ = ["DeepSCSystem", "build_deepsc_system", "BASELINE_CHECKPOINTS"]

BASELINE_CHECKPOINTS = repo_path("checkpoints/baselines")


class DeepSCSystem(AnswerSystem):
    """A trained :class:`tokcom.baselines.DeepSC` model over an evaluation dataset."""

    def __init__(self, model, tokenizer, dataset, *, dataset_name: str, name: str,
                 device: torch.device | str = "cpu", describe_extra: dict | None = None) -> None:
        super().__init__(dataset, dataset_name=dataset_name, name=name, device=device,
                         describe_extra=describe_extra)
        if self.task not in model.cfg.tasks:
            raise ValueError(f"{name} ({model.cfg.name}) serves tasks {model.cfg.tasks}, "
                             f"not the {self.task!r} dataset {dataset_name!r}")
        self.model = model.eval()
        self.tokenizer = tokenizer

    def collate(self, examples: list) -> dict:
        return self.model.collate(examples, self.tokenizer, self.device)

    @torch.no_grad()
    def transmit(self, batch: dict) -> torch.Tensor:
        return self.model.transmit(batch["text_ids"], batch["images"], self.task)

    @torch.no_grad()
    def answers(self, out: ChannelOutput, batch: dict | None = None) -> list[str]:
        return self.model.answer(out, self.task)

    def symbols_per_sample(self) -> int:
        return self.model.symbols_per_sample(self.task)

    def describe_system(self) -> dict:
        c = self.model.cfg
        return {"preset": c.name, "symbols_per_token": c.symbols_per_token[self.task],
                "tokens_per_sample": self.model.num_tokens(self.task),
                "decoder_noise_floor": getattr(self.model.channel_decoder, "noise_floor", None)}


def build_deepsc_system(name: str, *, checkpoint: str | None = None, dataset: str | None = None,
                        split: str = "test", num_examples: int = 500, data_root: str | None = None,
                        device: torch.device | str = "cpu", task: str | None = None) -> DeepSCSystem:
    """The registry entry of ``name`` (one of :data:`simulations.systems.DEEPSC_TASKS`)."""
    if name not in DEEPSC_TASKS:
        raise ValueError(f"unknown DeepSC system {name!r}; valid: {', '.join(DEEPSC_TASKS)}")
    serves = DEEPSC_TASKS[name]
    dataset, ds = evaluation_set(dataset, task, split, num_examples, data_root, default_task=serves[0])
    if ds[0].task not in serves:
        raise ValueError(f"system {name!r} serves {list(serves)}; dataset {dataset!r} is {ds[0].task!r}")
    if checkpoint is None:
        folder = f"t-deepsc-{ds[0].task}" if name == "t-deepsc" else name
        checkpoint = str(BASELINE_CHECKPOINTS / folder)
    ck = Path(checkpoint)
    if not (ck / "config.json").exists():
        raise ValueError(f"{name}: no trained checkpoint at {ck} (train it with python -m tokcom.train "
                         f"--preset {ck.name} --stages e2e --out {ck})")
    model, tok, _cfg = load_checkpoint(ck, device=device)
    meta = read_meta(ck)
    extra = {**checkpoint_provenance(ck), "train_steps": meta.get("steps"),
             "batch_size": meta.get("batch_size")}
    return DeepSCSystem(model, tok, ds, dataset_name=dataset, name=name, device=device,
                        describe_extra=extra)
